"""CollaborativeMetricLearning's default fit on MovieLens, one thread against two.

The fit of ``python -m benchmarks.bench_recommend`` (the training part of the
``random`` protocol: each user's random 80% of their positives, ratings >= 4,
seed 0), timed with ``n_jobs=1`` and ``n_jobs=2`` side by side in one process:
one untimed warm-up fit per setting (numba compilation), then ``--repeats``
rounds, each fitting every setting once in turn, so that a change in the load
of the machine falls on every setting alike. The same fits with
``covariance_weight=0`` show the share of the covariance regulariser.

Printed per setting: the median wall and CPU seconds of the fit, the epochs,
the wall seconds per epoch, whether it converged, and the load average. The
fitted vectors of ``n_jobs=1`` and ``n_jobs=2`` are compared too (they must be
bit-identical).

    python -m benchmarks.bench_recommend_threads [--repeats 3] [--max-users N]
"""

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from benchmarks.bench_recommend import load_movielens, protocol_split
from skmetric.recommend import CollaborativeMetricLearning

SETTINGS = [
    ("defaults", 1, {}), ("defaults", 2, {}),
    ("covariance_weight=0", 1, {"covariance_weight": 0.0}),
    ("covariance_weight=0", 2, {"covariance_weight": 0.0}),
]


def timed_fit(X, n_jobs, params):
    """One fit: (wall s, CPU s, epochs, converged, user vectors)."""
    model = CollaborativeMetricLearning(random_state=0, n_jobs=n_jobs, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(X)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return wall, cpu, model.n_iter_, converged, model.user_embeddings_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-users", type=int, default=None,
                        help="keep the first N users (a quick check)")
    args = parser.parse_args(argv)
    data = load_movielens(max_users=args.max_users)
    train, _ = protocol_split("random", data["X"], data["times"])
    X = data["X"][train]
    for _, n_jobs, params in SETTINGS:  # warm-up: compile both variants
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CollaborativeMetricLearning(random_state=0, n_jobs=n_jobs, max_iter=1,
                                        **params).fit(X)
    results = {i: [] for i in range(len(SETTINGS))}
    for _ in range(args.repeats):
        for i, (_, n_jobs, params) in enumerate(SETTINGS):
            results[i].append(timed_fit(X, n_jobs, params))
    load = os.getloadavg()
    print(f"CML fit on {X.shape[0]} interactions (MovieLens, random protocol's "
          f"training part); median of {args.repeats}")
    print("| setting | n_jobs | fit (s) | CPU (s) | epochs | s / epoch | converged |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for i, (name, n_jobs, _) in enumerate(SETTINGS):
        runs = results[i]
        wall = float(np.median([r[0] for r in runs]))
        cpu = float(np.median([r[1] for r in runs]))
        epochs = runs[0][2]
        print(f"| {name} | {n_jobs} | {wall:.2f} | {cpu:.2f} | {epochs} | "
              f"{wall / epochs:.3f} | {'yes' if runs[0][3] else 'no'} |")
    for i in range(0, len(SETTINGS), 2):
        same = np.array_equal(results[i][0][4], results[i + 1][0][4])
        print(f"{SETTINGS[i][0]}: n_jobs=1 and n_jobs=2 vectors "
              f"{'bit-identical' if same else 'DIFFER'}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} cores; the machine may be shared)")


if __name__ == "__main__":
    main()
