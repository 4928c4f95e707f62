"""One core against all cores: fit times side by side, alternating, medians.

Each case is fitted ``--repeats`` times with ``n_jobs=1`` and with ``n_jobs=-1``,
in alternating order (1, all, all, 1, 1, all, ...) in one process after a warm-up
fit, so that the two see the same machine load on average; the table gives the
median of each and their ratio (the speed-up of all cores), and the load average
before and after. Targets: a speed-up >= 1.7 on 2 cores for LMNN at n >= 10k and
for DeepTriplet on usps, and never below 1 on iris-size data. The models of the
two settings are compared too (LMNN promises them bit-identical).

Cases:

- ``lmnn_iris``: iris, standardised, ``LMNN(random_state=0)``;
- ``lmnn_10k`` / ``lmnn_20k``: ``make_classification(n, 50 features, 20
  informative, 10 classes, one cluster per class, random_state=0)``,
  ``LMNN(random_state=0, max_iter=--lmnn-max-iter)``;
- ``lmnn_pendigits``: pendigits (all 10992 rows, 16 features), standardised,
  ``LMNN(random_state=0, max_iter=--lmnn-max-iter)``;
- ``lmnn_mnist3500``: the first 3500 rows of mnist_test10k (784 features),
  standardised, ``LMNN(random_state=0, max_iter=--lmnn-max-iter)``;
- ``deeptriplet_usps``: usps (all rows), standardised, ``DeepTriplet(
  random_state=0, max_iter=--deep-epochs)``;
- ``deeptriplet_5000x100``: ``make_classification(5000, 100 features, 30
  informative, 20 classes, one cluster per class, random_state=0)``,
  standardised, ``DeepTriplet(random_state=0, max_iter=--deep-epochs)`` (the
  defaults otherwise: early stopping scores the held-out data every epoch);
- ``deepsiamese_5000x100``: the same data, ``DeepSiamese(random_state=0,
  max_iter=--deep-epochs)``;
- ``deeptracklets_pedestrians``: tracking/pedestrians (1850 crops of 106
  tracklets, 1536 features), standardised, ``DeepTripletTracklets(
  random_state=0, max_iter=--deep-epochs)`` fitted with the tracklets as y and
  their frames.

    python -m benchmarks.bench_threads [--cases lmnn_iris,lmnn_10k,deeptriplet_usps]
        [--repeats 3] [--lmnn-max-iter 100] [--deep-epochs 5]
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

CASES = ("lmnn_iris", "lmnn_10k", "lmnn_20k", "lmnn_pendigits", "lmnn_mnist3500",
         "deeptriplet_usps", "deeptriplet_5000x100", "deepsiamese_5000x100",
         "deeptracklets_pedestrians")


def _case(name, args):
    """``(make_estimator(n_jobs), X, y, fit_params)`` of a case."""
    make, X, y, *fit_params = _make_case(name, args)
    return make, X, y, (fit_params[0] if fit_params else {})


def _make_case(name, args):
    """``(make_estimator(n_jobs), X, y[, fit_params])`` of a case."""
    from sklearn.preprocessing import StandardScaler

    from skmetric import LMNN
    from skmetric.deep import DeepSiamese, DeepTriplet

    if name == "lmnn_iris":
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)
        return (lambda n_jobs: LMNN(random_state=0, n_jobs=n_jobs),
                StandardScaler().fit_transform(X), y)
    if name in ("lmnn_pendigits", "lmnn_mnist3500"):
        from benchmarks._data import load_dataset

        data = load_dataset(name[5:].replace("mnist3500", "mnist_test10k"))
        rows = slice(None) if name == "lmnn_pendigits" else slice(3500)
        return (lambda n_jobs: LMNN(random_state=0, max_iter=args.lmnn_max_iter,
                                    n_jobs=n_jobs),
                StandardScaler().fit_transform(data.X[rows]), data.y[rows])
    if name.startswith("lmnn_"):
        from sklearn.datasets import make_classification

        n = {"lmnn_10k": 10_000, "lmnn_20k": 20_000}[name]
        X, y = make_classification(
            n_samples=n, n_features=50, n_informative=20, n_redundant=0,
            n_classes=10, n_clusters_per_class=1, random_state=0,
        )
        return (lambda n_jobs: LMNN(random_state=0, max_iter=args.lmnn_max_iter,
                                    n_jobs=n_jobs), X, y)
    if name == "deeptriplet_usps":
        from benchmarks._data import load_dataset

        data = load_dataset("usps")
        return (lambda n_jobs: DeepTriplet(random_state=0, max_iter=args.deep_epochs,
                                           n_jobs=n_jobs),
                StandardScaler().fit_transform(data.X), data.y)
    if name in ("deeptriplet_5000x100", "deepsiamese_5000x100"):
        from sklearn.datasets import make_classification

        X, y = make_classification(
            n_samples=5000, n_features=100, n_informative=30, n_redundant=0,
            n_classes=20, n_clusters_per_class=1, random_state=0,
        )
        Estimator = DeepTriplet if name.startswith("deeptriplet") else DeepSiamese
        return (lambda n_jobs: Estimator(random_state=0, max_iter=args.deep_epochs,
                                         n_jobs=n_jobs),
                StandardScaler().fit_transform(X), y)
    if name == "deeptracklets_pedestrians":
        from benchmarks.bench_tracking import load_pedestrians
        from skmetric.deep import DeepTripletTracklets

        X, tracklets, frames, _ = load_pedestrians()
        return (lambda n_jobs: DeepTripletTracklets(
            random_state=0, max_iter=args.deep_epochs, n_jobs=n_jobs),
            StandardScaler().fit_transform(X.astype(np.float64)), tracklets,
            {"frames": frames})
    raise ValueError(name)


def _fit_seconds(make, n_jobs, X, y, fit_params=None):
    model = make(n_jobs)
    cpu = time.process_time()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y, **(fit_params or {}))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return seconds, model, cpu, converged


def _same_model(a, b):
    if hasattr(a, "components_"):
        return "identical" if np.array_equal(a.components_, b.components_) else (
            f"max diff {np.abs(a.components_ - b.components_).max():.1e}")
    diff = max(np.abs(p - q).max() for p, q in zip(a.coefs_, b.coefs_))
    return "identical" if diff == 0 else f"max diff {diff:.1e}"


def run(name, args):
    make, X, y, fit_params = _case(name, args)
    # Untimed: compile, warm up.
    _fit_seconds(make, 1, X[:300], y[:300],
                 {key: value[:300] for key, value in fit_params.items()})
    times = {1: [], -1: []}
    cpu = {1: [], -1: []}
    converged = {1: [], -1: []}
    models = {}
    for repeat in range(args.repeats):
        order = (1, -1) if repeat % 2 == 0 else (-1, 1)
        for n_jobs in order:
            seconds, models[n_jobs], cpu_seconds, ok = _fit_seconds(
                make, n_jobs, X, y, fit_params)
            times[n_jobs].append(seconds)
            converged[n_jobs].append(ok)
            cpu[n_jobs].append(cpu_seconds)
            print(f"[bench_threads] {name} n_jobs={n_jobs}: {seconds:.2f} s, CPU "
                  f"{cpu_seconds:.2f} s, load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)
    one, every = statistics.median(times[1]), statistics.median(times[-1])
    return {"case": name, "n": X.shape[0], "one": one, "all": every,
            "speedup": one / every, "model": _same_model(models[1], models[-1]),
            "cpu_one": statistics.median(cpu[1]),
            "cpu_all": statistics.median(cpu[-1]),
            "converged": " / ".join(f"{sum(converged[j])} of {len(converged[j])}"
                                    for j in (1, -1))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="lmnn_iris,lmnn_10k,deeptriplet_usps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lmnn-max-iter", type=int, default=100)
    parser.add_argument("--deep-epochs", type=int, default=5)
    args = parser.parse_args(argv)
    from skmetric._threads import effective_n_threads

    print(f"cores used by n_jobs=-1: {effective_n_threads(-1)}; load average "
          f"before: {os.getloadavg()}")
    rows = [run(name, args) for name in args.cases.split(",")]
    print("\n| case | n | n_jobs=1 (s) | n_jobs=-1 (s) | speed-up | CPU 1 / -1 (s) "
          "| models | converged 1 / -1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['n']} | {r['one']:.2f} | {r['all']:.2f} | "
              f"{r['speedup']:.2f} | {r['cpu_one']:.2f} / {r['cpu_all']:.2f} | "
              f"{r['model']} | {r['converged']} |")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
