"""Wide inputs train in their leading principal subspace (skmetric/deep/_wide.py):
the basis, and the fold-back of the subspace network into the input space."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skmetric.deep import DeepSiamesePairs, DeepTriplet, DeepTripletTriplets
from skmetric.deep import _wide

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


def _wide_data(n_samples, n_features, rank, seed=0):
    rng = np.random.default_rng(seed)
    scales = 0.5 ** np.arange(rank)
    X = (rng.normal(size=(n_samples, rank)) * scales) @ rng.normal(
        size=(rank, n_features))
    return X + 1e-3 * rng.normal(size=(n_samples, n_features))


@pytest.mark.parametrize("n_samples", [60, 3000])  # Gram side, covariance side
def test_principal_basis_keeps_the_variance(n_samples):
    X = _wide_data(n_samples, 1100, 12)
    basis = _wide.principal_basis(X)
    assert basis is not None and basis.shape[0] == 1100
    assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-10)
    centred = X - X.mean(axis=0)
    kept = np.sum((centred @ basis) ** 2) / np.sum(centred**2)
    assert kept >= _wide.KEPT_VARIANCE
    # One direction fewer would not do: q is the smallest that keeps it.
    fewer = np.sum((centred @ basis[:, :-1]) ** 2) / np.sum(centred**2)
    assert fewer < _wide.KEPT_VARIANCE


def test_principal_basis_only_for_wide_or_compressible_data():
    rng = np.random.default_rng(0)
    assert _wide.principal_basis(rng.normal(size=(50, 1024))) is None
    # White noise needs nearly every direction: no saving, no basis.
    assert _wide.principal_basis(rng.normal(size=(3000, 1100))) is None
    assert _wide.principal_basis(np.ones((40, 2000))) is None


def _triplets(n, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, 300)
    return np.column_stack((a, (a + 1) % n, (a + 7) % n))


@pytest.mark.parametrize("make", [
    lambda X: DeepTripletTriplets(4, hidden_layer_sizes=(8,), batch_size=32,
                                  max_iter=3, preprocessor=X, random_state=0),
    lambda X: DeepSiamesePairs(4, hidden_layer_sizes=(8,), batch_size=32,
                               max_iter=3, preprocessor=X, random_state=0),
])
def test_wide_fit_is_the_subspace_network_folded_back(make, monkeypatch):
    X = _wide_data(80, 1100, 10)
    tuples = _triplets(80)
    y = None
    if isinstance(make(X), DeepSiamesePairs):
        tuples, y = tuples[:, :2], np.where(np.arange(300) % 2, 1, -1)
    import skmetric.deep._base as base

    used = []

    def recorded(points):
        used.append(_wide.principal_basis(points))
        return used[-1]

    monkeypatch.setattr(base, "principal_basis", recorded)
    wide = make(X).fit(tuples, y)
    basis = used[0]
    assert basis is not None and basis.shape[1] < 40
    assert wide.coefs_[0].shape == (1100, 8) and wide.skip_.shape == (1100, 4)
    # The same estimator on the principal coordinates, trained at full width.
    monkeypatch.setattr(_wide, "WIDE_FEATURES", 10**9)
    narrow = make(X @ basis).fit(tuples, y)
    # Equal up to the sign of each output coordinate: the PCA start fixes each
    # component's sign by its largest entry, in 1100 or in q coordinates, and
    # training is equivariant to flipping an output coordinate (LAPACK builds
    # differ in which sign they return).
    Z_wide, Z_narrow = wide.transform(X), narrow.transform(X @ basis)
    signs = np.where(np.sum(Z_wide * Z_narrow, axis=0) < 0, -1.0, 1.0)
    assert_allclose(Z_wide, Z_narrow * signs, atol=1e-8)
    # New points: embedded through their projection on the subspace.
    X_new = np.random.default_rng(5).normal(size=(7, 1100))
    assert_allclose(wide.transform(X_new), narrow.transform(X_new @ basis) * signs,
                    atol=1e-8)


def test_wide_labelled_fit_and_warm_start(monkeypatch):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 15)
    X = _wide_data(90, 1100, 8) + 3.0 * np.eye(6)[y] @ rng.normal(size=(6, 1100))
    model = DeepTriplet(4, hidden_layer_sizes=(8,), batch_size=30,
                        n_samples_per_class=5, max_iter=3, early_stopping=False,
                        random_state=0, warm_start=True).fit(X, y)
    first = model.coefs_[0].copy()
    basis = _wide.principal_basis(X)
    # Folded back: the first layer lies in the principal subspace.
    assert_allclose(basis @ (basis.T @ first), first, atol=1e-10)
    model.fit(X, y)  # continues at full width with a fresh optimiser
    assert model.coefs_[0].shape == (1100, 8)
    assert not np.allclose(first, model.coefs_[0])
