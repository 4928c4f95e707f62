"""First fit of every estimator with an empty numba cache, and the import time.

Each estimator's first small fit is measured in a fresh interpreter of its own, with
``NUMBA_CACHE_DIR`` pointing at a new empty folder: it compiles every kernel its
path calls (cold), with nothing compiled before it by another estimator. A second
interpreter then fits again from the filled cache (warm). The first fit's time is
the user's cost of a first fit (the import of skmetric is timed apart, before it);
the second fit in the same process shows the fit itself. The data are small: iris
(the labelled learners, MLKR with the labels as targets), pairs, triplets,
quadruplets and chunklets of iris rows (the tuple learners), 200 user-item
interactions (CollaborativeMetricLearning) and 120 rows of 12 tracklets
(DeepTripletTracklets). Prints a markdown table of medians, with the load average;
beside each first fit's wall time, its CPU time (the process's, all threads), the
steadier figure on a shared machine, where wall time also counts the waits for a
core.

``--baseline DIR`` times the same probes, interleaved, with the skmetric package of
another source tree (for example an export of the main branch), and adds its
columns and the ratio. ``--breakdown`` runs each probe once more with numba's
compile events recorded and lists, per estimator, every kernel compiled, its
signatures and its own compile time (nested compilations excluded).

    python -m benchmarks.bench_compile [--repeats 3] [--probes LMNN,DeepTriplet]
        [--baseline DIR] [--breakdown] [--no-warm]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

_PROBE = r"""
import importlib, json, sys, time, warnings
t0 = time.perf_counter()
import numpy as np
import skmetric
t_import = time.perf_counter() - t0
spec = json.loads(sys.argv[1])
module, cls, params, kind = spec["probe"]


