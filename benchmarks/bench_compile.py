"""Import time and numba compilation overhead, cold (empty cache) and warm.

Each measurement runs in a fresh interpreter with ``NUMBA_CACHE_DIR`` pointing at a
temporary folder: the first run finds it empty and compiles every kernel it calls
(cold), the next runs load the compiled code from it (warm). Prints a markdown
table of medians.

    python -m benchmarks.bench_compile [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_PROBE = r"""
import json, time, warnings
t0 = time.perf_counter()
import numpy as np
import skmetric
t_import = time.perf_counter() - t0
from sklearn.datasets import load_iris
X, y = load_iris(return_X_y=True)
warnings.simplefilter("ignore")
times = {"import skmetric": t_import}
PROBES = [
    ("MahalanobisXing", "skmetric", "MahalanobisXing", {}),
    ("MahalanobisXing(diagonal=True)", "skmetric", "MahalanobisXing",
     {"diagonal": True}),
    ("LMNN", "skmetric", "LMNN", {}),
    ("DeepSiamese", "skmetric.deep", "DeepSiamese", {"max_iter": 2}),
    ("DeepTriplet", "skmetric.deep", "DeepTriplet", {"max_iter": 2}),
]
import importlib
for name, module, cls, params in PROBES:
    try:
        make = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        continue
    for label in ("first fit", "second fit"):
        t = time.perf_counter()
        make(random_state=0, **params).fit(X, y)
        times[f"{label}: {name}"] = time.perf_counter() - t
print(json.dumps(times))
"""


def _run_probe(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(_run_probe(cache_dir))
            warm.append(_run_probe(cache_dir))
    print(f"| step | cold (s), median of {args.repeats} | warm (s) |")
    print("| --- | ---: | ---: |")
    for key in cold[0]:
        c = statistics.median(run[key] for run in cold)
        w = statistics.median(run[key] for run in warm)
        print(f"| {key} | {c:.3f} | {w:.3f} |")


if __name__ == "__main__":
    main()
