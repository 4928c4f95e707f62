"""The main job: every skmetric estimator against plain Euclidean kNN and the peers.

    python -m benchmarks [--datasets NAME,...] [--estimators NAME,...]
        [--peers auto|none|NAME,...] [--splits 3] [--max-train 2000] [--max-dim 100]
        [--quick]
        [--output benchmarks/results] [--no-plots]

Protocol: for every dataset, the same splits for every method (the dataset's own
train/test split where it has one, otherwise 3 stratified 70/30 splits from seed 0),
``StandardScaler`` fit on the training part, data with more than ``--max-dim`` (100)
features projected on their first 100 principal components (fit on the training
part, as the LMNN paper did for its high-dimensional sets), and a 3-nearest-neighbour
classifier on the learned embedding. Training parts larger than ``--max-train`` are subsampled,
stratified, so that the whole default run takes minutes on 2 cores. Besides the kNN
accuracy, each method's embedding of the test part is scored by leave-one-out
retrieval (MAP@R and precision@1, :mod:`skmetric.metrics`).

Peers run in their own virtualenvs (``python -m benchmarks.setup_peers``); a missing
or failing peer is reported in the table with the reason, and so is one that takes
longer than ``--timeout`` (60 s) for a fit. ``--peers auto`` runs metric-learn and
mlpack on scikit-learn's bundled data sets and the faster peers on every data set with at
most 2500 training rows (see ``PEERS``). The per-estimator scripts
(``bench_xing``, ``bench_lmnn``, ``bench_deep``) compare with the peers in full.

Writes to ``--output``: ``results.md`` (the tables), ``results.json`` and
``results.csv`` (every raw number, with library versions and the machine) and, when
matplotlib is installed, ``accuracy.png``, ``fit_time.png``, ``lmnn_scaling.png``
and ``projection.png``.
"""

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

from benchmarks._data import available_datasets, load_dataset, make_splits
from benchmarks._harness import (
    evaluate_estimator,
    evaluate_peer,
    library_versions,
    markdown_table,
    save_results,
    summarize,
)

BUNDLED = ("iris", "wine", "breast_cancer", "digits")
SMALL = 2500  # peers marked 'small' run on datasets up to this many training rows


def _skmetric_estimators():
    """``{key: (label, factory(n_classes))}`` of the skmetric estimators present."""
    import skmetric

    table = {
        "xing": ("MahalanobisXing",
                 lambda c: skmetric.MahalanobisXing(random_state=0)),
        "xing_diagonal": ("MahalanobisXing(diagonal)",
                          lambda c: skmetric.MahalanobisXing(diagonal=True,
                                                             random_state=0)),
    }
    if hasattr(skmetric, "LMNN"):
        table["lmnn"] = ("LMNN", lambda c: skmetric.LMNN(random_state=0))
    try:
        from skmetric.deep import DeepSiamese, DeepTriplet
    except ImportError:
        return table
    table["siamese"] = ("DeepSiamese", lambda c: DeepSiamese(random_state=0))
    table["triplet"] = ("DeepTriplet", lambda c: DeepTriplet(random_state=0))
    return table


# label: (peer name in benchmarks._peers, params(n_classes), where it runs by default)
PEERS = {
    "metric-learn MMC": ("metric_learn.MMC_Supervised",
                         lambda c: {"n_constraints": 20 * c**2, "random_state": 0},
                         "bundled"),
    "metric-learn LMNN": ("metric_learn.LMNN",
                          lambda c: {"n_neighbors": 3, "random_state": 0}, "bundled"),
    "pylmnn": ("pylmnn.LMNN", lambda c: {"n_neighbors": 3, "random_state": 0},
               "small"),
    "mlpack lmnn": ("mlpack.lmnn", lambda c: {"k": 3, "seed": 1}, "bundled"),
    "sklearn NCA": ("sklearn.NCA", lambda c: {"random_state": 0}, "small"),
}


def _progress(done, total, text):
    width = 30
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r[{bar}] {done}/{total} {text[:60]:<60}")
    sys.stderr.flush()
    if done == total:
        sys.stderr.write("\n")


def _peer_runs_here(where, dataset_name, n_train, chosen):
    if chosen == "auto":
        if where == "bundled":
            return dataset_name in BUNDLED
        return n_train <= SMALL
    return True


