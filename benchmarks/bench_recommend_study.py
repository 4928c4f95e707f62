"""How CollaborativeMetricLearning's defaults were chosen: a study on validation.

Data and protocols as :mod:`benchmarks.bench_recommend` (MovieLens
ml-latest-small, ratings >= 4 as positives). For each protocol the test part is
set aside and never used: a validation part is carved from the training part by
the same protocol (each user's random or latest 20% of their training positives),
exactly as bench_recommend's tuning does, and every configuration is fitted on
the rest.

Each configuration changes one or two parameters from a base (``--base``,
default: the estimator's current defaults) and trains epoch by epoch
(``partial_fit`` over the same interactions, which continues the fit exactly as
``fit`` does); recall@10 and NDCG@10 on the validation part are printed after
selected epochs, with the mean seconds per epoch (``--n-jobs`` threads, 2 by
default) and the epoch at
which ``fit``'s stopping rule on the training loss (``tol``, ``n_iter_no_change``
of the configuration) would stop. Implicit ALS at its defaults is scored on the
same validation parts for reference when its virtualenv is there.

    python -m benchmarks.bench_recommend_study [--epochs 5,10,20,30,40]
        [--protocols random,time] [--configs NAME,...] [--base k=v,...]
        [--n-jobs N] [--no-peers]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from benchmarks.bench_recommend import (
    N_THREADS,
    PROTOCOLS,
    _Fitted,
    evaluate,
    load_movielens,
    protocol_split,
)

# One-factor (or two-factor) changes from the base, by name.
CONFIGS = {
    "base": {},
    "negatives=5": {"n_negatives": 5},
    "negatives=10": {"n_negatives": 10},
    "negatives=50": {"n_negatives": 50},
    "negatives=100": {"n_negatives": 100},
    "margin=0.5": {"margin": 0.5},
    "margin=1.5": {"margin": 1.5},
    "lr=0.05": {"learning_rate": 0.05},
    "lr=0.2": {"learning_rate": 0.2},
    "cov=0": {"covariance_weight": 0.0},
    "cov=0.1": {"covariance_weight": 0.1},
    "cov=10": {"covariance_weight": 10.0},
    "batch=256": {"batch_size": 256},
    "batch=4096": {"batch_size": 4096},
    "dims=128": {"n_components": 128},
    "negatives=10+cov=0": {"n_negatives": 10, "covariance_weight": 0.0},
    "negatives=10+batch=256": {"n_negatives": 10, "batch_size": 256},
    "negatives=10+lr=0.05": {"n_negatives": 10, "learning_rate": 0.05},
}


def _stop_epoch(losses, tol, n_iter_no_change):
    """The epoch at which fit's stopping rule on the training loss stops, or None."""
    from skmetric.recommend._cml import _loss_trend

    best, stale = np.inf, 0
    for epoch, loss in enumerate(losses, 1):
        stale = 0 if _loss_trend(loss, best, tol) != "flat" else stale + 1
        best = min(best, loss)
        if stale >= n_iter_no_change:
            return epoch
    return None


def study(protocol, data, names, epochs, base, n_jobs=N_THREADS):
    from skmetric.recommend import CollaborativeMetricLearning

    X, times = data["X"], data["times"]
    train, _ = protocol_split(protocol, X, times)  # the test part is never used
    X_train = X[train]
    sub, val = protocol_split(protocol, X_train, times[train])
    X_sub, X_val = X_train[sub], X_train[val]
    rows = []
    for name in names:
        params = {**base, **CONFIGS[name]}
        model = CollaborativeMetricLearning(random_state=0, n_jobs=n_jobs, **params)
        scores, seconds, losses = {}, 0.0, []
        for epoch in range(1, max(epochs) + 1):
            start = time.perf_counter()
            model.partial_fit(X_sub)
            seconds += time.perf_counter() - start
            losses.append(model.loss_curve_[-1])
            if epoch in epochs:
                got = evaluate(_Fitted(estimator=model), X_sub, X_val,
                               data["n_items"])
                scores[epoch] = (got["recall_at_10"], got["ndcg_at_10"])
        stop = _stop_epoch(losses, model.tol, model.n_iter_no_change)
        rows.append((name, scores, seconds / max(epochs), stop))
        cells = " | ".join(f"{r:.3f} / {n:.3f}" for r, n in scores.values())
        print(f"| {protocol} | {name} | {cells} | {seconds / max(epochs):.3f} | "
              f"{stop if stop is not None else '>' + str(max(epochs))} |",
              flush=True)
    return rows


def als_reference(protocol, data):
    from benchmarks.bench_recommend import fit_peer

    X, times = data["X"], data["times"]
    train, _ = protocol_split(protocol, X, times)
    X_train = X[train]
    sub, val = protocol_split(protocol, X_train, times[train])
    X_sub, X_val = X_train[sub], X_train[val]
    out = {}
    for method in ("implicit ALS", "LightFM WARP"):
        (fitted, _, status, _), = fit_peer(method, [X_sub], data["n_users"],
                                           data["n_items"], [{}], data, 600)
        if fitted is None:
            out[method] = status
            continue
        got = evaluate(fitted, X_sub, X_val, data["n_items"])
        out[method] = f"{got['recall_at_10']:.3f} / {got['ndcg_at_10']:.3f}"
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="5,10,20,30,40")
    parser.add_argument("--protocols", default="random,time")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--base", default="",
                        help="base parameters, e.g. n_negatives=50,margin=0.5")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=N_THREADS,
                        help="CML's threads (the fitted model does not depend on it)")
    args = parser.parse_args(argv)
    epochs = sorted({int(e) for e in args.epochs.split(",")})
    names = [n for n in args.configs.split(",") if n]
    base = {}
    for item in filter(None, args.base.split(",")):
        key, value = item.split("=")
        base[key] = int(value) if value.isdigit() else float(value)
    data = load_movielens()
    print(f"[bench_recommend_study] base {base or 'the defaults'}; validation "
          "recall@10 / NDCG@10 after each number of epochs; s/epoch on "
          f"{args.n_jobs} threads; the loss rule's stopping epoch", flush=True)
    print("| protocol | config | " + " | ".join(f"{e} ep" for e in epochs)
          + " | s/epoch | rule stops |")
    print("|---|---|" + "---:|" * len(epochs) + "---:|---:|")
    protocols = [p for p in args.protocols.split(",") if p in PROTOCOLS]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for protocol in protocols:
            study(protocol, data, names, epochs, base, args.n_jobs)
    n_warned = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    print(f"{n_warned} ConvergenceWarning(s) from the fits above (each trains a "
          "fixed number of epochs; 'rule stops' is where the stopping rule would "
          "end the fit)", flush=True)
    if not args.no_peers:
        for protocol in protocols:
            print(f"reference, {protocol} validation, defaults: "
                  f"{als_reference(protocol, data)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
