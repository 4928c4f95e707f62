"""Import time and numba compilation overhead, cold (empty cache) and warm.

Each estimator's first small fit (iris) is measured in a fresh interpreter of its
own, with ``NUMBA_CACHE_DIR`` pointing at a new empty folder: it compiles every
kernel its path calls (cold), with nothing compiled before it by another
estimator. A second interpreter then fits again from the filled cache (warm). The
first fit's time is the user's cost of a first fit; the second fit in the same
process shows the fit itself. Prints a markdown table of medians, with the load
average.

    python -m benchmarks.bench_compile [--repeats 3] [--probes LMNN,DeepTriplet]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_PROBE = r"""
import importlib, json, sys, time, warnings
t0 = time.perf_counter()
import numpy as np
import skmetric
t_import = time.perf_counter() - t0
from sklearn.datasets import load_iris
X, y = load_iris(return_X_y=True)
warnings.simplefilter("ignore")
module, cls, params = json.loads(sys.argv[1])
make = getattr(importlib.import_module(module), cls)
times = {"import skmetric": t_import}
for label in ("first fit", "second fit"):
    t = time.perf_counter()
    make(random_state=0, **params).fit(X, y)
    times[label] = time.perf_counter() - t
print(json.dumps(times))
"""

PROBES = {
    "MahalanobisXing": ("skmetric", "MahalanobisXing", {}),
    "MahalanobisXing(diagonal=True)": ("skmetric", "MahalanobisXing",
                                       {"diagonal": True}),
    "LMNN": ("skmetric", "LMNN", {}),
    "DeepSiamese": ("skmetric.deep", "DeepSiamese", {"max_iter": 2}),
    "DeepTriplet": ("skmetric.deep", "DeepTriplet", {"max_iter": 2}),
}


def _run_probe(cache_dir, probe):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(probe)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probes", default=None,
                        help=f"comma-separated, among {', '.join(PROBES)}")
    args = parser.parse_args(argv)
    names = args.probes.split(",") if args.probes else list(PROBES)
    loads = [os.getloadavg()[0]]
    cold = {name: [] for name in names}
    warm = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:  # interleaved, so that load changes hit every probe
            with tempfile.TemporaryDirectory() as cache_dir:
                cold[name].append(_run_probe(cache_dir, PROBES[name]))
                warm[name].append(_run_probe(cache_dir, PROBES[name]))
    loads.append(os.getloadavg()[0])
    print(f"| estimator (iris) | import, cold (s) | first fit, empty cache (s) | "
          f"second fit (s) | first fit, filled cache (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        def med(runs, key):
            return statistics.median(run[key] for run in runs)
        print(f"| {name} | {med(cold[name], 'import skmetric'):.2f} | "
              f"{med(cold[name], 'first fit'):.2f} | "
              f"{med(cold[name], 'second fit'):.3f} | "
              f"{med(warm[name], 'first fit'):.3f} |")
    print(f"\nMedians of {args.repeats} fresh interpreters each; 1-minute load "
          f"average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end.")


if __name__ == "__main__":
    main()