def plan(args):
    """Datasets and methods to run, as a list of (dataset name, [(kind, ...)])."""
    found = available_datasets()
    names = args.datasets.split(",") if args.datasets else list(found)
    estimators = _skmetric_estimators()
    keys = args.estimators.split(",") if args.estimators else list(estimators)
    unknown = [k for k in keys if k not in estimators]
    if unknown:
        raise SystemExit(f"unknown or missing estimators {unknown}; "
                         f"available: {sorted(estimators)}")
    if args.peers == "none":
        peers = []
    elif args.peers == "auto":
        peers = list(PEERS)
    else:
        peers = args.peers.split(",")
        bad = [p for p in peers if p not in PEERS]
        if bad:
            raise SystemExit(f"unknown peers {bad}; available: {sorted(PEERS)}")
    return [n for n in names if n in found], [estimators[k] for k in keys], peers


def run(args):
    names, estimators, peers = plan(args)
    jobs = []
    for name in names:
        dataset = load_dataset(name)
        splits = make_splits(dataset, n_splits=args.splits, seed=0,
                             max_train=args.max_train or None)
        n_train = len(splits[0][0])
        methods = [("euclidean", lambda c: None, None)]
        methods += [(label, factory, None) for label, factory in estimators]
        for label in peers:
            peer, params, where = PEERS[label]
            if _peer_runs_here(where, name, n_train, args.peers):
                methods.append((label, None, (peer, params)))
        jobs.append((dataset, splits, methods))
    total = sum(len(s) * len(m) for _, s, m in jobs)
    done, records = 0, []
    for dataset, splits, methods in jobs:
        n_classes = dataset.n_classes
        for label, factory, peer in methods:
            for i, split in enumerate(splits):
                _progress(done, total, f"{dataset.name}: {label}, split {i + 1}")
                if peer is None:
                    new = evaluate_estimator(lambda: factory(n_classes), dataset,
                                             [split], 3, method=label,
                                             warmup=(i == 0), retrieval=True,
                                             max_dim=args.max_dim or None)
                else:
                    new = evaluate_peer(peer[0], peer[1](n_classes), dataset, [split],
                                        3, method=label, timeout=args.timeout,
                                        max_dim=args.max_dim or None)
                for record in new:
                    record["split"] = i
                records += new
                done += 1
    _progress(total, total, "done")
    return records


def write_report(records, args, elapsed):
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(records)
    versions = library_versions()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, {platform.system()}")
    lines = [f"Machine: {machine}. Total time {elapsed / 60:.1f} min.", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        subset = [r for r in rows if r["dataset"] == dataset]
        reference = "LMNN" if any(r["method"] == "LMNN" for r in subset) else None
        lines += [f"### {dataset}", "", markdown_table(subset, ratio_to=reference), ""]
    text = "\n".join(lines)
    (out / "results.md").write_text(text + "\n")
    save_results(out / "results", records, versions)
    print(text)
    if not args.no_plots:
        try:
            from benchmarks import _plots
        except ImportError as exc:  # matplotlib is an optional extra
            print(f"plots skipped: {exc}")
            return
        for path in _plots.all_plots(records, out, quick=args.quick):
            print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=None,
                        help="comma-separated names (default: every one found)")
    parser.add_argument("--estimators", default=None,
                        help="comma-separated keys: xing, xing_diagonal, lmnn, "
                             "siamese, triplet (default: all)")
    parser.add_argument("--peers", default="auto",
                        help="'auto', 'none' or comma-separated labels of PEERS")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--max-train", type=int, default=2000,
                        help="subsample larger training parts (0: never)")
    parser.add_argument("--max-dim", type=int, default=100,
                        help="after scaling, project data with more features on "
                             "this many principal components (0: never)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds allowed for one peer fit (it is then "
                             "reported as a timeout)")
    parser.add_argument("--quick", action="store_true",
                        help="seconds-long smoke run: iris and wine, one split, "
                             "linear estimators, no peers")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets = args.datasets or "iris,wine"
        args.estimators = args.estimators or "xing,xing_diagonal"
        args.peers, args.splits = "none", 1
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    records = run(args)
    write_report(records, args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
