"""The classic metric learners against metric-learn 0.7, and NCA at scale.

Part 1, every classic learner against its metric-learn 0.7 counterpart: the
learners are one table, :data:`LEARNERS` (label, skmetric class and arguments,
metric-learn peer and arguments); a row whose skmetric class is not present in
this checkout is skipped with a note. Protocol: scikit-learn's bundled sets
(iris, wine, breast_cancer, digits), the same 5 stratified 70/30 splits (seed 0)
for both libraries, ``StandardScaler`` fit on the training part, kNN with k = 3
on the transformed data. skmetric runs in this process; metric-learn 0.7 in its
own virtualenv (``legacy``, ``python -m benchmarks.setup_peers --envs legacy``;
``SKMETRIC_PEER_ENVS`` points at the envs), one worker process per dataset.
Both get one untimed warm-up fit on the first split's training part, in the
process of their timed fits, then every fit alone is timed with
``time.perf_counter``, in the same loop on both sides: fit, transform, next
split; the kNN scores are computed after all fits (as the peer worker leaves
them to its parent), on one thread, so that no idle BLAS or OpenMP worker of
theirs is left spinning beside the next timed fits. Each library uses its
default threads. Printed: one markdown table per dataset (accuracy mean ±
split-to-split std, median fit time, converged fits), then per learner the
accuracy verdict (skmetric's mean at least metric-learn's minus the larger of
the two split-to-split stds), the median
over datasets of metric-learn's median fit time divided by skmetric's (and the
same for the process CPU time of the fits, all threads, far less disturbed by
other work on a shared machine), and metric-learn's failures (failed, timed
out, or non-finite output).

Part 2, NCA at scale (``--scale``, or ``--scale-only`` for this part alone):
skmetric's NCA against scikit-learn's ``NeighborhoodComponentsAnalysis`` on
synthetic data of 50 features and 10 classes (``make_classification``, seed 0,
2000 test rows). Up to 8k training rows both run (scikit-learn's n x n
matrices take 2 GB there and its fit is far slower beyond), with the same
iteration budget: scikit-learn at its defaults (``max_iter=50``, ``tol=1e-5``,
which scipy applies to its summed loss both as ``gtol`` and ``ftol``), skmetric
with ``max_iter=50`` and ``tol=1e-5 / n_train`` (its loss is the mean, so this is
the same gradient threshold; skmetric has no ``ftol`` stop, so it may run more
iterations). skmetric alone at 16k rows (exact softmax, same budget: the memory
row) and 100k rows (softmax truncated to the 50 nearest candidates, its defaults
``max_iter=200``, ``tol=1e-5``). Each fit runs in a fresh interpreter after an
untimed warm-up fit on 500 rows; both libraries use their default threads
(2 on the 2-core machine); reported: fit time, time per iteration, the
process's peak resident memory (VmHWM, :mod:`benchmarks._memory`) and the peak
before the fit, 3-NN accuracy on the test rows, iterations.

    python -m benchmarks.bench_classic [--quick] [--datasets iris,wine]
        [--learners NCA,LFDA] [--no-peers] [--scale] [--scale-sizes 8000,16000]
        [--save PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks._data import available_datasets, knn_accuracy, load_dataset, \
    make_splits, scaled
from benchmarks._harness import (
    RECORD_KEYS,
    evaluate_estimator,
    fit_recording,
    library_versions,
    markdown_table,
    save_results,
    summarize,
)
from benchmarks._peers import embed_peer

DATASETS = ("iris", "wine", "breast_cancer", "digits")


@dataclass(frozen=True)
class Learner:
    """One row of the comparison: a skmetric learner and its metric-learn peer.

    ``name`` is the class in ``skmetric`` (looked up when the benchmark runs, so
    a checkout without it skips the row); ``params`` its arguments; ``peer`` a
    name registered in :mod:`benchmarks._peer_worker` and ``peer_params`` its
    arguments (None: the peer's registered defaults).
    """

    name: str
    params: dict = field(default_factory=dict)
    peer: str | None = None
    peer_params: dict | None = None

    def factory(self):
        """A callable returning a fresh estimator, or None when not present."""
        import skmetric

        cls = getattr(skmetric, self.name, None)
        if cls is None:
            return None
        return lambda: cls(**self.params)


# The registry: add a learner with one line. Defaults on both sides unless a
# peer must be seeded; MLKR learns from the class labels as numeric targets.
LEARNERS = [
    Learner("NCA", {"random_state": 0}, "metric_learn.NCA", {"random_state": 0}),
    Learner("MLKR", {"random_state": 0}, "metric_learn.MLKR", {"random_state": 0}),
    Learner("LFDA", {}, "metric_learn.LFDA"),
    Learner("Covariance", {}, "metric_learn.Covariance"),
    Learner("RCA", {"random_state": 0}, "metric_learn.RCA_Supervised"),
    Learner("ITML", {"random_state": 0}, "metric_learn.ITML_Supervised"),
    Learner("SDML", {"random_state": 0}, "metric_learn.SDML_Supervised"),
    Learner("LSML", {"random_state": 0}, "metric_learn.LSML_Supervised"),
    Learner("SCML", {"random_state": 0}, "metric_learn.SCML_Supervised"),
]


def _label(learner, library):
    return f"{library} {learner.name}"


def _untimed_scoring():
    """BLAS and OpenMP on one thread for the untimed kNN scoring: on two threads,
    their idle workers keep spinning on the cores for a while after each call,
    beside the next timed fits (a few milliseconds each on the small sets; a
    skmetric fit measured with twice its wall time in CPU time)."""
    return threadpool_limits(limits=1)


def peer_records(learner, dataset, splits, timeout):
    """One record per split for the metric-learn peer (one worker process)."""
    parts = []
    for train, test in splits:
        X_train, X_test = scaled(dataset.X[train], dataset.X[test])
        parts.append((X_train, dataset.y[train], X_test))
    results = embed_peer(learner.peer, parts, params=learner.peer_params,
                         timeout=timeout, warmup=(parts[0][0], parts[0][1]))
    records = []
    for i, ((train, test), result) in enumerate(zip(splits, results)):
        accuracy = None
        if result["status"] == "ok":
            with _untimed_scoring():
                accuracy = knn_accuracy(result["Z_train"], dataset.y[train],
                                        result["Z_test"], dataset.y[test], 3)
        record = {
            "method": _label(learner, "metric-learn"), "dataset": dataset.name,
            "split": i, "n_train": len(train), "n_test": len(test),
            "n_features": dataset.n_features, "status": result["status"],
            "reason": result["reason"] or "", "accuracy": accuracy,
            "fit_time": result["fit_time"], "version": result["version"],
            "extra": result.get("extra") or {},
        }
        records.append({key: record[key] for key in RECORD_KEYS})
    return records


def skmetric_records(learner, factory, dataset, splits):
    """One record per split for a skmetric learner, timed as the peer worker
    times metric-learn: every split scaled first, one untimed warm-up fit on
    the first, then per split the fit (timed) and the transform, back to back;
    the kNN scores after all fits (scikit-learn's kNN, run between two timed
    fits, leaves its OpenMP threads spinning on the 2 cores the next fit needs).
    """
    from sklearn.base import clone

    import skmetric

    parts = [scaled(dataset.X[train], dataset.X[test]) for train, test in splits]
    clone(factory()).fit(parts[0][0], dataset.y[splits[0][0]])
    fitted = []
    for (train, _), (X_train, X_test) in zip(splits, parts):
        estimator = factory()
        fit_time, cpu_time, converged, _ = fit_recording(
            estimator, X_train, dataset.y[train])
        fitted.append((fit_time, cpu_time, converged,
                       getattr(estimator, "n_iter_", None),
                       estimator.transform(X_train), estimator.transform(X_test)))
    records = []
    for i, ((train, test), result) in enumerate(zip(splits, fitted)):
        fit_time, cpu_time, converged, n_iter, Z_train, Z_test = result
        with _untimed_scoring():
            accuracy = knn_accuracy(Z_train, dataset.y[train], Z_test,
                                    dataset.y[test], 3)
        record = {
            "method": _label(learner, "skmetric"), "dataset": dataset.name,
            "split": i, "n_train": len(train), "n_test": len(test),
            "n_features": dataset.n_features, "status": "ok", "reason": "",
            "accuracy": accuracy,
            "fit_time": fit_time, "version": skmetric.__version__,
            "extra": {"cpu_time": cpu_time, "converged": converged,
                      "n_iter": n_iter},
        }
        records.append({key: record.get(key) for key in RECORD_KEYS})
    return records


def run_dataset(name, learners, *, n_splits, peers, timeout):
    dataset = load_dataset(name)
    splits = make_splits(dataset, n_splits=n_splits, seed=0, use_predefined=False)
    with _untimed_scoring():
        records = evaluate_estimator(lambda: None, dataset, splits, 3)
    for learner in learners:
        factory = learner.factory()
        if factory is not None:
            records += skmetric_records(learner, factory, dataset, splits)
        if peers and learner.peer:
            records += peer_records(learner, dataset, splits, timeout)
    return records


def learner_summary(rows, learners):
    """Per learner: accuracy verdicts, median time ratio, metric-learn failures."""
    by = {(r["dataset"], r["method"]): r for r in rows}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    lines = ["| learner | accuracy within noise or better | median time ratio "
             "(metric-learn / skmetric) | median CPU-time ratio | metric-learn "
             "failures | skmetric failures |", "|---|---|---:|---:|---|---|"]
    for learner in learners:
        ours_label = _label(learner, "skmetric")
        peer_label = _label(learner, "metric-learn")
        verdicts, ratios, cpu_ratios, peer_failures, our_failures = \
            [], [], [], [], []
        for dataset in datasets:
            ours, peer = by.get((dataset, ours_label)), by.get((dataset, peer_label))
            if ours is not None and ours["status"] != "ok":
                our_failures.append(f"{dataset} ({ours['status']})")
            if peer is not None and peer["status"] != "ok":
                reason = " ".join((peer["reason"] or "").split())[:80]
                peer_failures.append(f"{dataset} ({peer['status']}: {reason})"
                                     .replace("|", "/"))
            if ours is None or peer is None or not ours["n_ok"] or not peer["n_ok"]:
                continue
            noise = max(ours["accuracy_std"], peer["accuracy_std"])
            ok = ours["accuracy_mean"] >= peer["accuracy_mean"] - noise
            verdicts.append(f"{dataset} {'yes' if ok else 'NO'} "
                            f"({ours['accuracy_mean']:.3f} vs "
                            f"{peer['accuracy_mean']:.3f})")
            if ours["fit_time_median"] and peer["fit_time_median"]:
                ratios.append(peer["fit_time_median"] / ours["fit_time_median"])
            if ours["cpu_time_median"] and peer["cpu_time_median"]:
                cpu_ratios.append(peer["cpu_time_median"] / ours["cpu_time_median"])
        if not verdicts and not our_failures and not peer_failures:
            continue
        ratio = f"{statistics.median(ratios):.1f}" if ratios else "-"
        cpu = f"{statistics.median(cpu_ratios):.1f}" if cpu_ratios else "-"
        lines.append(f"| {learner.name} | {'; '.join(verdicts) or '-'} | {ratio} | "
                     f"{cpu} | "
                     f"{'; '.join(peer_failures) or 'none'} | "
                     f"{'; '.join(our_failures) or 'none'} |")
    return lines


# ---------------------------------------------------------------------------------
# Part 2: NCA at scale, each fit in a fresh interpreter
# ---------------------------------------------------------------------------------

SCALE_FEATURES, SCALE_CLASSES, SCALE_TEST = 50, 10, 2000


def scale_data(n_train, seed=0):
    """Synthetic data of the scale study, standardised on the training part."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_train + SCALE_TEST, n_features=SCALE_FEATURES,
        n_informative=20, n_redundant=10, n_classes=SCALE_CLASSES,
        n_clusters_per_class=2, class_sep=1.0, flip_y=0.0, random_state=seed)
    X_train, X_test = scaled(X[:n_train], X[n_train:])
    return X_train, y[:n_train], X_test, y[n_train:]