def make_data(kind):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    if kind == "iris":
        return (X, y), {}
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    if kind == "pairs":
        pairs = rng.choice(len(X), size=(400, 2))
        return (pairs, np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)), {
            "preprocessor": X}
    if kind == "triplets":
        rows = rng.choice(len(X), size=(3000, 3))
        keep = (y[rows[:, 0]] == y[rows[:, 1]]) & (y[rows[:, 0]] != y[rows[:, 2]])
        return (rows[keep & (rows[:, 0] != rows[:, 1])][:400],), {"preprocessor": X}
    if kind == "quadruplets":
        rows = rng.choice(len(X), size=(2000, 4))
        keep = (y[rows[:, 0]] == y[rows[:, 1]]) & (y[rows[:, 2]] != y[rows[:, 3]])
        return (rows[keep & (rows[:, 0] != rows[:, 1])][:400],), {"preprocessor": X}
    if kind == "chunklets":
        return (np.arange(100).reshape(20, 5),), {"preprocessor": X}
    if kind == "interactions":
        users = np.repeat(np.arange(40), 5)
        items = ((users % 2) * 10 + np.tile(np.arange(5), 40)
                 + rng.integers(0, 5, 200))
        return (np.unique(np.column_stack([users, items]), axis=0),), {}
    if kind == "tracklets":
        look = rng.normal(size=(12, 8))
        tracklets = np.repeat(np.arange(12), 10)
        frames = np.arange(120) % 10 + 10 * (tracklets // 3)
        X = look[tracklets] + rng.normal(scale=0.5, size=(120, 8))
        return (X, tracklets), {"frames": frames}
    raise ValueError(kind)


args, fit_params = make_data(kind)
estimator_class = getattr(importlib.import_module(module), cls)
preprocessor = fit_params.pop("preprocessor", None)


def make():
    estimator = estimator_class(**params)
    names = estimator.get_params()
    extra = {"random_state": 0} if "random_state" in names else {}
    if preprocessor is not None:
        extra["preprocessor"] = preprocessor
    return estimator.set_params(**extra)


compiles = []
if spec.get("breakdown"):
    from numba.core import event

    stack = []

    class Recorder(event.Listener):
        def on_start(self, ev):
            stack.append([time.perf_counter(), 0.0])

        def on_end(self, ev):
            start, nested = stack.pop()
            total = time.perf_counter() - start
            if stack:
                stack[-1][1] += total
            dispatcher = ev.data["dispatcher"]
            compiles.append([
                f"{dispatcher.py_func.__module__.rsplit('.', 1)[-1]}."
                f"{dispatcher.py_func.__qualname__}",
                "(" + ", ".join(str(a) for a in ev.data["args"]) + ")",
                total - nested,
            ])

    event.register("numba:compile", Recorder())

from sklearn.exceptions import ConvergenceWarning
times = {"import skmetric": t_import}
converged = {}
for label in ("first fit", "second fit"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t, cpu = time.perf_counter(), time.process_time()
        make().fit(*args, **fit_params)
        times[label] = time.perf_counter() - t
        times[f"{label} cpu"] = time.process_time() - cpu
    converged[label] = not any(issubclass(w.category, ConvergenceWarning)
                               for w in caught)
print(json.dumps({"times": times, "converged": converged, "compiles": compiles}))
"""

# name: (module, class, constructor parameters, data). The deep learners run two
# epochs: their first fit is then mostly compilation, as with the other learners.
PROBES = {
    "MahalanobisXing": ("skmetric", "MahalanobisXing", {}, "iris"),
    "MahalanobisXing(diagonal=True)": ("skmetric", "MahalanobisXing",
                                       {"diagonal": True}, "iris"),
    "MahalanobisXingPairs": ("skmetric", "MahalanobisXingPairs", {}, "pairs"),
    "LMNN": ("skmetric", "LMNN", {}, "iris"),
    "NCA": ("skmetric", "NCA", {}, "iris"),
    "MLKR": ("skmetric", "MLKR", {}, "iris"),
    "ITML": ("skmetric", "ITML", {}, "iris"),
    "ITMLPairs": ("skmetric", "ITMLPairs", {}, "pairs"),
    "SDML": ("skmetric", "SDML", {}, "iris"),
    "SDMLPairs": ("skmetric", "SDMLPairs", {}, "pairs"),
    "LSML": ("skmetric", "LSML", {}, "iris"),
    "LSMLQuadruplets": ("skmetric", "LSMLQuadruplets", {}, "quadruplets"),
    "SCML": ("skmetric", "SCML", {}, "iris"),
    "SCMLTriplets": ("skmetric", "SCMLTriplets", {}, "triplets"),
    "Covariance": ("skmetric", "Covariance", {}, "iris"),
    "LFDA": ("skmetric", "LFDA", {}, "iris"),
    "RCA": ("skmetric", "RCA", {}, "iris"),
    "RCAChunks": ("skmetric", "RCAChunks", {}, "chunklets"),
    "DeepSiamese": ("skmetric.deep", "DeepSiamese", {"max_iter": 2}, "iris"),
    "DeepTriplet": ("skmetric.deep", "DeepTriplet", {"max_iter": 2}, "iris"),
    "DeepSiamesePairs": ("skmetric.deep", "DeepSiamesePairs", {"max_iter": 2},
                         "pairs"),
    "DeepTripletTriplets": ("skmetric.deep", "DeepTripletTriplets",
                            {"max_iter": 2}, "triplets"),
    "DeepTripletTracklets": ("skmetric.deep", "DeepTripletTracklets",
                             {"max_iter": 2}, "tracklets"),
    "CollaborativeMetricLearning": ("skmetric.recommend",
                                    "CollaborativeMetricLearning", {},
                                    "interactions"),
}


def _run_probe(cache_dir, probe, source=_ROOT, breakdown=False):
    """Run one probe in a fresh interpreter importing skmetric from ``source``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_DISABLE_JIT", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(source)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    out = subprocess.run(
        [sys.executable, "-c", _PROBE,
         json.dumps({"probe": probe, "breakdown": breakdown})],
        env=env, cwd=source, capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"probe {probe} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(probe, source, warm):
    """Times of a cold run (empty cache) and, if ``warm``, a run from its cache."""
    with tempfile.TemporaryDirectory() as cache_dir:
        result = _run_probe(cache_dir, probe, source)
        cold = dict(result["times"], converged=all(result["converged"].values()))
        hot = _run_probe(cache_dir, probe, source)["times"] if warm else None
    return cold, hot


def _median(runs, key):
    return statistics.median(run[key] for run in runs)


def _breakdown(names, source):
    print(f"\n## Kernels compiled by each first fit (own compile seconds), {source}\n")
    for name in names:
        with tempfile.TemporaryDirectory() as cache_dir:
            result = _run_probe(cache_dir, PROBES[name], source, breakdown=True)
        compiles = sorted(result["compiles"], key=lambda c: -c[2])
        total = sum(c[2] for c in compiles)
        kernels = {c[0] for c in compiles}
        print(f"### {name}: {len(compiles)} compilations of {len(kernels)} kernels, "
              f"{total:.2f} s of {result['times']['first fit']:.2f} s\n")
        for kernel, signature, seconds in compiles:
            print(f"- {seconds:6.3f} s  {kernel}{signature}")
        print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probes", default=None,
                        help=f"comma-separated, among {', '.join(PROBES)}")
    parser.add_argument("--baseline", default=None,
                        help="a source tree whose skmetric is timed alongside")
    parser.add_argument("--breakdown", action="store_true",
                        help="list the kernels each first fit compiles")
    parser.add_argument("--no-warm", dest="warm", action="store_false",
                        help="skip the runs from a filled cache")
    args = parser.parse_args(argv)
    names = args.probes.split(",") if args.probes else list(PROBES)
    unknown = sorted(set(names) - set(PROBES))
    if unknown:
        parser.error(f"unknown probes {unknown}; choose among {', '.join(PROBES)}")
    sources = {"": _ROOT}
    if args.baseline:
        sources["baseline"] = Path(args.baseline).resolve()
    if args.repeats < 1:  # the breakdown alone
        for path in sources.values():
            _breakdown(names, path)
        return
    loads = [os.getloadavg()]
    cold = {(s, n): [] for s in sources for n in names}
    warm = {(s, n): [] for s in sources for n in names}
    for _ in range(args.repeats):
        for name in names:  # interleaved, so that load changes hit every probe
            for source, path in sources.items():
                c, w = _measure(PROBES[name], path, args.warm)
                cold[source, name].append(c)
                warm[source, name].append(w)
    loads.append(os.getloadavg())

    header = ["estimator", "import (s)", "first fit, empty cache (s)",
              "its CPU (s)", "second fit (s)", "fits converged"]
    if args.warm:
        header.append("first fit, filled cache (s)")
    if args.baseline:
        header += ["baseline import (s)", "baseline first fit, empty cache (s)",
                   "its CPU (s)", "first fit / baseline", "CPU / baseline"]
    print("| " + " | ".join(header) + " |")
    print("| --- " + "| ---: " * (len(header) - 1) + "|")
    for name in names:
        runs = cold["", name]
        row = [name, f"{_median(runs, 'import skmetric'):.2f}",
               f"{_median(runs, 'first fit'):.2f}",
               f"{_median(runs, 'first fit cpu'):.2f}",
               f"{_median(runs, 'second fit'):.3f}",
               f"{sum(run['converged'] for run in runs)} of {len(runs)} runs"]
        if args.warm:
            row.append(f"{_median(warm['', name], 'first fit'):.3f}")
        if args.baseline:
            base = cold["baseline", name]
            row += [f"{_median(base, 'import skmetric'):.2f}",
                    f"{_median(base, 'first fit'):.2f}",
                    f"{_median(base, 'first fit cpu'):.2f}",
                    f"{_median(runs, 'first fit') / _median(base, 'first fit'):.2f}",
                    f"{_median(runs, 'first fit cpu') / _median(base, 'first fit cpu'):.2f}"]
        print("| " + " | ".join(row) + " |")
    (s1, s5, _), (e1, e5, _) = loads
    print(f"\nMedians of {args.repeats} fresh interpreters each (one at a time, "
          f"interleaved); load average (1 min, 5 min) {s1:.2f}, {s5:.2f} at the "
          f"start, {e1:.2f}, {e5:.2f} at the end. Source: {_ROOT}"
          + (f"; baseline: {sources['baseline']}" if args.baseline else "") + ".")
    if args.breakdown:
        for path in sources.values():
            _breakdown(names, path)


if __name__ == "__main__":
    main()
