"""LMNN against Euclidean kNN and the peer LMNN implementations, and a scaling table.

Protocol (issue 3): 5 stratified 70/30 splits (seed 0), except isolet (train on
speaker group 1, test on group 5); ``StandardScaler`` fit on the training part;
kNN with k = 3 on the transformed data; LMNN with k = 3 target neighbours
everywhere. Peers run in their own envs (``python -m benchmarks.setup_peers``)
as subprocesses, one at a time, each with its defaults (skmetric's L-BFGS to its
convergence test or ``max_iter=300``, pylmnn's ``max_iter=50``, with every
thread the machine allows for both), metric-learn its 1000 gradient steps,
mlpack its default optimiser (AMSGrad, 50 passes). A peer that is missing,
fails or runs out of time is reported as such.

The scaling table fits skmetric's LMNN on ``make_classification`` data (50
features, 10 classes) of growing size, each size in its own subprocess, and
reports the fit time and the process's peak resident memory.

    python -m benchmarks.bench_lmnn [--quick] [--datasets iris,wine] [--no-peers]
        [--peers "pylmnn,mlpack lmnn"] [--n-splits 5] [--max-train N]
        [--timeout S] [--scaling 2000,8000] [--no-scaling] [--save PATH]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

from benchmarks._data import available_datasets, load_dataset, make_splits
from benchmarks._harness import (
    evaluate_estimator,
    evaluate_peer,
    library_versions,
    markdown_table,
    save_results,
    summarize,
)

DATASETS = (
    "iris", "wine", "breast_cancer", "digits", "segment", "optdigits", "pendigits",
    "usps", "isolet", "mnist_test10k",
)
SCALING_SIZES = (2_000, 8_000, 32_000, 100_000)
OURS = "skmetric LMNN"
PEERS = {
    "metric-learn LMNN": ("metric_learn.LMNN", {"n_neighbors": 3, "random_state": 0}),
    "pylmnn": ("pylmnn.LMNN", {"n_neighbors": 3, "random_state": 0}),
    "mlpack lmnn": ("mlpack.lmnn", {"k": 3, "seed": 1}),
}


def _lmnn():
    from skmetric import LMNN

    return LMNN(n_neighbors=3, random_state=0)


def run_dataset(name, *, n_splits, peers, timeout, max_train=None):
    """Records of every method on one dataset; ``peers`` lists peer labels."""
    dataset = load_dataset(name)
    splits = make_splits(dataset, n_splits=n_splits, seed=0, max_train=max_train,
                         use_predefined=name == "isolet")
    records = evaluate_estimator(lambda: None, dataset, splits, 3, method="euclidean")
    records += evaluate_estimator(_lmnn, dataset, splits, 3, method=OURS,
                                  warmup=True)
    for label in peers:
        peer, params = PEERS[label]
        print(f"[bench_lmnn] {name}: {label}", file=sys.stderr, flush=True)
        # Every method alike: one untimed warm-up fit in its process first.
        records += evaluate_peer(peer, params, dataset, splits, 3, method=label,
                                 timeout=timeout, warmup=True)
    return records


def target_summary(rows):
    """Lines checking the issue's accuracy and speed targets."""
    by = {(r["dataset"], r["method"]): r for r in rows}
    lines, ratios = [], {label: [] for label in PEERS}
    n_above = n_datasets = 0
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        ours, euclid = by[(dataset, OURS)], by[(dataset, "euclidean")]
        n_datasets += 1
        n_above += ours["accuracy_mean"] > euclid["accuracy_mean"]
        text = (f"{dataset}: skmetric {ours['accuracy_mean']:.4f} "
                f"vs euclidean {euclid['accuracy_mean']:.4f}")
        peer_rows = [(label, by.get((dataset, label))) for label in PEERS]
        peer_rows = [(label, row) for label, row in peer_rows
                     if row and row["status"] == "ok"]
        if peer_rows:
            best_label, best = max(peer_rows, key=lambda item: item[1]["accuracy_mean"])
            gap = 100 * (ours["accuracy_mean"] - best["accuracy_mean"])
            text += (f"; best peer {best_label} {best['accuracy_mean']:.4f} "
                     f"({gap:+.2f} pts, {'met' if gap >= -0.3 else 'NOT met'})")
        for label, row in peer_rows:
            ratio = row["fit_time_median"] / ours["fit_time_median"]
            ratios[label].append(ratio)
            text += f"; {label} time / skmetric time = {ratio:.1f}"
        lines.append(text)
    lines.append(f"skmetric above euclidean on {n_above} of {n_datasets} datasets")
    goals = {"metric-learn LMNN": 20.0, "pylmnn": 3.0, "mlpack lmnn": 1.0}
    for label, values in ratios.items():
        if values:
            median = statistics.median(values)
            lines.append(
                f"median time ratio {label} / skmetric: {median:.1f} over "
                f"{len(values)} datasets (goal >= {goals[label]:g}: "
                f"{'met' if median >= goals[label] else 'NOT met'})"
            )
    return lines


