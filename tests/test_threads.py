"""The thread policy (skmetric._threads) and n_jobs in every estimator."""

import json
import os
import threading
import warnings

import numba
import numpy as np
import pytest
from joblib import Parallel, delayed
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_info, threadpool_limits

from skmetric import LMNN, MahalanobisXing, MahalanobisXingPairs
from skmetric._threads import (
    available_threads,
    cpu_count,
    effective_n_threads,
    thread_limits,
)
from skmetric.deep import DeepSiamese, DeepTriplet
from skmetric.deep import _base as deep_base
from skmetric.deep import _network as deep_network
from skmetric.deep import _selection as deep_selection

# Short fits: the tests compare models, not their convergence.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas"]


def _data(n_samples=700, n_features=6, seed=0):
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=4,
        n_redundant=0, n_classes=3, n_clusters_per_class=1, random_state=seed,
    )
    return X, y


def test_effective_n_threads_follows_sklearn_conventions():
    cores = cpu_count()
    available = available_threads()
    assert 1 <= available <= cores
    assert effective_n_threads(None) == available
    assert effective_n_threads(1) == 1
    assert effective_n_threads(-1) == min(cores, available)
    assert effective_n_threads(10_000) == available
    assert effective_n_threads(-10_000) == 1
    with pytest.raises(ValueError, match="n_jobs must be None or a non-zero"):
        effective_n_threads(0)


def test_a_user_limit_caps_every_request():
    with threadpool_limits(limits=1, user_api="blas"):
        assert available_threads() == 1
        assert effective_n_threads(-1) == effective_n_threads(4) == 1
        with thread_limits(None) as n_threads:
            assert n_threads == 1
            assert numba.get_num_threads() == 1


def test_numba_limit_caps_and_is_restored():
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert effective_n_threads(None) == 1
    finally:
        numba.set_num_threads(previous)


def test_thread_limits_sets_and_restores_blas_and_numba():
    before_blas, before_numba = _blas_threads(), numba.get_num_threads()
    expected = effective_n_threads(-1)
    with thread_limits(-1, blas_threads=1) as n_threads:
        assert n_threads == expected
        assert all(n == 1 for n in _blas_threads())
        assert numba.get_num_threads() == n_threads
    assert _blas_threads() == before_blas
    assert numba.get_num_threads() == before_numba


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_bad_n_jobs_is_rejected_before_fitting(n_jobs):
    X, y = _data(60)
    for estimator in (LMNN(n_jobs=n_jobs), MahalanobisXing(n_jobs=n_jobs)):
        with pytest.raises(ValueError, match="n_jobs"):
            estimator.fit(X, y)


