"""The methods the main job compares, and how each is fitted and embedded.

A :class:`Method` is either an in-process transformer (skmetric's estimators,
PCA, or none at all for plain Euclidean distance) or a peer library run in its
own virtualenv (:mod:`benchmarks._peers`). :func:`embed_splits` fits one method
on every split of one dataset and returns, per split, the embedded training and
test parts with what the fit reported, so that each task scores the same
embeddings its own way.

Like for like:

- warm-up: every method that fits anything gets one untimed warm-up fit per
  dataset, on at most :data:`WARMUP_ROWS` rows of the first split's training
  part, in the same process as its timed fits (numba's compiled kernels,
  torch's and mlpack's first-call costs, lazy imports: none is timed);
- convergence: each timed fit records whether it emitted a
  ``ConvergenceWarning`` (or, for a peer, whether it used all of its
  ``max_iter``); the warnings are shown once each, never silenced;
- threads: each fit records the threads its process had (BLAS and OpenMP pools
  through threadpoolctl, numba's, torch's).
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from benchmarks._data import scaled
from benchmarks._harness import _version_of, fit_recording
from benchmarks._peers import embed_peer

WARMUP_ROWS = 300


@dataclass(frozen=True)
class Method:
    """One row of the tables.

    Attributes
    ----------
    label : str
        Name in the tables.
    library : str
        Who implements it (the threads table has one row per library).
    factory : callable or None
        In-process: ``factory(n_classes)`` returns a fresh transformer, or None
        for plain Euclidean distance on the scaled data.
    peer : str or None
        A peer name of :mod:`benchmarks._peer_worker` (then ``factory`` is None).
    params : callable or None
        ``params(n_classes)`` gives the peer's keyword arguments.
    tasks : tuple of str
        Split kinds it runs on: ``'closed'`` (kNN on seen classes) and/or
        ``'open'`` (unseen classes).
    where : str or tuple of str
        ``'all'``, ``'bundled'`` (scikit-learn's bundled sets only) or the
        names of the datasets it runs on.
    """

    label: str
    library: str
    factory: object = None
    peer: str | None = None
    params: object = None
    tasks: tuple = ("closed", "open")
    where: str = "all"


def skmetric_methods():
    """``{key: Method}`` of the skmetric estimators present, plus the baselines."""
    import skmetric

    table = {
        "euclidean": Method("Euclidean", "scikit-learn", lambda c: None),
        "pca": Method("PCA(32)", "scikit-learn", lambda c: _Pca32(),
                      tasks=("open",)),
        "xing": Method("MahalanobisXing", "skmetric",
                       lambda c: skmetric.MahalanobisXing(random_state=0)),
        "xing_diagonal": Method(
            "MahalanobisXing(diagonal)", "skmetric",
            lambda c: skmetric.MahalanobisXing(diagonal=True, random_state=0),
            tasks=("closed",)),
    }
    if hasattr(skmetric, "LMNN"):
        table["lmnn"] = Method("LMNN", "skmetric",
                               lambda c: skmetric.LMNN(random_state=0))
    table.update(classic_methods())
    try:
        from skmetric.deep import DeepSiamese, DeepTriplet
    except ImportError:
        return table
    table["siamese"] = Method("DeepSiamese", "skmetric",
                              lambda c: DeepSiamese(random_state=0))
    table["triplet"] = Method("DeepTriplet", "skmetric",
                              lambda c: DeepTriplet(random_state=0))
    return table


# The classic learners (bench_classic.py compares them with metric-learn): key,
# class name in skmetric, its arguments, split kinds, datasets. The closed-form
# ones (LFDA, Covariance, RCA) cost milliseconds and run on every dataset; the
# iterative ones (NCA, MLKR and the labelled forms of the pair, quadruplet and
# triplet learners) on scikit-learn's bundled sets only; all of them on both
# kinds of split. A learner absent from this checkout is left out.
CLASSIC = (
    ("nca", "NCA", {"random_state": 0}, ("closed", "open"), "bundled"),
    ("mlkr", "MLKR", {"random_state": 0}, ("closed", "open"), "bundled"),
    ("lfda", "LFDA", {}, ("closed", "open"), "all"),
    ("covariance", "Covariance", {}, ("closed", "open"), "all"),
    ("rca", "RCA", {}, ("closed", "open"), "all"),
    ("itml", "ITML", {"random_state": 0}, ("closed", "open"), "bundled"),
    ("sdml", "SDML", {"random_state": 0}, ("closed", "open"), "bundled"),
    ("lsml", "LSML", {"random_state": 0}, ("closed", "open"), "bundled"),
    ("scml", "SCML", {"random_state": 0}, ("closed", "open"), "bundled"),
)


def classic_methods():
    """``{key: Method}`` of the classic learners present in this checkout."""
    import skmetric

    table = {}
    for key, name, params, tasks, where in CLASSIC:
        cls = getattr(skmetric, name, None)
        if cls is not None:
            table[key] = Method(name, "skmetric",
                                lambda c, cls=cls, params=params: cls(**params),
                                tasks=tasks, where=where)
    return table


class _Pca32(PCA):
    """PCA to 32 components, or to all of them for data with fewer features."""

    def __init__(self):
        super().__init__(32, random_state=0)

    def fit(self, X, y=None):
        self.n_components = min(32, *np.shape(X))
        return super().fit(X, y)


PEER_METHODS = {
    # The slowest peers skip the larger bundled sets to keep the main job within
    # its 20 minutes (fits measured on 2026-12-07 with 2 threads: mlpack 70-79 s
    # a fit on digits, metric-learn MMC 17-21 s on breast_cancer and digits,
    # metric-learn LMNN 20-23 s on digits); bench_lmnn and bench_xing compare
    # skmetric with them on those sets.
    "metric-learn MMC": Method(
        "metric-learn MMC", "metric-learn", peer="metric_learn.MMC_Supervised",
        params=lambda c: {"n_constraints": 20 * c**2, "random_state": 0},
        tasks=("closed",), where=("iris", "wine")),
    "metric-learn LMNN": Method(
        "metric-learn LMNN", "metric-learn", peer="metric_learn.LMNN",
        params=lambda c: {"n_neighbors": 3, "random_state": 0},
        tasks=("closed",), where=("iris", "wine", "breast_cancer")),
    "pylmnn": Method("pylmnn", "pylmnn", peer="pylmnn.LMNN",
                     params=lambda c: {"n_neighbors": 3, "random_state": 0}),
    "mlpack lmnn": Method("mlpack lmnn", "mlpack", peer="mlpack.lmnn",
                          params=lambda c: {"k": 3, "seed": 1},
                          tasks=("closed",), where=("iris", "wine", "breast_cancer")),
    "sklearn NCA": Method("sklearn NCA", "scikit-learn", peer="sklearn.NCA",
                          params=lambda c: {"random_state": 0}),
    # pytorch-metric-learning is compared with DeepTriplet in bench_deep, with the
    # same network, budget and miner: the main job's own configuration was not
    # like for like (see benchmarks._report.UNMATCHED).
}


_LAST_PARTS = {}  # the scaled parts of the last (dataset, splits): methods share them


def _scaled_parts(dataset, splits, max_dim):
    """``(X_train, y_train, X_test, y_test)`` per split, scaled as :func:`scaled`.

    The runner fits every method of a dataset in a row on the same splits, so
    the parts of the last dataset and splits are kept and handed out again (one
    scaler and PCA fit per split instead of one per method; the arrays are
    read-only, so no method can change another's input).
    """
    key = (dataset.name, max_dim,
           tuple((train.tobytes(), test.tobytes()) for train, test in splits))
    if key not in _LAST_PARTS:
        parts = []
        for train, test in splits:
            X_train, X_test = scaled(dataset.X[train], dataset.X[test], max_dim)
            y_train, y_test = dataset.y[train], dataset.y[test]
            for array in (X_train, X_test, y_train, y_test):
                array.flags.writeable = False
            parts.append((X_train, y_train, X_test, y_test))
        _LAST_PARTS.clear()
        _LAST_PARTS[key] = parts
    return _LAST_PARTS[key]


def embed_splits(method, dataset, splits, *, max_dim=None, timeout=None):
    """Fit ``method`` on every split of ``dataset``; embed both parts.

    Parameters
    ----------
    method : Method
    dataset : Dataset
    splits : list of (ndarray, ndarray)
        ``(train_idx, test_idx)`` pairs.
    max_dim : int, default=None
        As in :func:`benchmarks._data.scaled` (scaler and PCA fit on the
        training part only).
    timeout : float, default=None
        Seconds allowed per peer fit.

    Returns
    -------
    fits : list of dict
        One per split: ``status, reason, fit_time, cpu_time, converged,
        n_iter, threads, version, warnings, Z_train, y_train, Z_test, y_test``
        (``Z_*`` None unless ``status == 'ok'``).
    """
    parts = _scaled_parts(dataset, splits, max_dim)
    if method.peer is not None:
        fits = _embed_peer(method, dataset, parts, timeout)
    else:
        fits = _embed_in_process(method, dataset, parts)
    for fit, (_, y_train, _, y_test) in zip(fits, parts):
        fit["y_train"], fit["y_test"] = y_train, y_test
    return fits


def warmup_rows(y, seed=0):
    """Row indices of the warm-up fit: at most WARMUP_ROWS, stratified."""
    if len(y) <= WARMUP_ROWS:
        return np.arange(len(y))
    try:
        rows, _ = train_test_split(np.arange(len(y)), train_size=WARMUP_ROWS,
                                   stratify=y, random_state=seed)
    except ValueError:  # a class too small to stratify: take a plain sample
        rows = np.random.default_rng(seed).choice(len(y), WARMUP_ROWS,
                                                  replace=False)
    return np.sort(rows)


def _embed_in_process(method, dataset, parts):
    prototype = method.factory(dataset.n_classes)
    if prototype is None:  # Euclidean: nothing to fit
        return [_fit_result("ok", Z_train=X_train, Z_test=X_test,
                            version=_version_of(None))
                for X_train, _, X_test, _ in parts]
    X_train, y_train = parts[0][0], parts[0][1]
    rows = warmup_rows(y_train)
    try:  # untimed; its warnings concern no reported fit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clone(prototype).fit(X_train[rows], y_train[rows])
    except Exception:  # noqa: BLE001 - the timed fit reports it
        pass
    return [_fit_in_process(clone(prototype), *part) for part in parts]


def _fit_in_process(estimator, X_train, y_train, X_test, y_test):
    try:
        fit_time, cpu_time, converged, messages = fit_recording(
            estimator, X_train, y_train)
        Z_train, Z_test = estimator.transform(X_train), estimator.transform(X_test)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return _fit_result("failed", f"{type(exc).__name__}: {exc}",
                           version=_version_of(estimator))
    return _fit_result(
        "ok", fit_time=fit_time, cpu_time=cpu_time, converged=converged,
        n_iter=_as_int(getattr(estimator, "n_iter_", None)),
        threads=thread_summary(estimator), version=_version_of(estimator),
        warnings=messages, Z_train=np.asarray(Z_train, dtype=np.float64),
        Z_test=np.asarray(Z_test, dtype=np.float64),
    )


def _embed_peer(method, dataset, parts, timeout):
    X_train, y_train = parts[0][0], parts[0][1]
    rows = warmup_rows(y_train)
    results = embed_peer(
        method.peer, [(X_tr, y_tr, X_te) for X_tr, y_tr, X_te, _ in parts],
        params=method.params(dataset.n_classes), timeout=timeout,
        warmup=(X_train[rows], y_train[rows]),
    )
    fits = []
    for result in results:
        extra = result.get("extra") or {}
        fits.append(_fit_result(
            result["status"], result["reason"], fit_time=result["fit_time"],
            cpu_time=extra.get("cpu_time"), converged=extra.get("converged"),
            n_iter=_as_int(extra.get("n_iter")), threads=extra.get("threads"),
            version=result["version"], warnings=extra.get("warnings", []),
            Z_train=result["Z_train"], Z_test=result["Z_test"],
        ))
    return fits


def thread_summary(estimator=None):
    """``{pool: threads}`` of this process: BLAS/OpenMP pools, numba, n_jobs."""
    threads = {}
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            api = pool["user_api"]
            threads[api] = max(threads.get(api, 0), pool["num_threads"])
    except ImportError:
        pass
    try:
        import numba

        threads["numba"] = numba.get_num_threads()
    except ImportError:
        pass
    if estimator is not None and "n_jobs" in estimator.get_params():
        threads["n_jobs"] = estimator.get_params()["n_jobs"]
    return threads


def _as_int(value):
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _fit_result(status, reason="", **values):
    result = {"status": status, "reason": reason, "fit_time": None,
              "cpu_time": None, "converged": None, "n_iter": None,
              "threads": None, "version": None, "warnings": [],
              "Z_train": None, "Z_test": None}
    result.update(values)
    return result