def _scale_child(spec):
    """Fit one method at one size in this (fresh) process; return a dict."""
    import warnings

    from benchmarks._memory import peak_rss_mb

    X_train, y_train, X_test, y_test = scale_data(spec["n_train"])
    if spec["method"] == "skmetric NCA":
        from skmetric import NCA

        def make():
            return NCA(random_state=0, **spec.get("params", {}))
    else:
        from sklearn.neighbors import NeighborhoodComponentsAnalysis

        def make():
            return NeighborhoodComponentsAnalysis(random_state=0)
    with warnings.catch_warnings():  # the warm-up's warnings concern no timed fit
        warnings.simplefilter("ignore")
        make().fit(X_train[:500], y_train[:500])
    before = peak_rss_mb()
    estimator = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
    peak = peak_rss_mb()
    accuracy = knn_accuracy(estimator.transform(X_train), y_train,
                            estimator.transform(X_test), y_test, 3)
    return {"fit_time": fit_time, "peak_mb": peak, "peak_before_mb": before,
            "accuracy": accuracy, "n_iter": getattr(estimator, "n_iter_", None),
            "warnings": sorted({str(w.message)[:120] for w in caught})}


def run_scale_point(method, n_train, timeout, params=None):
    spec = json.dumps({"method": method, "n_train": n_train, "params": params or {}})
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_classic", "--scale-child", spec],
            capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"no result within {timeout:.0f} s"}
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        return {"status": "failed", "reason": tail[:200],
                "wall": time.perf_counter() - start}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


