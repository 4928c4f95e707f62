"""NCA and MLKR: kernels against their twins, gradients, solver, behaviour."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier

from skmetric import MLKR, NCA
from skmetric import _kernels as kernels
from skmetric._softmax_solver import (
    nearest_candidates,
    softmax_buffer,
    softmax_loss_grad,
)

from . import _reference as ref

# ---- kernels against their NumPy twins -------------------------------------------


def _block(rng, n, B, m, shared, scale=1.0):
    rows = rng.choice(n, size=B, replace=False).astype(np.int64)
    if shared:
        neighbours = np.arange(n, dtype=np.int64)[None, :]
        m = n
    else:
        neighbours = rng.integers(0, n, size=(B, m)).astype(np.int64)
        neighbours[0, 0] = rows[0]  # the own point among the candidates
    sq_dists = rng.uniform(0, 5, size=(B, m)) * scale
    return sq_dists, rows, neighbours


CASES = [(1, 1, 1, True), (2, 1, 1, True), (7, 3, 5, False), (50, 20, 50, True),
         (80, 30, 12, False)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, B, m, shared", CASES)
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_softmax_kernels_match_reference(seed, n, B, m, shared, scale):
    rng = np.random.default_rng(seed)
    sq_dists, rows, neighbours = _block(rng, n, B, m, shared, scale)
    labels = rng.integers(0, 3, size=n).astype(np.int64)
    targets = rng.normal(size=n)
    copies = [a.copy() for a in (sq_dists, rows, neighbours, labels, targets)]
    P = kernels.neighbour_softmax(sq_dists, rows, neighbours)
    assert_allclose(P, ref.neighbour_softmax(sq_dists, rows, neighbours),
                    rtol=1e-12, atol=1e-300)
    for kernel, twin, values in ((kernels.nca_weights, ref.nca_weights, labels),
                                 (kernels.mlkr_weights, ref.mlkr_weights, targets)):
        W_ref, loss_ref = twin(sq_dists, rows, neighbours, values)
        out = np.full_like(sq_dists, np.nan)
        W, loss = kernel(sq_dists, rows, neighbours, values, out)
        assert W is out
        assert_allclose(W, W_ref, rtol=1e-10, atol=1e-14)
        assert_allclose(loss, loss_ref, rtol=1e-10, atol=1e-14)
        # In place: the weights overwrite the distances they are computed from.
        in_place = sq_dists.copy()
        W, loss = kernel(in_place, rows, neighbours, values, in_place)
        assert W is in_place
        assert_allclose(W, W_ref, rtol=1e-10, atol=1e-14)
        assert_allclose(loss, loss_ref, rtol=1e-10, atol=1e-14)
    for a, b in zip((sq_dists, rows, neighbours, labels, targets), copies):
        assert_array_equal(a, b)


def test_softmax_row_without_other_point_is_zero():
    P = kernels.neighbour_softmax(np.zeros((1, 1)), np.array([0]), np.array([[0]]))
    assert_array_equal(P, [[0.0]])


def test_softmax_does_not_underflow_on_far_points():
    sq_dists = np.array([[1e6, 1e6 + 1.0, 0.0]])
    P = kernels.neighbour_softmax(sq_dists, np.array([2]), np.array([[0, 1, 2]]))
    assert_allclose(P, [[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0]])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, B, m, d", [(1, 1, 1, 1), (9, 4, 3, 2), (60, 60, 10, 7)])
def test_neighbour_gather_kernels_match_reference(seed, n, B, m, d):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    rows = rng.integers(0, n, size=B).astype(np.int64)
    neighbours = rng.integers(0, n, size=(B, m)).astype(np.int64)
    W = rng.normal(size=(B, m))
    W[0, 0] = 0.0
    assert_allclose(kernels.neighbour_sq_dists(Z, rows, neighbours),
                    ref.neighbour_sq_dists(Z, rows, neighbours), rtol=1e-12)
    assert_allclose(kernels.neighbour_weighted_sum(W, neighbours, Z),
                    ref.neighbour_weighted_sum(W, neighbours, Z), rtol=1e-10,
                    atol=1e-12)


# ---- objective and gradient ------------------------------------------------------


def _problem(seed, n=25, d=4, r=3, kind="nca"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    targets = (rng.integers(0, 3, size=n).astype(np.int64) if kind == "nca"
               else rng.normal(size=n))
    L = rng.normal(size=(r, d)) * 0.7
    return rng, X, targets, L


@pytest.mark.parametrize("kind", ["nca", "mlkr"])
@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_softmax_objective_matches_formula_and_finite_differences(kind, truncated,
                                                                   seed):
    rng, X, targets, L = _problem(seed, kind=kind)
    neighbours = None
    if truncated:
        neighbours = nearest_candidates(X @ L.T, 6)
    # a small block size exercises the row blocks
    loss, grad = softmax_loss_grad(L.ravel(), X, targets, kind, neighbours,
                                   block_elements=60)
    assert_allclose(loss, ref.softmax_objective(L, X, targets, kind, neighbours),
                    rtol=1e-12)
    if not truncated:  # one scratch buffer, reused by every block and evaluation
        buffer = softmax_buffer(X.shape[0], block_elements=60)
        for _ in range(2):
            again = softmax_loss_grad(L.ravel(), X, targets, kind, None, 60, buffer)
            assert again[0] == loss
            assert_array_equal(again[1], grad)
    h = 1e-6
    for _ in range(6):
        E = rng.normal(size=L.shape)
        plus = softmax_loss_grad((L + h * E).ravel(), X, targets, kind, neighbours)[0]
        minus = softmax_loss_grad((L - h * E).ravel(), X, targets, kind,
                                  neighbours)[0]
        assert_allclose(grad @ E.ravel(), (plus - minus) / (2 * h), rtol=1e-5,
                        atol=1e-9)


def test_nearest_candidates_match_reference():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 3))
    found = nearest_candidates(Z, 5, block_elements=90)
    sq = (Z**2).sum(axis=1)
    assert_array_equal(found, ref.nearest_from_gram(Z @ Z.T, sq, sq, 5, 0))


# ---- solver against an independent optimiser --------------------------------------


def _scipy_minimum(X, targets, kind, L0):
    """The same objective, from the NumPy formula, minimised by scipy's BFGS
    with numerical gradients."""
    def f(x):
        return ref.softmax_objective(x.reshape(L0.shape), X, targets, kind)
    return minimize(f, L0.ravel(), method="BFGS", options={"gtol": 1e-9}).fun


@pytest.mark.parametrize("kind", ["nca", "mlkr"])
@pytest.mark.parametrize("n, d, r", [(20, 3, 3), (8, 12, 2), (15, 4, 4)])
@pytest.mark.parametrize("seed", range(2))
def test_solver_reaches_an_independent_optimiser_minimum(kind, n, d, r, seed):
    # Same start for both (the objective is not convex); (8, 12) has fewer points
    # than features, (15, 4) rank-deficient data (the last feature a copy).
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if d == 4 and n == 15:
        X[:, 3] = X[:, 0]
    y = rng.integers(0, 2, size=n)
    y[:2] = [0, 1]
    L0 = rng.normal(size=(r, d)) * 0.5
    Estimator = NCA if kind == "nca" else MLKR
    model = Estimator(r, init=L0, max_iter=2000, tol=1e-8).fit(X, y)
    targets = y.astype(np.int64) if kind == "nca" else (y - y.mean()) / y.std()
    ours = ref.softmax_objective(model.components_, X, targets, kind)
    theirs = _scipy_minimum(X, targets, kind, L0)
    # Stated tolerance: within 1e-6 of scipy's value, or lower.
    assert ours <= theirs + 1e-6


# ---- convergence policy, behaviour -------------------------------------------------


def test_nca_warns_when_the_gradient_check_fails():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, size=40)
    with pytest.warns(ConvergenceWarning, match=re.escape("largest gradient entry")):
        NCA(max_iter=1, tol=1e-12).fit(X, y)


def test_nca_converged_fit_meets_its_check_and_is_silent():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NCA(tol=1e-6, max_iter=500).fit(X, y)
    _, grad = softmax_loss_grad(model.components_.ravel(), X, y.astype(np.int64),
                                "nca")
    assert np.max(np.abs(grad)) <= 1e-6


def _informative(seed, n=120, noise=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = np.column_stack([y * 3.0 + rng.normal(scale=0.5, size=n),
                         rng.normal(scale=3.0, size=(n, noise))])
    return X, y


@pytest.mark.parametrize("n_neighbors", [None, 10])
def test_nca_weights_the_informative_axis_most(n_neighbors):
    X, y = _informative(0)
    model = NCA(init="identity", n_neighbors=n_neighbors, random_state=0).fit(X, y)
    weights = np.linalg.norm(model.components_, axis=0)
    assert np.argmax(weights) == 0
    assert weights[0] > 1.5 * weights[1:].max()


def test_mlkr_weights_the_relevant_axis_most():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = np.sin(2 * X[:, 2]) + 0.05 * rng.normal(size=150)
    weights = np.linalg.norm(MLKR(init="identity").fit(X, y).components_, axis=0)
    assert np.argmax(weights) == 2 and weights[2] > 3 * np.delete(weights, 2).max()


def test_truncated_nca_agrees_with_exact_when_candidates_cover_everything():
    X, y = _informative(1, n=40)
    exact = NCA(init="identity", tol=1e-7, max_iter=500).fit(X, y)
    full = NCA(init="identity", n_neighbors=39, tol=1e-7, max_iter=500).fit(X, y)
    assert_allclose(full.components_, exact.components_, rtol=1e-5, atol=1e-6)


def test_nca_accuracy_on_digits_is_at_least_euclidean():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X[:600], y[:600],
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    knn = KNeighborsClassifier(3)
    base = knn.fit(X_train, y_train).score(X_test, y_test)
    model = NCA(random_state=0, max_iter=50).fit(X_train, y_train)
    learned = knn.fit(model.transform(X_train), y_train).score(
        model.transform(X_test), y_test)
    assert learned >= base


def test_softmax_learners_are_deterministic_and_verbose(capsys):
    X, y = _informative(2, n=50)
    a = NCA(random_state=0, verbose=2).fit(X, y)
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("[NCA] Fitting")
    assert "Max|grad|" in out and "iterations" in out.splitlines()[-1]
    b = NCA(random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    assert_array_equal(a.components_, b.components_)


def test_softmax_learners_reject_bad_settings():
    X, y = _informative(3, n=20)
    with pytest.raises(ValueError, match=re.escape("n_neighbors=20 must be below "
                                                   "n_samples=20")):
        NCA(n_neighbors=20).fit(X, y)
    with pytest.raises(ValueError, match=re.escape("n_components=9 must be at most")):
        MLKR(9).fit(X, y.astype(float))
    with pytest.raises(ValueError, match=re.escape("init='lda' needs class labels")):
        MLKR(init="lda").fit(X, y.astype(float))


def test_softmax_terms_past_exp_underflow_are_the_zeros_exp_gives():
    # Exponents on both sides of EXP_UNDERFLOW: the skipped ones are those
    # exp rounds to 0.0, the subnormal ones just above it are kept.
    assert np.exp(kernels.softmax.EXP_UNDERFLOW) == 0.0
    gaps = np.concatenate([[0.0], np.linspace(700.0, 760.0, 61),
                           np.nextafter(745.2, [0.0, np.inf])])
    sq_dists = (3.0 + gaps)[None, :]
    P = kernels.neighbour_softmax(sq_dists, np.array([10**6]),
                                  np.arange(sq_dists.shape[1])[None, :])
    expected = np.exp(-gaps)
    expected /= expected.sum()
    assert_array_equal(P[0] == 0.0, expected == 0.0)
    assert_allclose(P[0], expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("Estimator", [NCA, MLKR])
def test_truncated_fit_does_not_depend_on_the_order_of_the_rows(Estimator):
    # The truncated solver sorts the rows by target: the same problem, so
    # any order of the rows gives the same model (to rounding).
    # Both fits converge; the loss is invariant under an orthogonal map of the
    # embedding, so the metrics L^T L are compared. The optimum is flat: at
    # tol=1e-7 the two fits stopped 7e-4 apart (relative) with the oldest declared
    # versions on one machine, so the tolerance is tighter.
    X, y = _informative(2, n=80)
    y = y if Estimator is NCA else np.sin(X[:, 0])
    order = np.random.default_rng(0).permutation(80)
    params = dict(init="identity", n_neighbors=15, tol=3e-9, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        first = Estimator(**params).fit(X, y)
        second = Estimator(**params).fit(X[order], y[order])
    assert_allclose(second.get_mahalanobis_matrix(), first.get_mahalanobis_matrix(),
                    rtol=1e-4, atol=1e-6)


def test_rows_by_target_sorts_rows_and_targets_together():
    from skmetric._softmax_solver import rows_by_target

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 4, size=30)
    X_copy, y_copy = X.copy(), y.copy()
    X_sorted, y_sorted = rows_by_target(X, y)
    assert np.all(np.diff(y_sorted) >= 0)
    order = np.argsort(y, kind="stable")
    assert_array_equal(X_sorted, X[order])
    assert_array_equal(y_sorted, y[order])
    assert X_sorted.flags.c_contiguous
    assert_array_equal(X, X_copy)
    assert_array_equal(y, y_copy)
