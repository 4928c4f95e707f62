"""LMNN with its defaults on large ``make_classification`` problems, one process each.

Cases (``random_state=0`` for the data and for LMNN, every other parameter at its
default, no scaling):

- ``100k``: ``n_samples=100_000, n_features=50, n_informative=20, n_redundant=0,
  n_classes=10, n_clusters_per_class=1`` (target: fit <= 60 s);
- ``1m``: ``n_samples=1_000_000, n_features=16, n_informative=12, n_redundant=0,
  n_classes=26, n_clusters_per_class=1`` (target: fit <= 15 min);

both with the fitting process's peak memory below 4 GB. Each case runs in a fresh
``python`` (never a fork), which makes the data, warms the kernels up on 500 rows,
fits, and reads its own high-water mark (``VmHWM``, :mod:`benchmarks._memory`):
the peak of the whole process, data and warm-up included. The child prints one
JSON line: fit seconds (wall and CPU of the process, all threads), iterations,
impostor searches, convergence, peak MB. On a shared machine the wall time
depends on the load: the load average is printed with the table.

    python -m benchmarks.bench_lmnn_scale [--cases 100k,1m] [--n-jobs N]
        [--timeout S] [--save PATH]
"""

import argparse
import json
import os
import subprocess
import sys
import time

CASES = {
    "100k": dict(n_samples=100_000, n_features=50, n_informative=20, n_redundant=0,
                 n_classes=10, n_clusters_per_class=1, random_state=0),
    "1m": dict(n_samples=1_000_000, n_features=16, n_informative=12, n_redundant=0,
               n_classes=26, n_clusters_per_class=1, random_state=0),
}
TARGET_SECONDS = {"100k": 60.0, "1m": 900.0}
TARGET_MB = 4096.0


def child(case, n_jobs):
    """Fit one case in this process and print the JSON line."""
    import contextlib
    import io
    import re
    import warnings

    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning

    from benchmarks._memory import peak_rss_mb
    from skmetric import LMNN

    X, y = make_classification(**CASES[case])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the warm-up only
        LMNN(max_iter=3, random_state=0, n_jobs=n_jobs).fit(X[:500], y[:500])
    model = LMNN(random_state=0, verbose=1, n_jobs=n_jobs)
    out = io.StringIO()
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(out):
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    searches = re.search(r"(\d+) impostor searches", out.getvalue())
    print(json.dumps({
        "case": case, "n_samples": X.shape[0], "n_features": X.shape[1],
        "fit_seconds": seconds, "cpu_seconds": cpu_seconds, "n_iter": model.n_iter_,
        "searches": int(searches.group(1)) if searches else None,
        "converged": not any(issubclass(w.category, ConvergenceWarning)
                             for w in caught),
        "peak_mb": peak_rss_mb(), "summary": out.getvalue().strip().splitlines()[-1],
    }))


def run_case(case, n_jobs, timeout):
    command = [sys.executable, "-m", "benchmarks.bench_lmnn_scale", "--child", case]
    if n_jobs is not None:
        command += ["--n-jobs", str(n_jobs)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "error": f"timeout after {timeout:.0f} s"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"case": case, "error": " ".join(done.stderr.split()[-40:])}


def table(rows):
    lines = ["| case | n | d | fit (s) | CPU (s) | target (s) | iterations | searches "
             "| converged | peak (MB) | target met |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['case']} | {row['error']} | | | | | | | | | |")
            continue
        met = (row["fit_seconds"] <= TARGET_SECONDS[row["case"]]
               and row["peak_mb"] < TARGET_MB)
        lines.append(
            f"| {row['case']} | {row['n_samples']} | {row['n_features']} | "
            f"{row['fit_seconds']:.1f} | {row.get('cpu_seconds', float('nan')):.1f} | "
            f"{TARGET_SECONDS[row['case']]:.0f} | "
            f"{row['n_iter']} | {row['searches']} | "
            f"{'yes' if row['converged'] else 'no'} | {row['peak_mb']:.0f} | "
            f"{'yes' if met else 'no'} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="100k")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--save", default=None, help="write the rows as JSON")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.n_jobs)
        return
    rows = []
    for case in args.cases.split(","):
        print(f"[bench_lmnn_scale] {case} (load average "
              f"{os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        rows.append(run_case(case, args.n_jobs, args.timeout))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    print(f"\nload average after: {os.getloadavg()}")
    if args.save:
        with open(args.save, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