# skmetric's NCA is exact up to EXACT_UP_TO training rows and truncated to the
# TRUNCATED_NEIGHBORS nearest candidates beyond; scikit-learn's NCA runs up to
# SKLEARN_UP_TO rows. SKLEARN_MAX_ITER and SKLEARN_TOL are scikit-learn's defaults.
EXACT_UP_TO, TRUNCATED_NEIGHBORS, SKLEARN_UP_TO = 16000, 50, 8000
SKLEARN_MAX_ITER, SKLEARN_TOL = 50, 1e-5


def scale_params(n_train):
    """skmetric's NCA arguments at ``n_train`` rows (module docstring)."""
    if n_train > EXACT_UP_TO:
        return {"n_neighbors": TRUNCATED_NEIGHBORS}
    return {"max_iter": SKLEARN_MAX_ITER, "tol": SKLEARN_TOL / n_train}


def scale_table(sizes, timeout, with_sklearn_up_to=SKLEARN_UP_TO):
    lines = ["| method | n_train | fit (s) | s / iteration | peak VmHWM (MB) | "
             "VmHWM before fit (MB) | 3-NN accuracy | iterations | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n_train in sizes:
        methods = ["skmetric NCA"]
        if n_train <= with_sklearn_up_to:
            methods.append("sklearn NCA")
        for method in methods:
            params = scale_params(n_train) if method == "skmetric NCA" else {}
            result = run_scale_point(method, n_train, timeout, params)
            label = method
            if params:
                label += " (" + ", ".join(f"{k}={v:.3g}" if isinstance(v, float)
                                          else f"{k}={v}"
                                          for k, v in params.items()) + ")"
            if result["status"] != "ok":
                lines.append(f"| {label} | {n_train} | - | - | - | - | - | - | "
                             f"{result['status']}: {result['reason']} |")
            else:
                notes = "; ".join(result["warnings"]) or ""
                per_iter = (f"{result['fit_time'] / result['n_iter']:.2f}"
                            if result["n_iter"] else "-")
                lines.append(
                    f"| {label} | {n_train} | {result['fit_time']:.1f} | "
                    f"{per_iter} | {result['peak_mb']:.0f} | "
                    f"{result['peak_before_mb']:.0f} | {result['accuracy']:.4f} | "
                    f"{result['n_iter']} | {notes} |")
            print(lines[-1], flush=True)
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 splits of iris, no peers, one scale point of "
                             "300 rows: a smoke test")
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--learners", default=None,
                        help="comma-separated names of LEARNERS (default: all)")
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds allowed for one peer worker (per fit)")
    parser.add_argument("--scale", action="store_true", help="run part 2")
    parser.add_argument("--scale-only", action="store_true")
    parser.add_argument("--scale-sizes", default="8000,16000,100000")
    parser.add_argument("--scale-timeout", type=float, default=3600.0)
    parser.add_argument("--scale-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--save", default=None, help="write raw records (JSON, CSV)")
    args = parser.parse_args(argv)
    if args.scale_child:
        print(json.dumps(_scale_child(json.loads(args.scale_child))))
        return 0

    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    wanted = args.learners.split(",") if args.learners else None
    learners = [lr for lr in LEARNERS if wanted is None or lr.name in wanted]
    n_splits, peers = args.n_splits, not args.no_peers
    sizes = [int(s) for s in args.scale_sizes.split(",")]
    if args.quick:
        names, n_splits, peers = names[:1] if args.datasets else ["iris"], 2, False
        sizes = [300]
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} cores (a shared machine)")
    present = [lr for lr in learners if lr.factory() is not None]
    absent = [lr.name for lr in learners if lr.factory() is None]
    if absent:
        print(f"not in this checkout of skmetric (skipped): {', '.join(absent)}")
    records = []
    if not args.scale_only:
        found = set(available_datasets())
        for name in names:
            if name not in found:
                print(f"\n{name}: not found")
                continue
            new = run_dataset(name, learners, n_splits=n_splits, peers=peers,
                              timeout=args.timeout)
            records += new
            print(f"\n### {name}\n")
            print(markdown_table(summarize(new)), flush=True)
        print("\n### Summary\n")
        print("\n".join(learner_summary(summarize(records), present)), flush=True)
    if (args.scale or args.scale_only or args.quick) and \
            any(lr.name == "NCA" for lr in present):
        print("\n### NCA at scale (50 features, 10 classes, synthetic)\n")
        scale_table(sizes, args.scale_timeout)
    load = os.getloadavg()
    print(f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.save:
        save_results(args.save, records, library_versions())
    return 0


if __name__ == "__main__":
    sys.exit(main())
