"""Peak memory of fit and transform as a function of n, each in a fresh process.

Data: ``make_classification`` with 50 features (10 informative, 10 redundant) and
10 classes, float64. For every estimator and n, a new interpreter imports skmetric,
makes the data, warms up (a fit and a transform on 200 rows, so that numba's
kernels are compiled or loaded and BLAS is initialised), then measures:

- fit: the peak resident memory during ``fit(X, y)`` above the resident memory
  just before it (data, imports and warm-up included in that baseline);
- transform: the same for ``transform(X)`` (the output array included).

Whether the measured fit converged is shown (a ``ConvergenceWarning`` during it
counts as no); only the untimed warm-up's warnings are silenced.

The child runs with a fixed glibc mmap threshold and trims the heap before each
step, so memory freed by one step is not silently reused by the next.

Memory is read from ``/proc/self/status`` (VmHWM, VmRSS; see
:mod:`benchmarks._memory`), so this needs Linux. The kernel's peak counter is reset
before each step (``/proc/self/clear_refs``), so each step's peak is its own; where
that reset is refused the baseline is the peak after the warm-up, which can only
under-state a step whose peak stays below an earlier one. The target: every linear
estimator's fit peak under 2 GB at n = 100,000 (no n x n matrix). Deep estimators
are shown too (their memory should not grow with n beyond the data), with a short
training.

    python -m benchmarks.bench_memory [--quick] [--sizes 1000,10000,100000]
        [--lmnn-max-iter 50]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

TARGET_MB = 2048
# glibc: a fixed mmap threshold, so that every array above 128 KiB gets its own
# mapping and goes back to the system when freed (by default the threshold grows
# after the first large free, and freed arrays then linger in the heap).
_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 5_000)

_CHILD = r"""
import ctypes, json, os, sys, time, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.datasets import make_classification
from benchmarks._memory import current_rss_mb, peak_rss_mb

name, n_samples, lmnn_max_iter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deep = dict(max_iter=2, random_state=0)
if name.startswith("MahalanobisXing"):
    from skmetric import MahalanobisXing
    make = lambda: MahalanobisXing(diagonal="diagonal" in name, random_state=0)
elif name == "LMNN":
    from skmetric import LMNN
    make = lambda: LMNN(max_iter=lmnn_max_iter, random_state=0)
else:
    import skmetric.deep
    make = lambda: getattr(skmetric.deep, name)(**deep)

X, y = make_classification(n_samples=n_samples, n_features=50, n_informative=10,
                           n_redundant=10, n_classes=10, random_state=0)
with warnings.catch_warnings():  # the untimed warm-up only
    warnings.simplefilter("ignore")
    make().fit(X[:200], y[:200]).transform(X[:200])


def reset_peak():
    # Hand freed memory back to the system first (glibc), so that the next step
    # cannot hide its allocations in pages an earlier step left behind; then, on
    # Linux, writing 5 to clear_refs resets the peak RSS to the current RSS.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_and_current():
    return peak_rss_mb(), current_rss_mb()


def measure(step):
    exact = reset_peak()
    base = peak_and_current()[1] if exact else peak_and_current()[0]
    start = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - start
    return result, peak_and_current()[0] - base, seconds, exact


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model, fit_mb, fit_s, exact = measure(lambda: make().fit(X, y))
converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
Z, transform_mb, transform_s, _ = measure(lambda: model.transform(X))
print(json.dumps({"fit_mb": fit_mb, "fit_s": fit_s, "transform_mb": transform_mb,
                  "transform_s": transform_s, "exact": exact, "converged": converged,
                  "data_mb": X.nbytes / 2**20, "out_mb": Z.nbytes / 2**20}))
"""


def estimators():
    """(name, linear) of every estimator that imports here."""
    names = [("MahalanobisXing", True), ("MahalanobisXing(diagonal)", True)]
    try:
        from skmetric import LMNN  # noqa: F401
        names.append(("LMNN", True))
    except ImportError:
        pass
    try:
        from skmetric.deep import DeepSiamese, DeepTriplet  # noqa: F401
        names += [("DeepSiamese", False), ("DeepTriplet", False)]
    except ImportError:
        pass
    return names


def run_one(name, n_samples, lmnn_max_iter):
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, name, str(n_samples), str(lmnn_max_iter)],
        capture_output=True, text=True, env=dict(os.environ, **_MALLOC_ENV),
        cwd=Path(__file__).resolve().parent.parent,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"n in {QUICK_SIZES} only: a smoke run")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated n, for example 1000,10000,100000")
    parser.add_argument("--lmnn-max-iter", type=int, default=50,
                        help="LMNN iterations (memory is reached early; time is not)")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))

    print("| estimator | n | X (MB) | fit peak (MB) | fit (s) | converged "
          "| transform peak (MB) | transform (s) |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    over = []
    exact = True
    for name, linear in estimators():
        for n_samples in sizes:
            r = run_one(name, n_samples, args.lmnn_max_iter)
            if "error" in r:
                print(f"| {name} | {n_samples} | failed: {r['error']} | | | | | |")
                over.append((name, n_samples, "failed"))
                continue
            exact &= r["exact"]
            print(f"| {name} | {n_samples} | {r['data_mb']:.1f} | {r['fit_mb']:.1f} "
                  f"| {r['fit_s']:.2f} | {'yes' if r['converged'] else 'no (warned)'} "
                  f"| {r['transform_mb']:.1f} "
                  f"| {r['transform_s']:.3f} |", flush=True)
            if linear and r["fit_mb"] > TARGET_MB:
                over.append((name, n_samples, f"{r['fit_mb']:.0f} MB"))
    print()
    print("Peaks are resident memory above the level just before the step"
          + ("." if exact else " (peak counter not reset: a lower bound, see "
                               "the docstring)."))
    if over:
        print(f"Target missed (linear fit peak under {TARGET_MB} MB): {over}")
    else:
        print(f"Target met: every linear estimator's fit peak is under {TARGET_MB} MB "
              f"up to n = {max(sizes)}.")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
