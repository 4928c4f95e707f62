"""CollaborativeMetricLearning at the size of MovieLens-20M, in a fresh process.

The data are synthetic implicit feedback the size of MovieLens-20M: 138 493 users,
27 278 items, 20 000 000 distinct (user, item) interactions. Item popularity is a
power law (item j is drawn with probability proportional to ``(j + 1) ** -0.9``,
after a random relabelling of the ids; a user's repeated draws are drawn again,
after 10 rounds uniformly) and user activity is log-normal (every user has at
least 20 interactions, as in MovieLens, and at most n_items / 20). The parent process makes the
data once (``--seed``, default 0) and saves them to a temporary ``.npy`` file; a
fresh ``python`` (never a fork) loads them, warms the kernels up on a small fit,
fits one epoch with the estimator's defaults (``max_iter=1``, so the fit ends with
a ``ConvergenceWarning``, reported), then recommends 10 items to every user, and
reads its own high-water mark (``VmHWM``, :mod:`benchmarks._memory`): the peak of
the whole process, data included.

Printed: the one-epoch fit (wall seconds, setup included: validation, the table
of seen items, the initial vectors), the epoch alone (the fit's own per-epoch
timer, ``verbose=2``), the seconds to recommend 10 items to all users, the peak
MB, the threads, and the load average (the machine may be shared).

Targets: epoch < 60 s on 2 cores, peak < 4 GB.

    python -m benchmarks.bench_recommend_scale [--n-jobs N] [--scale F]
        [--timeout S] [--seed S]

``--scale 0.05`` runs a 5% version (users and interactions scaled, the same
27 278 items) for a quick check.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_USERS, N_ITEMS, N_INTERACTIONS = 138_493, 27_278, 20_000_000
POPULARITY_EXPONENT = 0.9
MIN_PER_USER = 20
TARGET_EPOCH_SECONDS = 60.0
TARGET_MB = 4096.0


def make_interactions(n_users, n_items, n_interactions, seed=0):
    """Distinct (user, item) pairs, power-law item popularity, int32 (n, 2)."""
    rng = np.random.default_rng(seed)
    # User activity: log-normal, at least MIN_PER_USER, summing to n_interactions.
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    extra = n_interactions - MIN_PER_USER * n_users
    counts = MIN_PER_USER + np.floor(activity / activity.sum() * extra).astype(np.int64)
    cap = max(MIN_PER_USER, n_items // 20)
    counts = np.minimum(counts, cap)
    short = n_interactions - counts.sum()
    if cap * n_users < n_interactions:
        raise ValueError("too many interactions for so few users and items")
    while short > 0:  # hand out what the flooring and the cap left, one by one
        room = np.flatnonzero(counts < cap)
        add = rng.choice(room, size=min(short, room.size), replace=False)
        counts[add] += 1
        short = n_interactions - counts.sum()
    weights = (np.arange(1, n_items + 1, dtype=np.float64)) ** -POPULARITY_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    relabel = rng.permutation(n_items)
    keys = np.empty(0, dtype=np.int64)
    missing = counts.copy()
    # Draw items for the users still short of their count, drop repeated pairs,
    # and draw again until every user has exactly its count (after 10 rounds from
    # the uniform distribution, so that heavy users finish).
    rounds = 0
    while missing.sum() > 0:
        who = np.repeat(np.arange(n_users, dtype=np.int64), missing)
        if rounds < 10:
            items = relabel[np.searchsorted(cdf, rng.random(who.size), side="right")
                            .clip(0, n_items - 1)]
        else:
            items = rng.integers(0, n_items, size=who.size)
        rounds += 1
        new = np.unique(who * n_items + items)
        if keys.size:
            at = np.searchsorted(keys, new).clip(0, keys.size - 1)
            new = new[keys[at] != new]
        # Sorted arrays appended and sorted again: timsort merges the two runs.
        keys = np.sort(np.concatenate([keys, new]), kind="stable")
        have = np.bincount(keys // n_items, minlength=n_users)
        missing = counts - have
    out = np.empty((keys.size, 2), dtype=np.int32)
    out[:, 0] = keys // n_items
    out[:, 1] = keys % n_items
    return out


def child(path, n_jobs):
    """Fit one epoch and recommend to everyone in this process; print a JSON line."""
    import contextlib
    import io
    import re
    import warnings

    from benchmarks._memory import peak_rss_mb
    from skmetric.recommend import CollaborativeMetricLearning

    X = np.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warm-up only
        CollaborativeMetricLearning(max_iter=1, random_state=0, n_jobs=n_jobs).fit(
            X[:20_000]).recommend(np.arange(10))
    model = CollaborativeMetricLearning(max_iter=1, random_state=0, verbose=2,
                                        n_jobs=n_jobs)
    out = io.StringIO()
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        model.fit(X)
    fit_seconds = time.perf_counter() - start
    fit_cpu = time.process_time() - cpu_start
    rows = [line for line in out.getvalue().splitlines()
            if re.match(r"\[\w+\]\s+1\s", line)]
    epoch_end = float(rows[0].split()[-1]) if rows else float("nan")
    start = time.perf_counter()
    recommended = model.recommend(np.arange(model.n_users_), n=10)
    recommend_seconds = time.perf_counter() - start
    print(json.dumps({
        "n_interactions": int(X.shape[0]), "n_users": int(model.n_users_),
        "n_items": int(model.n_items_), "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu, "epoch_timer_seconds": epoch_end,
        "recommend_seconds": recommend_seconds,
        "recommended_shape": list(recommended.shape),
        "warnings": sorted({type(w.message).__name__ for w in caught}),
        "peak_mb": peak_rss_mb(),
    }))


def run(path, n_jobs, timeout):
    command = [sys.executable, "-m", "benchmarks.bench_recommend_scale", "--child",
               str(path)] + ([] if n_jobs is None else ["--n-jobs", str(n_jobs)])
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=timeout, cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr
                else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.n_jobs)
        return
    from skmetric._threads import effective_n_threads

    n_users = max(100, int(N_USERS * args.scale))
    n_items = N_ITEMS
    n_interactions = max(MIN_PER_USER * n_users, int(N_INTERACTIONS * args.scale))
    start = time.perf_counter()
    X = make_interactions(n_users, n_items, n_interactions, args.seed)
    made = time.perf_counter() - start
    popularity = np.sort(np.bincount(X[:, 1], minlength=n_items))[::-1]
    top_share = popularity[: max(1, n_items // 100)].sum() / X.shape[0]
    print(f"data: {X.shape[0]} interactions, {n_users} users, {n_items} items "
          f"(made in {made:.1f} s); the top 1% of items hold {100 * top_share:.1f}% "
          "of the interactions")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "interactions.npy"
        np.save(path, X)
        del X
        result = run(path, args.n_jobs, args.timeout)
    load = os.getloadavg()
    threads = effective_n_threads(args.n_jobs)
    if "error" in result:
        print(f"failed: {result['error']}")
        return
    print("| interactions | threads | fit, 1 epoch (s) | its CPU (s) | epoch (s) | "
          "recommend 10 to all users (s) | peak MB | warnings |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {result['n_interactions']} | {threads} | {result['fit_seconds']:.1f} | "
          f"{result['fit_cpu_seconds']:.1f} | "
          f"{result['epoch_timer_seconds']:.1f} | {result['recommend_seconds']:.1f} | "
          f"{result['peak_mb']:.0f} | {', '.join(result['warnings']) or '-'} |")
    if args.scale != 1.0:
        print(f"(scale {args.scale}: the targets concern the full size; load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, shared machine)")
        return
    print(f"targets: epoch < {TARGET_EPOCH_SECONDS:.0f} s "
          f"({'met' if result['epoch_timer_seconds'] < TARGET_EPOCH_SECONDS else 'missed'}),"
          f" peak < {TARGET_MB:.0f} MB "
          f"({'met' if result['peak_mb'] < TARGET_MB else 'missed'}); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"(shared machine, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
