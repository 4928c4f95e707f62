"""Top-k recommendation on MovieLens: skmetric's CML against implicit and LightFM.

Data: ``recommendation/movielens.npz`` of the shared data folder (the 2016
ml-latest-small release: 100 004 ratings of 671 users on 9066 movies); ratings
>= 4 are the positives (each (user, movie) pair once), the rest is dropped.
Item features: the 20 genre indicators and a one-hot of the release decade
(unknown year: a column of its own), the same matrix for every method that
takes features.

Protocols (skmetric.recommend's splitters, seed 0):

- ``random``: each user's random 20% of positives held out (UserRandomSplit);
- ``time``: each user's latest 20% by timestamp held out (UserTimeSplit).

Every method ranks all items for every user with a held-out positive, its
training items excluded, ties broken by the smaller item id (top_k_items; CML
through its own ``recommend``); scores: recall@10, NDCG@10, precision@10 and
catalogue coverage@10 (skmetric.recommend's metrics, definitions in their
docstrings), over every test user.

Methods, each on 2 threads, each after one untimed warm-up fit in its process:
popularity and item-kNN (cosine similarity of the items' user vectors, summed
over the user's items) written here in NumPy/SciPy; implicit's ALS and BPR and
LightFM's WARP in their virtualenv (``python -m benchmarks.setup_peers --envs
recommend``); skmetric's CollaborativeMetricLearning. "Defaults" are each
library's own defaults with 64 factors, and for LightFM the WARP loss for 30
epochs (:mod:`benchmarks._rec_worker`).

Tuning: the same budget for every method with hyper-parameters, ``--budget``
configurations (the defaults and ``budget - 1`` drawn from the method's grid
below, seed 0), each fitted on the training part less a validation part carved
from it by the same protocol (each user's random or latest 20% of their
training positives), chosen by validation recall@10, then refitted on the
whole training part and scored on the test part.

Cold start: 10% of the items with a positive (seed 0) held out with all their
ratings; every method trains on the other items' positives and ranks, for each
user with a positive on a held-out item, the held-out items only; recall@10
and NDCG@10 among them. CML with item features against a per-user
genre-popularity baseline (the cosine between the user's genre profile, summed
over their training positives, and the item's genres) and LightFM with item
features (the features alone, and ids + features).

Fit times: the median of ``--repeats`` timed default fits (1 in --quick).

    python -m benchmarks.bench_recommend [--quick] [--no-peers] [--budget 6]
        [--repeats 3] [--timeout 600] [--parts random,time,cold] [--save PATH]
    python -m benchmarks.bench_recommend --load PATH [PATH ...]
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info, threadpool_limits

from benchmarks._data import data_dir
from benchmarks._harness import library_versions
from benchmarks._rec_peers import fit_rec_peer
from skmetric.recommend import (
    UserRandomSplit,
    UserTimeSplit,
    coverage,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    top_k_items,
)

K = 10
N_THREADS = 2
PROTOCOLS = {"random": "each user's random 20%", "time": "each user's latest 20%"}
PEERS = {"implicit ALS": "implicit.ALS", "implicit BPR": "implicit.BPR",
         "LightFM WARP": "lightfm.WARP"}
CML = "skmetric CML"
METHODS = ("popularity", "item-kNN", *PEERS, CML)
# Grids the tuning draws from (the defaults are always one of the candidates).
GRIDS = {
    "item-kNN": {"n_neighbors": [10, 20, 50, 100, 200, 400, None]},
    "implicit ALS": {"factors": [32, 64, 128],
                     "regularization": [0.001, 0.01, 0.1, 1.0],
                     "alpha": [1.0, 5.0, 10.0, 40.0], "iterations": [15, 30]},
    "implicit BPR": {"factors": [32, 64, 128],
                     "learning_rate": [0.005, 0.01, 0.05, 0.1],
                     "regularization": [0.0001, 0.001, 0.01, 0.1],
                     "iterations": [100, 200, 400]},
    "LightFM WARP": {"no_components": [32, 64, 128],
                     "learning_rate": [0.01, 0.05, 0.1],
                     "item_alpha": [0.0, 1e-6, 1e-5], "user_alpha": [0.0, 1e-6, 1e-5],
                     "max_sampled": [10, 30], "epochs": [15, 30, 60]},
    CML: {"n_components": [32, 64, 128], "margin": [0.25, 0.5, 1.0],
          "learning_rate": [0.03, 0.1, 0.3], "n_negatives": [10, 20, 50],
          "covariance_weight": [0.0, 1.0, 10.0], "max_iter": [30, 60]},
}
QUICK_USERS = 60  # --quick: the first users only (all items stay)


# ----------------------------------------------------------------------------- data
def load_movielens(max_users=None):
    """Positives (rating >= 4) of MovieLens, their timestamps and item features.

    Returns a dict: ``X`` int64 (n, 2) (user, item), ``times`` int64, ``n_users``,
    ``n_items``, ``item_features`` float64 (n_items, 20 genres + decades),
    ``genres`` bool (n_items, 20). ``max_users`` keeps users ``0..max_users-1``.
    """
    with np.load(data_dir() / "recommendation" / "movielens.npz",
                 allow_pickle=False) as data:
        user, item = data["user"], data["item"]
        rating, times = data["rating"], data["timestamp"]
        genres = data["item_genres"].astype(bool)
        year = data["item_year"].astype(np.float64)
    keep = rating >= 4.0
    if max_users is not None:
        keep &= user < max_users
    X = np.column_stack([user[keep], item[keep]]).astype(np.int64)
    n_users = int(user.max()) + 1 if max_users is None else max_users
    decade = np.where(np.isnan(year), -1, np.floor(np.nan_to_num(year) / 10) * 10)
    decades = np.unique(decade)
    features = np.hstack([genres, decade[:, None] == decades[None, :]])
    return {"X": X, "times": times[keep].astype(np.int64), "n_users": n_users,
            "n_items": genres.shape[0], "item_features": features.astype(np.float64),
            "genres": genres}


def protocol_split(protocol, X, times):
    """``(train, test)`` row indices of X under a protocol."""
    if protocol == "random":
        return next(UserRandomSplit(0.2, n_splits=1, random_state=0).split(X))
    return next(UserTimeSplit(0.2).split(X, groups=times))


def cold_start_split(X, n_items, fraction=0.1, seed=0):
    """Rows of X on the warm items, rows on the cold items, the cold items."""
    rated = np.unique(X[:, 1])
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(rated, int(round(fraction * rated.shape[0])),
                              replace=False))
    on_cold = np.isin(X[:, 1], cold)
    return np.flatnonzero(~on_cold), np.flatnonzero(on_cold), cold


# ----------------------------------------------------------------------- baselines
def _user_items(X, n_users, n_items):
    return sp.csr_matrix((np.ones(X.shape[0]), (X[:, 0], X[:, 1])),
                         shape=(n_users, n_items))


class Popularity:
    """Items ranked by their number of training positives, the same for all."""

    def fit(self, X, n_users, n_items):
        self.counts_ = np.bincount(X[:, 1], minlength=n_items).astype(np.float64)
        return self

    def scores(self, users):
        return np.broadcast_to(self.counts_, (len(users), self.counts_.shape[0]))


class ItemKNN:
    """Cosine item-kNN: ``score(u, j) = sum_{i in u} cos(i, j)`` over the
    ``n_neighbors`` most similar items of each i (None: all of them), the
    cosine being that of the items' binary user vectors."""

    def __init__(self, n_neighbors=None):
        self.n_neighbors = n_neighbors

    def fit(self, X, n_users, n_items):
        R = _user_items(X, n_users, n_items)
        norms = np.sqrt(np.asarray(R.sum(axis=0)).ravel())
        A = R @ sp.diags(1.0 / np.maximum(norms, 1e-12))
        S = (A.T @ A).tocsr()
        S.setdiag(0.0)
        S.eliminate_zeros()
        if self.n_neighbors is not None:
            S = _keep_top(S, self.n_neighbors)
        self.R_, self.S_ = R, S
        return self

    def scores(self, users):
        return np.asarray((self.R_[users] @ self.S_).todense())


