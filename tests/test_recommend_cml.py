"""CollaborativeMetricLearning: the objective, the scikit-learn shape, cold start."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skmetric.recommend import CollaborativeMetricLearning
from skmetric.recommend import _cml_solver as solver

FAST = dict(n_components=8, batch_size=64, max_iter=5, random_state=0)


def two_communities(n_users=40, n_items=30, per_user=6, seed=0):
    """Even users like items 0..n_items/2-1, odd users the others."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    rows = []
    for u in range(n_users):
        items = rng.choice(half, size=per_user, replace=False) + (u % 2) * half
        rows += [(u, i) for i in items]
    return np.array(rows, dtype=np.int64)


def fit_quiet(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


# ---- the objective ----------------------------------------------------------------


def _objective_problem(seed, with_features):
    rng = np.random.default_rng(seed)
    n_users, n_items, k, n_features = 6, 15, 4, 3
    P = rng.normal(scale=0.3, size=(n_users, k))
    V = rng.normal(scale=0.3, size=(n_items, k))
    F = rng.normal(size=(n_items, n_features)) if with_features else None
    W = rng.normal(scale=0.2, size=(n_features, k)) if with_features else None
    own = [np.sort(rng.choice(n_items, size=3, replace=False)) for _ in range(n_users)]
    indptr = np.concatenate([[0], np.cumsum([3] * n_users)]).astype(np.int64)
    indices = np.concatenate(own).astype(np.int64)
    users = rng.integers(0, n_users, size=12)
    positives = np.array([rng.choice(own[u]) for u in users], dtype=np.int64)
    negatives = rng.integers(0, n_items, size=(12, 5))
    weights = rng.uniform(0.5, 2.0, size=12)
    params = np.concatenate([P.ravel(), V.ravel()]
                            + ([W.ravel()] if with_features else []))
    shapes = [P.shape, V.shape] + ([W.shape] if with_features else [])
    return params, shapes, (F, users, positives, negatives, weights, indptr, indices)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("with_features", [False, True])
@pytest.mark.parametrize("covariance_weight", [0.0, 3.0])
def test_cml_gradient_matches_finite_differences(seed, with_features,
                                                  covariance_weight):
    params, shapes, data = _objective_problem(seed, with_features)

    def f(x):
        return solver.objective(x, shapes, *data, 1.0, 15, covariance_weight)

    loss, grad = f(params)
    assert loss > 0 and np.any(grad != 0)
    eps = 1e-6
    numeric = np.empty_like(params)
    for t in range(params.size):
        step = np.zeros_like(params)
        step[t] = eps
        numeric[t] = (f(params + step)[0] - f(params - step)[0]) / (2 * eps)
    assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_objective_has_no_side_effects():
    params, shapes, data = _objective_problem(0, True)
    copies = [params.copy()] + [None if a is None else a.copy() for a in data]
    first = solver.objective(params, shapes, *data, 1.0, 15, 1.0)
    second = solver.objective(params, shapes, *data, 1.0, 15, 1.0)
    assert first[0] == second[0]
    assert_array_equal(first[1], second[1])
    assert_array_equal(params, copies[0])
    for a, c in zip(data, copies[1:]):
        if a is not None:
            assert_array_equal(a, c)


def test_covariance_penalty_counts_only_off_diagonal_entries():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    loss, _ = solver.covariance_loss_grad(X, 2.0)
    C = np.cov(X, rowvar=False, bias=True)
    assert_allclose(loss, (C**2).sum() - (np.diag(C) ** 2).sum(), rtol=1e-10)
    # Independent columns scaled differently: the diagonal alone is not penalised.
    uncorrelated = np.diag([1.0, 5.0, 9.0])
    assert solver.covariance_loss_grad(
        np.vstack([uncorrelated, -uncorrelated]), 1.0)[0] == 0.0
