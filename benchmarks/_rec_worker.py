"""Fit one peer recommender in its own virtualenv.

Run by :func:`benchmarks._rec_peers.fit_rec_peer` as ``<env python>
_rec_worker.py spec.json``. Like ``_peer_worker.py`` (whose reporting helpers it
shares) it needs only the standard library, NumPy and SciPy at import time and
imports each peer library inside that peer's function.

Protocol
--------
``spec.json`` holds ``{"peer": NAME, "params": {...}, "n_threads": INT,
"jobs": [{"data": PATH, "output": PATH, "params": {...}}, ...], "warmup_data":
PATH or null}``; a job's ``params`` (optional) override the spec's.
Each ``data`` file is an ``.npz`` with ``X`` (int64 ``(n, 2)`` training
``(user, item)`` pairs, each once), ``n_users``, ``n_items`` and optionally
``item_features`` (float64 ``(n_items, n_features)``). The worker makes one
untimed fit on ``warmup_data`` when given (every method of the benchmark gets
the same single warm-up), then fits each job, timing the fit alone with
``time.perf_counter`` (and ``time.process_time`` for the CPU seconds of all
threads), and writes ``user_factors`` ``(n_users, d)`` and ``item_factors``
``(n_items, d)`` to ``output``, such that ``user_factors @ item_factors.T``
ranks the items of each user (biases folded in as an extra column). It prints
one JSON line: ``{"status", "reason", "version", "results": [{"status",
"reason", "fit_time", "extra"}]}`` with ``extra`` holding ``params`` (in
effect), ``cpu_time``, ``threads`` (per library or BLAS/OpenMP API) and
``max_rss_mb``.
"""

import json
import os
import sys
import time
import warnings
from importlib import metadata

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _peer_worker import (  # noqa: E402  (shared reporting helpers)
    _json_default,
    _last_lines,
    _peak_rss_mb,
    _result,
    _thread_summary,
)

REC_PEERS = {}

# "Defaults" in the benchmark: each library's own defaults, except 64 factors
# for every method, and LightFM's WARP loss for 30 epochs (its own defaults
# are the logistic loss and 10 components; fit() takes epochs=1).
ALS_DEFAULTS = {"factors": 64, "random_state": 0}
BPR_DEFAULTS = {"factors": 64, "random_state": 0}
LIGHTFM_DEFAULTS = {"no_components": 64, "loss": "warp", "epochs": 30,
                    "random_state": 0}


def register(name, env, defaults):
    """Add ``build(params, n_threads) -> (fit, version)`` to :data:`REC_PEERS`."""

    def decorator(build):
        REC_PEERS[name] = (env, build, dict(defaults))
        return build

    return decorator


def _user_items(X, n_users, n_items):
    values = np.ones(X.shape[0], dtype=np.float32)
    return sp.csr_matrix((values, (X[:, 0], X[:, 1])), shape=(n_users, n_items))


def _implicit_fit(model_class, params, n_threads):
    from threadpoolctl import threadpool_limits

    def fit(X, n_users, n_items, item_features):
        model = model_class(num_threads=n_threads, **params)
        user_items = _user_items(X, n_users, n_items)
        # implicit asks for single-threaded BLAS: it runs its own threads.
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(user_items, show_progress=False)
        extra = {"n_iter": params.get("iterations", model.iterations),
                 "implicit_threads": n_threads}
        return np.asarray(model.user_factors), np.asarray(model.item_factors), extra

    return fit


@register("implicit.ALS", env="recommend", defaults=ALS_DEFAULTS)
def _implicit_als(params, n_threads):
    """implicit's ``AlternatingLeastSquares`` (conjugate gradient, CPU).

    Accepts its constructor arguments (``factors``, ``regularization``,
    ``alpha``, ``iterations``, ``calculate_training_loss``, ``random_state``,
    ...); ``num_threads`` comes from the spec.
    """
    from implicit.cpu.als import AlternatingLeastSquares

    return (_implicit_fit(AlternatingLeastSquares, params, n_threads),
            metadata.version("implicit"))


@register("implicit.BPR", env="recommend", defaults=BPR_DEFAULTS)
def _implicit_bpr(params, n_threads):
    """implicit's ``BayesianPersonalizedRanking`` (SGD, CPU); its item factors
    carry a bias column matched by a column of ones in the user factors.

    Accepts ``factors``, ``learning_rate``, ``regularization``, ``iterations``,
    ``verify_negative_samples``, ``random_state``.
    """
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    return (_implicit_fit(BayesianPersonalizedRanking, params, n_threads),
            metadata.version("implicit"))