def _keep_top(S, n_neighbors):
    """Keep the ``n_neighbors`` largest entries of each row of a CSR matrix."""
    S = S.tocsr(copy=True)
    for row in range(S.shape[0]):
        start, stop = S.indptr[row], S.indptr[row + 1]
        if stop - start > n_neighbors:
            values = S.data[start:stop]
            cut = np.argpartition(-values, n_neighbors)[n_neighbors:]
            values[cut] = 0.0
    S.eliminate_zeros()
    return S


def genre_popularity_scores(X_train, genres, users, items):
    """Cosine between each user's genre profile and each item's genres."""
    n_users = int(max(users.max(), X_train[:, 0].max())) + 1
    profile = np.zeros((n_users, genres.shape[1]))
    np.add.at(profile, X_train[:, 0], genres[X_train[:, 1]].astype(np.float64))
    P = profile[users]
    G = genres[items].astype(np.float64)
    P = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    G = G / np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-12)
    return P @ G.T


# ------------------------------------------------------------------- fitting
def _threads_in_process():
    pools = {}
    for pool in threadpool_info():
        pools[pool["user_api"]] = max(pools.get(pool["user_api"], 0),
                                      pool["num_threads"])
    return pools


def _cml(params, item_features=None):
    from skmetric.recommend import CollaborativeMetricLearning

    return CollaborativeMetricLearning(random_state=0, n_jobs=N_THREADS,
                                       item_features=item_features, **params)


