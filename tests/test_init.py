import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmetric._init import (
    components_from_metric,
    initial_components,
    project_psd,
    symmetric_eigh,
)


def _data(n=30, d=5, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % n_classes


@pytest.mark.parametrize(
    "init, n_components",
    [("identity", 5), ("identity", 2), ("random", 3), ("pca", 4), ("lda", 2),
     ("auto", 2), ("auto", 4), ("auto", 5)],
)
def test_initial_components_shapes(init, n_components):
    X, y = _data()
    rng = np.random.RandomState(0)
    L = initial_components(init, X, y, n_components, rng)
    assert L.shape == (n_components, 5)
    assert np.all(np.isfinite(L))


def test_initial_components_auto_choices():
    X, y = _data()
    rng = np.random.RandomState(0)
    lda = initial_components("lda", X, y, 2, rng)
    assert_allclose(initial_components("auto", X, y, 2, rng), lda)
    pca = initial_components("pca", X, y, 4, rng)
    assert_allclose(np.abs(initial_components("auto", X, y, 4, rng)), np.abs(pca))
    assert_array_equal(initial_components("auto", X, y, 5, rng), np.eye(5))


def test_initial_components_constant_features_fall_back_to_identity():
    X = np.zeros((10, 2))
    y = np.repeat([0, 1], 5)
    rng = np.random.RandomState(0)
    assert_array_equal(initial_components("auto", X, y, 1, rng), np.eye(1, 2))
    with pytest.raises(ValueError, match=re.escape(
            "init='lda' needs features that vary; every feature of X is constant")):
        initial_components("lda", X, y, 1, rng)


def test_initial_components_rejects_bad_requests():
    X, y = _data()
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match=re.escape("init='lda' gives at most "
                                                   "min(n_features, n_classes - 1) = 2")):
        initial_components("lda", X, y, 3, rng)
    with pytest.raises(ValueError, match=re.escape("init must have shape (2, 5)")):
        initial_components(np.ones((3, 5)), X, y, 2, rng)
    given = np.ones((2, 5))
    out = initial_components(given, X, y, 2, rng)
    out[0, 0] = 7.0
    assert given[0, 0] == 1.0  # copied, not aliased


def test_psd_helpers_factor_and_project():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    M = A @ A.T
    L = components_from_metric(M)
    assert_allclose(L.T @ L, M, atol=1e-10)
    assert np.all(np.abs(L).max(axis=1) == L[np.arange(6), np.abs(L).argmax(axis=1)])
    S = A + A.T
    P, values, vectors = project_psd(S)
    assert values.min() >= 0.0
    assert np.linalg.eigvalsh(P).min() > -1e-10
    eig = np.linalg.eigvalsh(S)
    # Frobenius distance to the PSD cone is the norm of the negative eigenvalues.
    assert_allclose(np.linalg.norm(S - P), np.linalg.norm(np.minimum(eig, 0)))
    values, vectors = symmetric_eigh(M)
    assert np.all(np.diff(values) <= 0)