@pytest.fixture
def lmnn_threads_on_small_data(monkeypatch):
    """LMNN uses its threads on small data too (it fits below 2048 rows on one)."""
    import skmetric._lmnn

    monkeypatch.setattr(skmetric._lmnn, "_THREADED_FROM", 0)


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_lmnn_is_bit_identical_with_one_and_two_threads(lmnn_threads_on_small_data):
    # Big enough for several product chunks and a threaded search.
    X, y = _data(1500, 8)
    models = [LMNN(random_state=0, max_iter=30, n_jobs=n_jobs).fit(X, y)
              for n_jobs in (1, 2)]
    assert_array_equal(models[0].components_, models[1].components_)
    assert models[0].n_iter_ == models[1].n_iter_


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_lmnn_wide_data_is_bit_identical_with_one_and_two_threads(
        lmnn_threads_on_small_data):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 200))
    y = rng.integers(0, 3, size=120)
    X[:, 0] += 3.0 * y
    models = [LMNN(random_state=0, max_iter=15, n_jobs=n_jobs).fit(X, y)
              for n_jobs in (1, 2)]
    assert_array_equal(models[0].components_, models[1].components_)


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_lmnn_sampled_fit_that_grows_its_set_is_bit_identical_with_threads(
        lmnn_threads_on_small_data, monkeypatch):
    # A small cap: the independent samples find the fit over-fitted and the set
    # grows (to 8 times the cap); the model must not depend on the threads.
    from skmetric._lmnn_solver import _ActiveSetSolver

    grown = []
    grow = _ActiveSetSolver._grow
    monkeypatch.setattr(_ActiveSetSolver, "_grow",
                        lambda self, x: grown.append(1) or grow(self, x))
    X, y = _data(600, 10)
    models = []
    for n_jobs in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models.append(LMNN(max_impostors=300, random_state=0, max_iter=80,
                               n_jobs=n_jobs).fit(X, y))
    assert len(grown) >= 2
    assert_array_equal(models[0].components_, models[1].components_)
    assert models[0].n_iter_ == models[1].n_iter_


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_xing_agrees_with_one_and_two_threads():
    X, y = _data(300, 10)
    models = [MahalanobisXing(random_state=0, n_jobs=n_jobs).fit(X, y)
              for n_jobs in (1, 2)]
    assert_allclose(models[0].components_, models[1].components_, rtol=1e-10,
                    atol=1e-10)


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_xing_pairs_agrees_to_rounding_with_one_and_two_threads():
    # What its n_jobs documentation promises: agreement to rounding (BLAS sums
    # in another order with two threads), not a model independent of n_jobs.
    X, y = _data(300, 10)
    rng = np.random.default_rng(0)
    pairs = rng.choice(X.shape[0], size=(600, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    labels = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    models = [MahalanobisXingPairs(preprocessor=X, n_jobs=n_jobs).fit(pairs, labels)
              for n_jobs in (1, 2)]
    assert_allclose(models[0].components_, models[1].components_, rtol=1e-8,
                    atol=1e-8)
    doc = " ".join(MahalanobisXingPairs.__doc__.split())
    assert "agrees to rounding across values of ``n_jobs``" in doc


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
@pytest.mark.parametrize("validation", ["samples", "classes"])
@pytest.mark.parametrize("Estimator", [DeepSiamese, DeepTriplet])
def test_deep_estimators_agree_with_one_and_two_threads(Estimator, validation,
                                                        monkeypatch):
    X, y = make_classification(
        n_samples=300, n_features=10, n_informative=6, n_redundant=0,
        n_classes=6, n_clusters_per_class=1, random_state=0,
    )
    # Small pieces, so that every batch of 32 rows, the embedding of the
    # held-out rows and the ranking of the held-out classes' rows are shared
    # out over both threads.
    monkeypatch.setattr(deep_network, "PIECE_ROWS", 8)
    monkeypatch.setattr(deep_base, "_VALIDATION_EMBED_ROWS", 16)
    monkeypatch.setattr(deep_selection, "_QUERY_ROWS", 16)
    threads = set()
    backward = deep_network.backward

    def spy(*args):
        threads.add(threading.current_thread().name)
        return backward(*args)

    monkeypatch.setattr(deep_network, "backward", spy)
    models = [Estimator(4, hidden_layer_sizes=(8,), batch_size=32,
                        n_samples_per_class=4, max_iter=3, random_state=0,
                        validation=validation, validation_fraction=0.35,
                        n_jobs=n_jobs).fit(X, y) for n_jobs in (1, 2)]
    # Pieces ran on the pool's thread as well as the caller's.
    assert "MainThread" in threads and any(name.startswith("skmetric")
                                           for name in threads)
    # Bit-identical: the threads split DeepTriplet's mining and loss by anchor
    # (every anchor's terms are its own) and every batch's forward and backward
    # passes into pieces of fixed size, whose gradients are summed in one order
    # (see the n_jobs docs).
    for a, b in zip(models[0].coefs_ + models[0].intercepts_ + [models[0].skip_],
                    models[1].coefs_ + models[1].intercepts_ + [models[1].skip_]):
        assert_array_equal(a, b)
    assert models[0].validation_scores_ == models[1].validation_scores_


def _probe_worker():
    """What the policy sees inside a joblib worker: its own pid and the threads."""
    with thread_limits(None) as n_threads:
        return os.getpid(), n_threads, _blas_threads(), numba.get_num_threads()


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_the_policy_respects_the_limits_of_joblib_workers():
    results = Parallel(n_jobs=2, backend="loky")(
        delayed(_probe_worker)() for _ in range(4)
    )
    expected = max(1, cpu_count() // 2)
    for pid, n_threads, blas, numba_threads in results:
        assert pid != os.getpid()
        assert n_threads == expected
        assert all(n <= expected for n in blas)
        assert numba_threads == expected


class _RecordThreads:
    """LMNN callback writing, once per fit, the threads seen inside the fit."""

    def __init__(self, path):
        self.path = path

    def __call__(self, components, n_iter):
        if n_iter == 1:
            with open(self.path, "a") as handle:
                handle.write(json.dumps({
                    "pid": os.getpid(), "blas": _blas_threads(),
                    "numba": numba.get_num_threads(),
                }) + "\n")


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_no_oversubscription_inside_a_two_worker_grid_search(tmp_path):
    # Training folds of 2100 rows: enough for LMNN to use every thread it may.
    X, y = _data(4200, 5)
    path = tmp_path / "threads.jsonl"
    pipe = make_pipeline(
        LMNN(max_iter=3, random_state=0, callback=_RecordThreads(str(path))),
        KNeighborsClassifier(3),
    )
    GridSearchCV(pipe, {"lmnn__n_neighbors": [1, 2]}, cv=2, n_jobs=2).fit(X, y)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    in_workers = [r for r in records if r["pid"] != os.getpid()]
    assert len(in_workers) >= 4  # 2 candidates x 2 folds in the workers
    expected = max(1, cpu_count() // 2)  # the limit of each worker
    for record in in_workers:
        assert record["numba"] == expected
        assert all(n == 1 for n in record["blas"])  # LMNN runs BLAS on one thread


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_lmnn_uses_its_threads_as_its_docs_say(tmp_path):
    # One thread below 2048 rows and 2**19 values, n_jobs threads otherwise.
    assert "fewer\n        than 2048 rows and fewer than 2**19 values" in LMNN.__doc__
    rng = np.random.default_rng(0)
    cases = [((300, 5), 1), ((300, 1740), 1), ((300, 1760), 2)]
    for (n_samples, n_features), expected in cases:
        X = rng.normal(size=(n_samples, n_features))
        y = rng.integers(0, 3, size=n_samples)
        X[:, 0] += 3.0 * y
        path = tmp_path / f"threads_{n_features}.jsonl"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            LMNN(2, max_iter=2, random_state=0, n_jobs=2,
                 callback=_RecordThreads(str(path))).fit(X, y)
        record = json.loads(path.read_text().splitlines()[0])
        assert record["numba"] == expected


@pytest.mark.skipif(cpu_count() < 2, reason="needs 2 cores")
def test_deep_triplet_tracklets_is_bit_identical_with_one_and_two_threads(
        monkeypatch):
    from skmetric.deep import DeepTripletTracklets
    from skmetric.deep import _triplet as deep_triplet

    rng = np.random.default_rng(0)
    tracklets = np.repeat(np.arange(24), 10)
    frames = np.arange(240) % 10 + 10 * (tracklets // 4)  # 4 objects at once
    X = rng.normal(size=(24, 10))[tracklets] + rng.normal(scale=0.5,
                                                           size=(240, 10))
    monkeypatch.setattr(deep_network, "PIECE_ROWS", 8)
    # The mining of every batch is shared out by anchor over both threads.
    ranges = []
    rows_kernel = deep_triplet.triplet_rows_loss_weights

    def spy(*args):
        ranges.append((threading.current_thread().name, args[6], args[7]))
        return rows_kernel(*args)

    monkeypatch.setattr(deep_triplet, "triplet_rows_loss_weights", spy)
    models = [DeepTripletTracklets(4, hidden_layer_sizes=(8,), batch_size=40,
                                   n_samples_per_class=5, max_iter=3,
                                   random_state=0, n_jobs=n_jobs).fit(
                                       X, tracklets, frames=frames)
              for n_jobs in (1, 2)]
    assert any(name.startswith("skmetric") for name, _, _ in ranges)
    assert any(name == "MainThread" and start > 0 for name, start, _ in ranges)
    for a, b in zip(models[0].coefs_ + models[0].intercepts_ + [models[0].skip_],
                    models[1].coefs_ + models[1].intercepts_ + [models[1].skip_]):
        assert_array_equal(a, b)
    assert models[0].loss_curve_ == models[1].loss_curve_