class _Fitted:
    """One fitted method: ``recommend(users, exclude)`` and ``scores(users)``."""

    def __init__(self, scores=None, estimator=None):
        self._scores, self.estimator = scores, estimator

    def scores(self, users):
        if self.estimator is not None:
            P = self.estimator.user_embeddings_[users]
            Q = self.estimator.item_embeddings_
            return -(np.sum(P**2, axis=1)[:, None] - 2 * P @ Q.T
                     + np.sum(Q**2, axis=1)[None, :])
        return self._scores(users)

    def recommend(self, users, exclude):
        if self.estimator is not None:
            return self.estimator.recommend(users, n=K, exclude_seen=True)
        return top_k_items(self.scores(users), K, exclude=exclude, users=users)


def fit_local(method, X, n_users, n_items, params, item_features=None, repeats=1):
    """Fit an in-process method ``repeats`` times (after one warm-up fit);
    return (fitted, fit times, converged, warnings, threads, CPU seconds of the
    first fit)."""
    if method == "popularity":
        make = Popularity
    elif method == "item-kNN":
        make = lambda: ItemKNN(**params)  # noqa: E731
    else:
        make = lambda: _cml(params, item_features)  # noqa: E731
    times, fitted, caught, cpu = [], None, [], None
    for attempt in range(repeats):
        model = make()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with threadpool_limits(limits=N_THREADS, user_api="blas"):
                start, start_cpu = time.perf_counter(), time.process_time()
                if method == CML:
                    model.fit(X)
                else:
                    model.fit(X, n_users, n_items)
                times.append(time.perf_counter() - start)
                cpu = time.process_time() - start_cpu if cpu is None else cpu
        if fitted is None:
            fitted = (_Fitted(estimator=model) if method == CML
                      else _Fitted(scores=model.scores))
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    converged = (not any("Convergence" in m for m in messages)) if method == CML \
        else None
    return fitted, times, converged, messages, _threads_in_process(), cpu


_WARMED = set()
WARMUP_ROWS = 1000