# ---------------------------------------------------------------------------------
# Scaling on synthetic data, one subprocess per size
# ---------------------------------------------------------------------------------


def scaling_worker(n_samples):
    """Fit on ``make_classification`` data; print fit time and peak RSS as JSON.

    Runs in a fresh ``python`` (see :func:`run_scaling`); the peak is this
    process's own high-water mark (``VmHWM``), data and warm-up included.
    """
    import warnings

    from benchmarks._memory import current_rss_mb, peak_rss_mb

    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    from skmetric import LMNN

    X, y = make_classification(
        n_samples=n_samples, n_features=50, n_informative=20, n_redundant=10,
        n_classes=10, random_state=0,
    )
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LMNN(max_iter=2, random_state=0).fit(X[:300], y[:300])  # compile, warm up
    before = current_rss_mb()
    model = LMNN(n_neighbors=3, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    fit_time = time.perf_counter() - start
    peak = peak_rss_mb()
    print(json.dumps({
        "n_samples": n_samples, "fit_time": fit_time, "n_iter": model.n_iter_,
        "converged": not any("converge" in str(w.message) for w in caught),
        "peak_rss_mb": peak, "rss_before_fit_mb": before,
    }))


def run_scaling(sizes, timeout):
    rows = []
    for n_samples in sizes:
        print(f"[bench_lmnn] scaling: n = {n_samples}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_lmnn", "--scaling-worker",
                 str(n_samples)], capture_output=True, text=True, timeout=timeout,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        except subprocess.TimeoutExpired:
            rows.append({"n_samples": n_samples, "error": f"timeout after {timeout} s"})
        except (IndexError, json.JSONDecodeError):
            rows.append({"n_samples": n_samples,
                         "error": " ".join(done.stderr.split()[-30:])})
    return rows


def scaling_table(rows):
    lines = ["| n | fit (s) | iterations | converged | peak RSS (MB) | "
             "RSS before fit (MB) |", "| ---: | ---: | ---: | --- | ---: | ---: |"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['n_samples']} | {row['error']} | | | | |")
            continue
        lines.append(
            f"| {row['n_samples']} | {row['fit_time']:.2f} | {row['n_iter']} | "
            f"{'yes' if row['converged'] else 'no'} | {row['peak_rss_mb']:.0f} | "
            f"{row['rss_before_fit_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 splits of iris and wine, no peers, n=2000 scaling")
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated, among: {', '.join(PEERS)}")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds allowed per peer fit and per scaling size")
    parser.add_argument("--scaling", default=None,
                        help="comma-separated sizes (default 2000,8000,32000,100000)")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--scaling-worker", type=int, default=None,
                        help=argparse.SUPPRESS)
    parser.add_argument("--save", default=None, help="write raw records (JSON, CSV)")
    args = parser.parse_args(argv)
    if args.scaling_worker:
        scaling_worker(args.scaling_worker)
        return

    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    sizes = ([int(n) for n in args.scaling.split(",")] if args.scaling
             else list(SCALING_SIZES))
    n_splits = args.n_splits
    peers = [] if args.no_peers else args.peers.split(",")
    unknown = set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose among {list(PEERS)}")
    if args.quick:
        names = names[:2] if args.datasets else ["iris", "wine"]
        n_splits, peers, sizes = 2, [], [2_000]
    found = set(available_datasets())
    records = []
    for name in names:
        if name not in found:
            print(f"\n{name}: not found (set SKMETRIC_DATA to the data folder)")
            continue
        new = run_dataset(name, n_splits=n_splits, peers=peers, timeout=args.timeout,
                          max_train=args.max_train)
        records += new
        print(f"\n### {name}\n")
        print(markdown_table(summarize(new), ratio_to=OURS), flush=True)
    if records:
        print("\n" + "\n".join(target_summary(summarize(records))), flush=True)
    if args.save:
        save_results(args.save, records, library_versions())
    if not args.no_scaling:
        print("\n### Scaling: make_classification, 50 features, 10 classes\n")
        print(scaling_table(run_scaling(sizes, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
