"""Xing's full and diagonal solvers against independent optimisers, their
certificates, the regimes where the problem is rank-deficient, and compile-once."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skmetric import MahalanobisXing, MahalanobisXingPairs
from skmetric._base import VerbosePrinter
from skmetric._xing import default_n_constraints, sample_label_pairs, solve_xing
from skmetric._xing_solver import (
    _newton_direction,
    _newton_direction_cg,
    components_from_factor,
    diagonal_terms,
    factor_objective_grad,
    full_certificate,
)


class _Quiet:
    verbose = 0


def _solve(X, similar, dissimilar, diagonal, tol=1e-8, max_iter=2000):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return solve_xing(X, similar, dissimilar, diagonal=diagonal, n_components=None,
                          max_iter=max_iter, tol=tol, printer=VerbosePrinter(_Quiet()))


def _problem(seed, n, d, n_similar, n_dissimilar):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, size=d)

    def pairs(m):
        p = rng.integers(0, n, size=(3 * m, 2))
        return np.ascontiguousarray(p[p[:, 0] != p[:, 1]][:m], dtype=np.int64)

    return X, pairs(n_similar), pairs(n_dissimilar)


def _diffs(X, pairs):
    return X[pairs[:, 0]] - X[pairs[:, 1]]


# (n, d, similar pairs, dissimilar pairs): enough of both; fewer similar pairs than
# features; fewer dissimilar pairs than features; fewer samples than features.
REGIMES = [(40, 5, 30, 30), (40, 8, 4, 30), (40, 8, 30, 4), (20, 30, 6, 8)]


# ---------------------------------------------------------------------------------
# Diagonal: scipy's L-BFGS-B with bounds on the same objective
# ---------------------------------------------------------------------------------


def _lbfgsb_diagonal(X, similar, dissimilar):
    s = (_diffs(X, similar) ** 2).sum(axis=0)
    D = _diffs(X, dissimilar) ** 2

    def objective(w):
        dists = np.sqrt(np.maximum(D @ w, 1e-300))
        total = dists.sum()
        return s @ w - np.log(total), s - D.T @ (0.5 / dists) / total

    start = np.full(X.shape[1], 0.5 / s.sum())
    result = scipy.optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B",
        bounds=[(0.0, None)] * X.shape[1],
        options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12, "maxcor": 30},
    )
    return result.x, result.fun


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("regime", REGIMES + [(60, 320, 200, 40)])
def test_xing_diagonal_matches_lbfgsb(regime, seed):
    # The last regime has more than 300 features: the conjugate-gradient path.
    X, similar, dissimilar = _problem(seed, *regime)
    # Certified at 1e-7: the KKT residual stalls near 1e-8, the rounding level of
    # the gradient (1.1e-8 and 1.4e-8 on two of these problems with numpy 1.24),
    # where the solver rightly stops uncertified. Agreement is checked below.
    components, objective, _, converged = _solve(X, similar, dissimilar, True,
                                                 tol=1e-7)
    assert converged
    weights = np.diag(components.T @ components)
    expected_weights, expected = _lbfgsb_diagonal(X, similar, dissimilar)
    s = (_diffs(X, similar) ** 2).sum(axis=0)
    D = _diffs(X, dissimilar) ** 2
    assert_allclose(objective, s @ weights - np.log(np.sqrt(D @ weights).sum()),
                    rtol=1e-12)
    # h* = 1/2 - log(T*) at the optimum, so the objectives compare through T.
    assert_allclose(np.exp(-objective), np.exp(-expected), rtol=1e-6)
    assert objective <= expected + 1e-9
    assert_allclose(weights, expected_weights, rtol=1e-4,
                    atol=1e-5 * expected_weights.max())


def test_xing_diagonal_with_fewer_dissimilar_pairs_than_features_leaves_identity():
    # Two classes, n=100, d=200: the Hessian is singular. The fit must move away
    # from the identity and satisfy the KKT conditions of w >= 0.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    X = rng.normal(size=(100, 200))
    X[:, :3] += 2.0 * y[:, None]
    model = MahalanobisXing(diagonal=True, n_constraints=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    weights = np.diag(model.get_mahalanobis_matrix())
    assert weights.max() > 10 * np.median(weights)
    similar, dissimilar = sample_label_pairs(y, 60, np.random.RandomState(0))
    s = (_diffs(X, similar) ** 2).sum(axis=0)
    D = _diffs(X, dissimilar) ** 2
    dists = np.sqrt(D @ weights)
    gradient = s - D.T @ (0.5 / dists) / dists.sum()
    # In units of each feature's similar spread s_k (scale-free): zero on the
    # positive weights, non-negative on the zero ones.
    relative = gradient / s
    assert np.abs(relative[weights > 0]).max() < 1e-4
    assert relative[weights == 0].min() > -1e-4


def test_newton_direction_cg_matches_the_dense_solve():
    X, similar, dissimilar = _problem(0, 50, 40, 30, 25)
    D = np.ascontiguousarray(_diffs(X, dissimilar) ** 2)
    ones = np.ones(40)
    weights = np.random.default_rng(1).uniform(0.1, 1.0, size=40)
    _, gradient, pieces = diagonal_terms(ones, D, weights)
    rows, curvature, u, total = pieces
    hessian = (rows.T * curvature) @ rows / total + np.outer(u, u) / total**2
    free = np.ones(40, dtype=bool)
    free[:5] = False
    dense = _newton_direction(gradient, hessian, free, 1e-3)
    iterative = _newton_direction_cg(gradient, pieces, free, 1e-3, 1e-12)
    assert_allclose(iterative, dense, rtol=1e-6, atol=1e-9 * np.abs(dense).max())


# ---------------------------------------------------------------------------------
# Full: SLSQP on a factor, in the same subspace
# ---------------------------------------------------------------------------------


def _slsqp_full(X, similar, dissimilar):
    """max sum_D |K U^T d| s.t. sum_S |K U^T d|^2 <= 1, U a basis of the learned
    span, computed here independently: Sigma^+ times the similar differences, Sigma
    the scatter of the rows the pairs use."""
    used = np.unique(np.concatenate((similar.ravel(), dissimilar.ravel())))
    centred = X[used] - X[used].mean(axis=0)
    U = scipy.linalg.orth(np.linalg.pinv(centred.T @ centred) @ _diffs(X, similar).T)
    k = U.shape[1]
    A, B = _diffs(X, similar) @ U, _diffs(X, dissimilar) @ U

    def negative(flat):
        projected = B @ flat.reshape(k, k).T
        dists = np.sqrt((projected**2).sum(axis=1))
        return -dists.sum(), -((projected / dists[:, None]).T @ B).ravel()

    def slack(flat):
        return 1.0 - ((A @ flat.reshape(k, k).T) ** 2).sum()

    def slack_grad(flat):
        return (-2.0 * (A @ flat.reshape(k, k).T).T @ A).ravel()

    constraint = {"type": "ineq", "fun": slack, "jac": slack_grad}
    best = None
    for seed in range(3):
        K = np.eye(k) + 0.1 * np.random.default_rng(seed).normal(size=(k, k))
        K /= np.sqrt(((A @ K.T) ** 2).sum())
        result = scipy.optimize.minimize(
            negative, K.ravel(), jac=True, method="SLSQP", constraints=[constraint],
            options={"maxiter": 5000, "ftol": 1e-14},
        )
        if best is None or result.fun < best.fun:
            best = result
    K = best.x.reshape(k, k)
    M = U @ K.T @ K @ U.T
    return M / np.einsum("ij,jk,ik->", _diffs(X, similar), M, _diffs(X, similar))


def _full_objective(X, similar, dissimilar, M):
    constraint = np.einsum("ij,jk,ik->", _diffs(X, similar), M, _diffs(X, similar))
    D = _diffs(X, dissimilar)
    return constraint, np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", D, M, D), 0)).sum()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("regime", REGIMES)
def test_xing_full_matches_slsqp(regime, seed):
    X, similar, dissimilar = _problem(seed, *regime)
    components, objective, _, converged = _solve(X, similar, dissimilar, False,
                                                 tol=1e-7)
    assert converged
    M = components.T @ components
    constraint, value = _full_objective(X, similar, dissimilar, M)
    assert_allclose(constraint, 1.0, rtol=1e-10)
    assert_allclose(value, objective, rtol=1e-7)
    expected = _slsqp_full(X, similar, dissimilar)
    _, expected_value = _full_objective(X, similar, dissimilar, expected)
    assert_allclose(value, expected_value, rtol=1e-6)
    # The objective is strictly concave in the dissimilar pairs' squared
    # distances, so those are unique (M need not be, with few pairs).
    D = _diffs(X, dissimilar)
    assert_allclose(np.einsum("ij,jk,ik->i", D, M, D),
                    np.einsum("ij,jk,ik->i", D, expected, D), rtol=1e-4, atol=1e-8)


def test_xing_full_is_invariant_to_a_linear_map_of_the_data():
    X, similar, dissimilar = _problem(0, 60, 6, 40, 40)
    T = np.random.default_rng(5).normal(size=(6, 6)) + 3 * np.eye(6)
    base = _solve(X, similar, dissimilar, False)
    mapped = _solve(X @ T, similar, dissimilar, False)
    assert_allclose(mapped[1], base[1], rtol=1e-6)
    assert_allclose((X @ T) @ mapped[0].T @ mapped[0] @ (X @ T).T,
                    X @ base[0].T @ base[0] @ X.T, rtol=1e-4, atol=1e-6)


def test_xing_diagonal_is_invariant_to_feature_scaling():
    X, similar, dissimilar = _problem(1, 60, 6, 40, 40)
    scales = np.array([1e-6, 1.0, 1e3, 2.0, 1e-2, 7.0])
    base = _solve(X, similar, dissimilar, True)
    scaled = _solve(X * scales, similar, dissimilar, True)
    assert_allclose(scaled[1], base[1], rtol=1e-9)
    assert_allclose(np.diag(scaled[0].T @ scaled[0]) * scales**2,
                    np.diag(base[0].T @ base[0]), rtol=1e-5)


def test_factor_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(20, 4))
    pairs = rng.integers(0, 20, size=(30, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    left, right = (np.ascontiguousarray(c, dtype=np.int64) for c in pairs.T)
    for n_rows in (4, 2):
        flat = rng.normal(size=n_rows * 4)
        value, grad = factor_objective_grad(flat, W, left, right, n_rows)
        L = flat.reshape(n_rows, 4)
        dists = np.linalg.norm((W[left] - W[right]) @ L.T, axis=1)
        assert_allclose(value, np.sum(L**2) - np.log(dists.sum()), rtol=1e-12)
        h = 1e-6
        numeric = np.array([
            (factor_objective_grad(flat + h * e, W, left, right, n_rows)[0]
             - factor_objective_grad(flat - h * e, W, left, right, n_rows)[0]) / (2 * h)
            for e in np.eye(flat.size)
        ])
        assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_full_certificate_bounds_every_feasible_metric(seed):
    # The gap is an upper bound: no PSD M' of unit trace beats F(M) + gap.
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(15, 3))
    pairs = rng.integers(0, 15, size=(20, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    left, right = (np.ascontiguousarray(c, dtype=np.int64) for c in pairs.T)
    L = rng.normal(size=(3, 3))
    value, gap = full_certificate(W, left, right, L)
    assert gap >= 0.0
    D = W[left] - W[right]
    for _ in range(200):
        B = rng.normal(size=(3, rng.integers(1, 4)))
        other = B @ B.T / np.trace(B @ B.T)
        assert np.sqrt(np.einsum("ij,jk,ik->i", D, other, D)).sum() <= value + gap + 1e-9


def test_full_certificate_refuses_a_pair_at_zero_distance():
    W = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    left, right = np.array([0, 0], dtype=np.int64), np.array([1, 2], dtype=np.int64)
    # M = e1 e1^T puts the second pair at distance zero, where F is not smooth.
    assert full_certificate(W, left, right, np.array([[1.0, 0.0]]))[1] == np.inf


def test_components_from_factor_match_the_eigendecomposition():
    from skmetric._init import components_from_metric

    factor = np.random.default_rng(0).normal(size=(3, 6))
    # Rows beyond the rank: zero here, square roots of rounding errors (1e-8)
    # through the eigen-decomposition of M.
    assert_allclose(components_from_factor(factor, None),
                    components_from_metric(factor.T @ factor), atol=1e-7)
    assert np.all(components_from_factor(factor, None)[3:] == 0.0)
    assert_allclose(components_from_factor(factor, 2),
                    components_from_metric(factor.T @ factor, 2), atol=1e-12)


# ---------------------------------------------------------------------------------
# Rank-deficient regimes, ill-posed input, non-convergence
# ---------------------------------------------------------------------------------


def test_xing_direction_without_similar_spread_gets_no_weight():
    # Every similar pair agrees on feature 2 and dissimilar pairs differ on it: the
    # problem is unbounded along it. Diagonal: weight zero. Full: M vanishes on
    # Sigma e_2 (Sigma the scatter of the rows used), the direction orthogonal, in
    # the data's own inner product, to the similar-pair differences.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    X[:, 2] = rng.integers(0, 4, size=60)
    candidates = rng.integers(0, 60, size=(600, 2))
    same = (X[candidates[:, 0], 2] == X[candidates[:, 1], 2]) & (
        candidates[:, 0] != candidates[:, 1])
    similar = np.ascontiguousarray(candidates[same][:40], dtype=np.int64)
    dissimilar = np.ascontiguousarray(candidates[~same][:40], dtype=np.int64)
    diagonal = _solve(X, similar, dissimilar, True)[0]
    weights = np.diag(diagonal.T @ diagonal)
    assert weights[2] == 0.0 and weights.min() < weights.max()
    full = _solve(X, similar, dissimilar, False)[0]
    M = full.T @ full
    used = np.unique(np.concatenate((similar.ravel(), dissimilar.ravel())))
    centred = X[used] - X[used].mean(axis=0)
    direction = centred.T @ centred[:, 2]
    assert np.linalg.norm(M @ direction) < 1e-8 * np.linalg.norm(M) * np.linalg.norm(
        direction)


def test_xing_refuses_pairs_with_nothing_to_learn():
    # Similar pairs vary along e0 and e1 only, the dissimilar pair along e2 only.
    X = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1],
                  [0, 0, -1]])
    similar = np.array([[0, 1], [2, 3]], dtype=np.int64)
    dissimilar = np.array([[4, 5]], dtype=np.int64)
    for diagonal in (True, False):
        with pytest.raises(ValueError, match="no finite solution"):
            _solve(X, similar, dissimilar, diagonal)


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("regime", REGIMES)
def test_xing_warns_when_stopped_early_in_every_regime(regime, diagonal):
    X, similar, dissimilar = _problem(0, *regime)
    with pytest.warns(ConvergenceWarning):
        model = MahalanobisXingPairs(diagonal=diagonal, max_iter=1, tol=1e-12,
                                     preprocessor=X)
        model.fit(np.vstack((similar, dissimilar)),
                  np.r_[np.ones(len(similar)), -np.ones(len(dissimilar))])
    assert model.n_iter_ <= 1


def test_default_n_constraints_grow_with_the_problem():
    assert default_n_constraints(150, 4, 3) == 300
    assert default_n_constraints(100, 2000, 2) == 4000
    assert default_n_constraints(50, 3, 10) == 2000
    assert default_n_constraints(10**7, 5, 2) == 10**6


def test_xing_default_similar_scatter_reaches_the_within_class_rank():
    # 180 features, 3 classes: the default pairs span the within-class directions,
    # so the full fit is learned in a span of full within-class rank.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 100)
    X = rng.normal(size=(300, 180)) + y[:, None] * rng.normal(size=180)
    n_pairs = default_n_constraints(300, 180, 3)
    similar, _ = sample_label_pairs(y, n_pairs, np.random.RandomState(0))
    assert np.linalg.matrix_rank(_diffs(X, similar)) == 180


# ---------------------------------------------------------------------------------
# Compile once: contiguous int64 index arrays
# ---------------------------------------------------------------------------------

_SIGNATURES = r"""
import json, warnings
warnings.simplefilter("ignore")
import numpy as np
from skmetric import MahalanobisXing, MahalanobisXingPairs, _kernels
rng = np.random.default_rng(0)
y = np.arange(60) % 3
X = rng.normal(size=(60, 4)) + y[:, None]
MahalanobisXing(random_state=0).fit(X, y)
MahalanobisXing(diagonal=True, random_state=0).fit(X, y)
pairs = np.vstack((np.column_stack((np.arange(57), np.arange(3, 60))),
                   np.column_stack((np.arange(59), np.arange(1, 60)))))
MahalanobisXingPairs(preprocessor=X).fit(
    pairs, np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1))
def compiled(kernel):  # a threaded kernel: both of its compilations
    parts = [kernel.serial, kernel.parallel] if hasattr(kernel, "serial") else [kernel]
    return [str(s) for part in parts for s in part.signatures]


print(json.dumps({name: compiled(getattr(_kernels, name))
                  for name in ("pair_sq_dists", "pair_sq_diffs",
                               "pair_laplacian_matmul")}))
"""


def test_xing_kernels_compile_once():
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _SIGNATURES], env=env, text=True,
                         capture_output=True, timeout=300, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    signatures = json.loads(out.stdout.strip().splitlines()[-1])
    for name, found in signatures.items():
        assert len(found) == 1, (name, found)