def warm_up(method, data):
    """One untimed fit on a small slice, once per process, as each peer's
    worker makes one before its timed fits (imports, numba compilation)."""
    if method not in (CML, "item-kNN", "popularity") or method in _WARMED:
        return  # the peers' workers warm up themselves
    X = data["X"][: min(WARMUP_ROWS, data["X"].shape[0])]
    try:
        fit_local(method, X, data["n_users"], data["n_items"], {})
        if method == CML:
            fit_local(method, X, data["n_users"], data["n_items"], {},
                      item_features=data["item_features"])
    except ImportError:
        return  # reported by the timed fit
    _WARMED.add(method)


def fit_peer(method, parts, n_users, n_items, params_list, data, timeout,
             item_features=None):
    """Fit a peer on several training parts (one process); return per part
    (fitted or None, fit_time, status, extra)."""
    warm = (data["X"][: min(WARMUP_ROWS, data["X"].shape[0])], n_users, n_items,
            item_features)
    jobs = [(X, n_users, n_items, item_features, params)
            for X, params in zip(parts, params_list)]
    out = []
    for result in fit_rec_peer(PEERS[method], jobs, n_threads=N_THREADS,
                               warmup=warm, timeout=timeout):
        fitted = None
        if result["status"] == "ok":
            U, V = result["user_factors"], result["item_factors"]
            fitted = _Fitted(scores=lambda users, U=U, V=V: U[users] @ V.T)
        out.append((fitted, result["fit_time"], result["status"], result))
    return out


# --------------------------------------------------------------------- scoring
def score_lists(recommended, X_test, users, n_items):
    return {
        "recall_at_10": recall_at_k(X_test, recommended, users=users, k=K),
        "ndcg_at_10": ndcg_at_k(X_test, recommended, users=users, k=K),
        "precision_at_10": precision_at_k(X_test, recommended, users=users, k=K),
        "coverage_at_10": coverage(recommended, n_items, k=K),
    }


def evaluate(fitted, X_train, X_test, n_items):
    users = np.unique(X_test[:, 0])
    return score_lists(fitted.recommend(users, X_train), X_test, users, n_items)


