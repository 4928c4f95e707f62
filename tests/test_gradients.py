"""Every (loss, grad) pair against central finite differences in float64."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skmetric._init import components_from_metric
from skmetric._xing import (
    _newton_direction,
    diagonal_objective,
    diagonal_objective_grad_hess,
    full_objective_grad,
)


def _xing_problem(seed, n=30, d=5, m=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    pairs = rng.integers(0, n, size=(m, 2)).astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    A = rng.normal(size=(d, d))
    M = A @ A.T + 0.5 * np.eye(d)  # well inside the PSD cone
    return rng, X, pairs, M


def _full_objective(X, pairs, M):
    return full_objective_grad(X, pairs, components_from_metric(M))[0]


@pytest.mark.parametrize("seed", range(5))
def test_xing_full_gradient_matches_finite_differences(seed):
    rng, X, pairs, M = _xing_problem(seed)
    objective, gradient = full_objective_grad(X, pairs, components_from_metric(M))
    diffs = X[pairs[:, 0]] - X[pairs[:, 1]]
    assert_allclose(objective, np.sqrt(np.einsum("ij,jk,ik->i", diffs, M, diffs)).sum())
    for _ in range(5):
        E = rng.normal(size=M.shape)
        E = E + E.T
        h = 1e-6
        numeric = (
            _full_objective(X, pairs, M + h * E) - _full_objective(X, pairs, M - h * E)
        ) / (2 * h)
        assert_allclose(np.sum(gradient * E), numeric, rtol=1e-6)


def _diagonal_problem(seed, m_s=25, m_d=35, d=6):
    rng = np.random.default_rng(seed)
    similar_sq = (rng.normal(size=(m_s, d)) ** 2).sum(axis=0)
    dissimilar = rng.normal(size=(m_d, d)) ** 2
    weights = rng.uniform(0.2, 2.0, size=d)
    return rng, similar_sq, dissimilar, weights


@pytest.mark.parametrize("seed", range(5))
def test_xing_diagonal_gradient_and_hessian_match_finite_differences(seed):
    rng, similar_sq, dissimilar, weights = _diagonal_problem(seed)
    objective, gradient, hessian = diagonal_objective_grad_hess(
        similar_sq, dissimilar, weights
    )
    expected = similar_sq @ weights - np.log(np.sqrt(dissimilar @ weights).sum())
    assert_allclose(objective, expected, rtol=1e-12)
    assert_allclose(diagonal_objective(similar_sq, dissimilar, weights), expected,
                    rtol=1e-12)
    h = 1e-6
    d = weights.shape[0]
    numeric_grad = np.empty(d)
    numeric_hess = np.empty((d, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        plus = diagonal_objective_grad_hess(similar_sq, dissimilar, weights + e)
        minus = diagonal_objective_grad_hess(similar_sq, dissimilar, weights - e)
        numeric_grad[k] = (plus[0] - minus[0]) / (2 * h)
        numeric_hess[:, k] = (plus[1] - minus[1]) / (2 * h)
    assert_allclose(gradient, numeric_grad, rtol=1e-6, atol=1e-8)
    assert_allclose(hessian, numeric_hess, rtol=1e-5, atol=1e-7)
    assert np.linalg.eigvalsh(hessian).min() > -1e-10  # convex


@pytest.mark.parametrize("seed", range(3))
def test_xing_newton_direction_solves_the_free_system(seed):
    rng, similar_sq, dissimilar, weights = _diagonal_problem(seed)
    _, gradient, hessian = diagonal_objective_grad_hess(similar_sq, dissimilar, weights)
    free = np.ones(weights.shape[0], dtype=bool)
    free[0] = False
    direction = _newton_direction(gradient, hessian, free)
    assert_allclose(hessian[np.ix_(free, free)] @ direction[free], -gradient[free],
                    rtol=1e-6, atol=1e-9)
    assert direction[0] == -gradient[0]
    # A full Newton step on a quadratic model decreases the objective here.
    step = np.maximum(weights + 1e-3 * direction, 0.0)
    assert diagonal_objective_grad_hess(similar_sq, dissimilar, step)[0] < (
        diagonal_objective_grad_hess(similar_sq, dissimilar, weights)[0]
    )