@register("lightfm.WARP", env="recommend", defaults=LIGHTFM_DEFAULTS)
def _lightfm(params, n_threads):
    """LightFM (Kula 2015), WARP loss by default.

    Accepts its constructor arguments (``no_components``, ``loss``,
    ``learning_schedule``, ``learning_rate``, ``item_alpha``, ``user_alpha``,
    ``max_sampled``, ``random_state``, ...) and ``epochs`` (of ``fit``). With
    item features in the data, ``features`` says which item features it gets:
    ``'metadata'`` (the given features only) or ``'ids+metadata'`` (an
    indicator of the item itself beside them, LightFM's hybrid form).
    """
    from lightfm import LightFM

    params = dict(params)
    epochs = params.pop("epochs")
    features_kind = params.pop("features", "ids+metadata")

    def fit(X, n_users, n_items, item_features):
        model = LightFM(**params)
        interactions = _user_items(X, n_users, n_items).tocoo()
        features = None
        if item_features is not None:
            metadata_part = sp.csr_matrix(item_features, dtype=np.float32)
            features = (metadata_part if features_kind == "metadata" else
                        sp.hstack([sp.identity(n_items, dtype=np.float32,
                                               format="csr"),
                                   metadata_part]).tocsr())
        model.fit(interactions, item_features=features, epochs=epochs,
                  num_threads=n_threads)
        item_bias, item_emb = model.get_item_representations(features)
        _, user_emb = model.get_user_representations()
        users = np.hstack([user_emb, np.ones((n_users, 1), dtype=user_emb.dtype)])
        items = np.hstack([item_emb, item_bias[:, None]])
        extra = {"n_iter": epochs, "lightfm_threads": n_threads,
                 "features": None if features is None else features_kind}
        return users, items, extra

    return fit, metadata.version("lightfm")


def _load(path):
    with np.load(path, allow_pickle=False) as data:
        features = data["item_features"] if "item_features" in data else None
        return (data["X"].astype(np.int64), int(data["n_users"]),
                int(data["n_items"]), features)


def run(spec):
    """Warm up once, then fit every job; return the result dict (no arrays)."""
    entry = REC_PEERS.get(spec["peer"])
    if entry is None:
        return _result("failed", f"unknown peer {spec['peer']!r} in the worker")
    _, build, defaults = entry
    params = {**defaults, **spec.get("params", {})}
    try:
        fit, version = build(params, int(spec["n_threads"]))
    except ImportError as exc:
        return _result("missing", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # bad parameters and the like
        return _result("failed", _last_lines(exc))
    if spec.get("warmup_data"):
        try:
            fit(*_load(spec["warmup_data"]))
        except Exception as exc:  # the timed fits would fail the same way
            return _result("failed", _last_lines(exc), version=version)
    results = []
    for job in spec["jobs"]:
        job_params = {**params, **job.get("params", {})}
        if job_params == params:
            results.append(_run_job(fit, job, params))
            continue
        try:
            job_fit, _ = build(job_params, int(spec["n_threads"]))
        except Exception as exc:
            results.append(_result("failed", _last_lines(exc)))
            continue
        results.append(_run_job(job_fit, job, job_params))
    return {**_result("ok", "", version=version), "results": results}


def _run_job(fit, job, params):
    extra = {"params": params}
    try:
        data = _load(job["data"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start, start_cpu = time.perf_counter(), time.process_time()
            users, items, fit_extra = fit(*data)
            fit_time = time.perf_counter() - start
            extra["cpu_time"] = time.process_time() - start_cpu
        np.savez(job["output"], user_factors=np.asarray(users, dtype=np.float64),
                 item_factors=np.asarray(items, dtype=np.float64))
    except Exception as exc:  # report the peer's own failure, whatever it is
        return _result("failed", _last_lines(exc))
    extra.update(fit_extra)
    extra["warnings"] = sorted({f"{w.category.__name__}: {w.message}"
                                for w in caught})[:5]
    extra["threads"] = _thread_summary()
    extra["max_rss_mb"] = _peak_rss_mb()
    return _result("ok", "", fit_time=fit_time, extra=extra)


def main(argv):
    with open(argv[1]) as file:
        spec = json.load(file)
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr
    try:
        result = run(spec)
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    print(json.dumps(result, default=_json_default), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