def configurations(method, budget, seed=0):
    """The defaults ({}) and ``budget - 1`` distinct draws from the grid."""
    if method not in GRIDS or budget <= 1:
        return [{}]
    grid = GRIDS[method]
    rng = np.random.default_rng(seed)
    configs, seen = [{}], set()
    for _ in range(1000):
        if len(configs) == budget:
            break
        config = {name: values[rng.integers(len(values))]
                  for name, values in grid.items()}
        key = tuple(sorted(config.items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs


def _fit_many(method, parts, params_list, data, timeout, repeats=1):
    """Fit ``method`` on each (X, params); return [(fitted, [times], status,
    converged, threads, version, cpu seconds)]."""
    n_users, n_items = data["n_users"], data["n_items"]
    if method in PEERS:
        expanded_parts, expanded_params = [], []
        for X, params in zip(parts, params_list):
            expanded_parts += [X] * repeats
            expanded_params += [params] * repeats
        results = fit_peer(method, expanded_parts, n_users, n_items,
                           expanded_params, data, timeout)
        out = []
        for i in range(0, len(results), repeats):
            group = results[i:i + repeats]
            fitted, _, status, raw = group[0]
            times = [g[1] for g in group if g[1] is not None]
            extra = raw.get("extra", {})
            out.append((fitted, times, status if status == "ok"
                        else f"{status}: {raw['reason']}", None,
                        extra.get("threads", {}), raw.get("version"),
                        extra.get("cpu_time")))
        return out
    out = []
    for X, params in zip(parts, params_list):
        try:
            fitted, times, converged, _, threads, cpu = fit_local(
                method, X, n_users, n_items, params, repeats=repeats)
            out.append((fitted, times, "ok", converged, threads, None, cpu))
        except ImportError as exc:
            out.append((None, [], f"missing: {exc}", None, {}, None, None))
    return out


def _thread_note(method, threads):
    if method in PEERS:
        return N_THREADS
    if method == CML:
        return N_THREADS
    return f"BLAS {threads.get('blas', '?')}"


def protocol_records(protocol, data, *, budget, repeats, peers, timeout,
                     tune=True):
    """Records of every method under one protocol, at defaults and tuned."""
    X, times = data["X"], data["times"]
    train, test = protocol_split(protocol, X, times)
    X_train, X_test = X[train], X[test]
    sub, val = protocol_split(protocol, X_train, times[train])
    X_sub, X_val = X_train[sub], X_train[val]
    records = []
    for method in METHODS:
        if method in PEERS and not peers:
            continue
        warm_up(method, data)
        configs = configurations(method, budget) if tune else [{}]
        best, chosen_score = {}, None
        if len(configs) > 1:
            tuned = _fit_many(method, [X_sub] * len(configs), configs, data, timeout)
            val_scores = []
            for config, (fitted, _, status, *_rest) in zip(configs, tuned):
                value = (evaluate(fitted, X_sub, X_val, data["n_items"])
                         ["recall_at_10"] if fitted is not None else -np.inf)
                val_scores.append(value)
            chosen = int(np.argmax(val_scores))
            best, chosen_score = configs[chosen], val_scores[chosen]
        settings = [("defaults", {}, repeats)]
        if tune:
            settings.append(("tuned", best, 1))
        for setting, params, n_repeats in settings:
            if setting == "tuned" and not params and records and \
                    records[-1]["method"] == method:
                # the defaults won the tuning: the same fit
                records.append({**records[-1], "setting": "tuned",
                                "validation_recall_at_10": chosen_score})
                continue
            (fitted, fit_times, status, converged, threads, version, cpu), = _fit_many(
                method, [X_train], [params], data, timeout, repeats=n_repeats)
            record = {"dataset": f"movielens ({PROTOCOLS[protocol]})",
                      "protocol": protocol, "method": method, "setting": setting,
                      "params": params, "status": status, "converged": converged,
                      "fit_time": float(np.median(fit_times)) if fit_times else None,
                      "fit_times": fit_times, "cpu_time": cpu,
                      "threads": _thread_note(method, threads),
                      "version": version, "n_train": int(X_train.shape[0]),
                      "n_test": int(X_test.shape[0]),
                      "validation_recall_at_10": chosen_score if setting == "tuned"
                      else None}
            if fitted is not None:
                record.update(evaluate(fitted, X_train, X_test, data["n_items"]))
            records.append(record)
    return records


def cold_start_records(data, *, peers, timeout):
    """Recall@10 and NDCG@10 among held-out items, for their raters."""
    X, n_users, n_items = data["X"], data["n_users"], data["n_items"]
    warm_rows, cold_rows, cold = cold_start_split(X, n_items)
    X_train, X_test = X[warm_rows], X[cold_rows]
    users = np.unique(X_test[:, 0])
    position = np.full(n_items, -1)
    position[cold] = np.arange(cold.shape[0])
    X_test_local = np.column_stack([X_test[:, 0], position[X_test[:, 1]]])
    features = data["item_features"]
    methods = [("genre popularity", None), (CML + " + features", None)]
    if peers:
        methods += [("LightFM WARP + features", {"features": "metadata"}),
                    ("LightFM WARP + ids + features", {"features": "ids+metadata"})]
    records = []
    for name, params in methods:
        start = time.perf_counter()
        status, fit_time, scores = "ok", None, None
        if name == "genre popularity":
            scores = genre_popularity_scores(X_train, data["genres"], users, cold)
            fit_time = time.perf_counter() - start
        elif name.startswith(CML):
            try:
                warm_up(CML, data)
                fitted, times, *_ = fit_local(CML, X_train, n_users, n_items, {},
                                              item_features=features)
                scores, fit_time = fitted.scores(users)[:, cold], times[0]
            except ImportError as exc:
                status = f"missing: {exc}"
        else:
            result, = fit_peer("LightFM WARP", [X_train], n_users, n_items,
                               [params], data, timeout, item_features=features)
            fitted, fit_time, status, raw = result
            if fitted is None:
                status = f"{status}: {raw['reason']}"
            else:
                scores = fitted.scores(users)[:, cold]
        record = {"dataset": "movielens cold start (10% of items)",
                  "method": name, "status": status, "fit_time": fit_time,
                  "n_cold_items": int(cold.shape[0]), "n_users": int(users.shape[0])}
        if scores is not None:
            ranked = top_k_items(scores, K)
            record["recall_at_10"] = recall_at_k(X_test_local, ranked, users=users,
                                                 k=K)
            record["ndcg_at_10"] = ndcg_at_k(X_test_local, ranked, users=users, k=K)
        records.append(record)
    return records


# ---------------------------------------------------------------------- tables
def _fmt(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"


def protocol_table(records):
    """One markdown table per protocol: rows = method and setting."""
    lines = []
    for protocol in PROTOCOLS:
        part = [r for r in records if r.get("protocol") == protocol]
        if not part:
            continue
        lines += [f"**{PROTOCOLS[protocol]}** ({part[0]['n_train']} training, "
                  f"{part[0]['n_test']} test positives)", "",
                  "| method | setting | recall@10 | NDCG@10 | precision@10 | "
                  "coverage@10 | fit (s) | CPU (s) | threads | status |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in part:
            status = r["status"]
            if r.get("converged") is False:
                status += " (did not converge)"
            params = ""
            if r["setting"] == "tuned" and r["params"]:
                params = " " + ", ".join(f"{k}={v}" for k, v in r["params"].items())
            lines.append(
                f"| {r['method']} | {r['setting']}{params} | "
                f"{_fmt(r.get('recall_at_10'))} | {_fmt(r.get('ndcg_at_10'))} | "
                f"{_fmt(r.get('precision_at_10'))} | "
                f"{_fmt(r.get('coverage_at_10'))} | {_fmt(r.get('fit_time'), 2)} | "
                f"{_fmt(r.get('cpu_time'), 2)} | {r['threads']} | {status} |")
        lines.append("")
    return "\n".join(lines)


def cold_table(records):
    if not records:
        return ""
    first = records[0]
    lines = [f"**cold start**: {first['n_cold_items']} held-out items, "
             f"{first['n_users']} users who liked one", "",
             "| method | recall@10 | NDCG@10 | fit (s) | status |",
             "|---|---:|---:|---:|---|"]
    for r in records:
        lines.append(f"| {r['method']} | {_fmt(r.get('recall_at_10'))} | "
                     f"{_fmt(r.get('ndcg_at_10'))} | {_fmt(r.get('fit_time'), 2)} | "
                     f"{r['status']} |")
    return "\n".join(lines) + "\n"


def targets(records, cold):
    """The issue's targets, each met or missed, with the figures."""
    lines = []

    def get(protocol, method, setting):
        for r in records:
            if (r.get("protocol"), r["method"], r.get("setting")) == (
                    protocol, method, setting):
                return r
        return None

    for setting in ("defaults", "tuned"):
        for protocol in PROTOCOLS:
            ours = get(protocol, CML, setting)
            others = [r for r in records if r.get("protocol") == protocol
                      and r.get("setting") == setting and r["method"] != CML
                      and r.get("recall_at_10") is not None]
            if ours is None or ours.get("recall_at_10") is None or not others:
                continue
            for metric in ("recall_at_10", "ndcg_at_10"):
                best = max(others, key=lambda r: r[metric])
                verdict = "met" if ours[metric] > best[metric] else "missed"
                lines.append(f"- {setting}, {protocol}, {metric}: CML "
                             f"{ours[metric]:.3f} vs best other ({best['method']}) "
                             f"{best[metric]:.3f}: {verdict}")
    ours = [r for r in cold if r["method"].startswith(CML) and "recall_at_10" in r]
    others = [r for r in cold if not r["method"].startswith(CML)
              and "recall_at_10" in r]
    if ours and others:
        best = max(others, key=lambda r: r["recall_at_10"])
        verdict = "met" if ours[0]["recall_at_10"] > best["recall_at_10"] else "missed"
        lines.append(f"- cold start recall@10: CML {ours[0]['recall_at_10']:.3f} vs "
                     f"best baseline ({best['method']}) {best['recall_at_10']:.3f}: "
                     f"{verdict}")
    for protocol in PROTOCOLS:
        ours, lfm = get(protocol, CML, "defaults"), get(protocol, "LightFM WARP",
                                                          "defaults")
        if ours and lfm and ours.get("fit_time") and lfm.get("fit_time"):
            verdict = "met" if ours["fit_time"] <= lfm["fit_time"] else "missed"
            lines.append(f"- default fit time, {protocol}: CML {ours['fit_time']:.2f}"
                         f" s vs LightFM {lfm['fit_time']:.2f} s (median of "
                         f"{len(ours['fit_times'])} and {len(lfm['fit_times'])}): "
                         f"{verdict}")
    return "\n".join(lines)


# ------------------------------------------------------------- main-job task
def main_job_records(quick=False, peers=True, timeout=None):
    """The main job's reduced protocol: both protocols, every method at its
    defaults, one timed fit each (after one warm-up); --quick: the first
    QUICK_USERS users."""
    data = load_movielens(max_users=QUICK_USERS if quick else None)
    records = []
    for protocol in PROTOCOLS:
        records += protocol_records(protocol, data, budget=1, repeats=1,
                                    peers=peers, timeout=timeout or 300, tune=False)
    return records


def main_job_table(records):
    return protocol_table(records)


MAIN_JOB_PROTOCOL = (
    "MovieLens ml-latest-small, ratings >= 4 as positives; each user's random "
    "20% (seed 0) and each user's latest 20% held out; every method at its "
    "defaults (64 factors; LightFM WARP 30 epochs), 2 threads, one untimed "
    "warm-up fit each; full ranking with training items excluded, ties by the "
    "smaller item id. Tuned settings and cold start: python -m "
    "benchmarks.bench_recommend (tables in benchmarks/README.md).")


# ------------------------------------------------------------------------ main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"first {QUICK_USERS} users, budget 2, one timed fit")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--budget", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per peer fit")
    parser.add_argument("--parts", default="random,time,cold",
                        help="comma-separated among random, time, cold")
    parser.add_argument("--save", default=None, help="write the records (JSON)")
    parser.add_argument("--load", nargs="+", default=None,
                        help="print the tables of saved records instead of running")
    args = parser.parse_args(argv)
    if args.load:
        records = []
        for path in args.load:
            records += json.loads(Path(path).read_text())["records"]
    else:
        records = run_parts(args)
    main_records = [r for r in records if "protocol" in r]
    cold = [r for r in records if "protocol" not in r]
    print(protocol_table(main_records))
    print(cold_table(cold))
    print("Targets:\n" + targets(main_records, cold), flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(
            {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "versions": library_versions(), "args": vars(args),
             "records": records}, indent=1, default=str) + "\n")
    return 0


def run_parts(args):
    budget, repeats = (2, 1) if args.quick else (args.budget, args.repeats)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    data = load_movielens(max_users=QUICK_USERS if args.quick else None)
    print(f"[bench_recommend] {data['X'].shape[0]} positives, {data['n_users']} "
          f"users, {data['n_items']} items; budget {budget}, repeats {repeats}",
          flush=True)
    records = []
    for protocol in (p for p in PROTOCOLS if p in parts):
        start = time.perf_counter()
        records += protocol_records(protocol, data, budget=budget, repeats=repeats,
                                    peers=not args.no_peers, timeout=args.timeout)
        print(f"[bench_recommend] {protocol}: {time.perf_counter() - start:.0f} s",
              flush=True)
    if "cold" in parts:
        records += cold_start_records(data, peers=not args.no_peers,
                                      timeout=args.timeout)
    return records


if __name__ == "__main__":
    raise SystemExit(main())
