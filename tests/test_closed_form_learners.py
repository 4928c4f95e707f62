"""LFDA, Covariance, RCA and RCAChunks: formulas, optimality, invariances, input."""

import re
import warnings

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

import skmetric._kernels as kernels
from skmetric import LFDA, RCA, Covariance, RCAChunks
from skmetric._lfda import affinity_laplacian_rows, local_scatters
from skmetric._rca import sample_chunklets

from . import _reference as ref


def _classes(seed, n=40, d=4, n_classes=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d)) + 2.0 * rng.normal(size=(n_classes, d))[y]
    return rng, X, y


def _pair_distances(model, X, pairs):
    return model.pair_distance(X[pairs])


def _random_pairs(rng, n, m=30):
    return rng.integers(0, n, size=(m, 2))


# ---- LFDA -------------------------------------------------------------------------


def _lfda_scatters_from_formula(X, y, k):
    """Sugiyama's weight matrices, n x n, and 1/2 sum_ij W_ij (x_i-x_j)(x_i-x_j)^T."""
    n = X.shape[0]
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    W_within, W_between = np.zeros((n, n)), np.full((n, n), 1.0 / n)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n_c = idx.size
        D_c = D[np.ix_(idx, idx)].copy()
        np.fill_diagonal(D_c, np.inf)
        sigma = np.sqrt(np.sort(D_c, axis=1)[:, min(k, n_c - 1) - 1])
        A = np.exp(-D[np.ix_(idx, idx)] / np.outer(sigma, sigma))
        W_within[np.ix_(idx, idx)] = A / n_c
        W_between[np.ix_(idx, idx)] = A * (1.0 / n - 1.0 / n_c)
    diffs = X[:, None] - X[None]
    def scatter(W):
        return 0.5 * np.einsum("ij,ijk,ijl->kl", W, diffs, diffs)
    return scatter(W_between), scatter(W_within)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 7])
def test_lfda_scatters_match_the_formula(seed, k):
    _, X, y = _classes(seed, n=30)
    between, within, _ = local_scatters(X, y.astype(np.int64), k)
    expected_between, expected_within = _lfda_scatters_from_formula(X, y, k)
    assert_allclose(between, expected_between, rtol=1e-10, atol=1e-10)
    assert_allclose(within, expected_within, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_lfda_leading_direction_maximises_the_rayleigh_quotient(seed):
    # Independent optimiser: scipy maximises v^T S_b v / v^T S_w v directly.
    _, X, y = _classes(seed)
    between, within, _ = local_scatters(X, y.astype(np.int64), 7)
    model = LFDA(1, embedding_type="plain").fit(X, y)
    v = model.components_[0]

    def negative_quotient(w):
        return -(w @ between @ w) / (w @ within @ w)

    best = min((minimize(negative_quotient, start, method="BFGS").fun
                for start in np.random.default_rng(seed).normal(size=(5, 4))))
    assert_allclose(-negative_quotient(v), -best, rtol=1e-6)
    assert_allclose(model.eigenvalues_[0], -best, rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_lfda_embedding_is_equivariant_under_rotation_and_scaling(seed):
    rng, X, y = _classes(seed)
    Q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    scale = rng.uniform(0.1, 10.0)
    Z = LFDA().fit(X, y).transform(X)
    Z_mapped = LFDA().fit(scale * X @ Q, y).transform(scale * X @ Q)
    signs = np.sign(np.sum(Z * Z_mapped, axis=0))
    assert_allclose(Z_mapped * signs, scale * Z, rtol=1e-7, atol=1e-8 * scale)


def test_lfda_is_not_invariant_under_a_general_linear_map():
    # The affinities use Euclidean distances: stretching one axis changes them,
    # so the equivariance above is a property of rotations and scalings only.
    rng, X, y = _classes(0)
    A = np.diag([10.0, 1.0, 1.0, 1.0])
    pairs = _random_pairs(rng, X.shape[0])
    d = _pair_distances(LFDA(embedding_type="orthonormalized").fit(X, y), X, pairs)
    d_mapped = _pair_distances(LFDA(embedding_type="orthonormalized").fit(X @ A, y),
                               X @ A, pairs)
    assert not np.allclose(d_mapped / d_mapped.mean(), d / d.mean(), rtol=1e-3)


@pytest.mark.parametrize("kind", ["weighted", "orthonormalized", "plain"])
def test_lfda_embedding_types(kind):
    _, X, y = _classes(1)
    model = LFDA(3, embedding_type=kind).fit(X, y)
    rows = model.components_
    if kind == "plain":
        assert_allclose(np.linalg.norm(rows, axis=1), 1.0)
    elif kind == "orthonormalized":
        assert_allclose(rows @ rows.T, np.eye(3), atol=1e-10)
    else:
        assert_allclose(np.linalg.norm(rows, axis=1),
                        np.sqrt(model.eigenvalues_), rtol=1e-10)


def test_lfda_with_fewer_points_than_features_gives_a_finite_map():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 30))
    y = np.arange(12) % 3
    model = LFDA().fit(X, y)
    assert np.all(np.isfinite(model.components_))
    assert np.count_nonzero(np.linalg.norm(model.components_, axis=1)) <= 11


@pytest.mark.parametrize("seed", range(3))
def test_lfda_is_invariant_under_translation_far_from_the_origin(seed):
    # Distances from a Gram matrix of rows far from zero cancel most of their
    # digits; the fit centres each class first, so a shift changes nothing.
    _, X, y = _classes(seed, n=120, d=4)
    assert_allclose(LFDA().fit(X + 1e6, y).components_, LFDA().fit(X, y).components_,
                    rtol=1e-7, atol=1e-9)


def test_lfda_gives_a_constant_feature_no_weight_even_when_its_mean_rounds():
    # A feature constant at a large value whose computed mean is not the value:
    # its centred column would be rounding noise, large enough next to the
    # other features' spread to pass the rank test as a direction.
    rng, X, y = _classes(0, n=1000, d=3)
    value = 1e10 + 0.1
    assert np.full(1000, value).sum() / 1000 != value
    model = LFDA().fit(np.column_stack([X, np.full(1000, value)]), y)
    assert np.all(model.components_[:, 3] == 0.0)
    assert_allclose(model.components_[:3, :3], LFDA().fit(X, y).components_,
                    rtol=1e-8, atol=1e-10)


def test_lfda_separates_a_multimodal_class():
    # Class 0 in two clusters on either side of class 1 along axis 0; axis 1 noise.
    rng = np.random.default_rng(0)
    centres = np.array([[-6.0, 0.0], [0.0, 0.0], [6.0, 0.0]])
    y = np.repeat([0, 1, 0], 30)
    X = np.repeat(centres, 30, axis=0) + rng.normal(size=(90, 2)) * [0.5, 4.0]
    weights = np.abs(LFDA(1).fit(X, y).components_[0])
    assert weights[0] > 5 * weights[1]


# ---- Covariance --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_covariance_metric_is_the_inverse_covariance(seed):
    _, X, _ = _classes(seed)
    model = Covariance().fit(X)
    assert_allclose(model.get_mahalanobis_matrix(),
                    np.linalg.inv(np.cov(X.T, bias=True)), rtol=1e-8)
    assert model.rank_ == 4


def test_covariance_of_rank_deficient_data_is_the_pseudo_inverse():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    X = np.column_stack([X, X[:, 0] + X[:, 1], np.full(30, 2.0)])
    model = Covariance().fit(X)
    assert model.rank_ == 3
    assert_allclose(model.get_mahalanobis_matrix(),
                    scipy.linalg.pinvh(np.cov(X.T, bias=True)), rtol=1e-7,
                    atol=1e-9)


@pytest.mark.parametrize("Estimator", [Covariance, RCA])
@pytest.mark.parametrize("seed", range(5))
def test_distances_do_not_change_under_an_invertible_linear_map(Estimator, seed):
    rng, X, y = _classes(seed)
    A = rng.normal(size=(4, 4)) + 3 * np.eye(4)
    pairs = _random_pairs(rng, X.shape[0])
    fit = (lambda Z: Estimator().fit(Z)) if Estimator is Covariance else \
        (lambda Z: Estimator().fit(Z, y))
    assert_allclose(_pair_distances(fit(X @ A.T), X @ A.T, pairs),
                    _pair_distances(fit(X), X, pairs), rtol=1e-7)


def test_covariance_n_components_keeps_the_directions_of_least_variance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [10.0, 1.0, 0.1]
    rows = Covariance(1).fit(X).components_
    assert np.argmax(np.abs(rows[0])) == 2


# ---- RCA ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_rca_metric_is_the_maximum_likelihood_solution(seed):
    # Independent optimiser: min_L tr(L C L^T) - 2 log|det L| has L^T L = C^-1;
    # scipy's BFGS from a random start.
    rng, X, y = _classes(seed)
    model = RCA().fit(X, y)
    means = np.array([X[y == c].mean(axis=0) for c in range(3)])
    deviations = X - means[y]
    C = deviations.T @ deviations / X.shape[0]

    def objective(flat):
        L = flat.reshape(4, 4)
        sign, logdet = np.linalg.slogdet(L)
        return np.trace(L @ C @ L.T) - 2.0 * logdet

    result = minimize(objective, np.eye(4).ravel() + 0.1 * rng.normal(size=16),
                      method="BFGS", options={"gtol": 1e-10})
    L = result.x.reshape(4, 4)
    assert_allclose(model.get_mahalanobis_matrix(), L.T @ L, rtol=1e-5, atol=1e-7)


def test_rca_n_components_keeps_the_discriminant_directions():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    X = np.column_stack([3.0 * y + rng.normal(scale=0.5, size=120),
                         rng.normal(scale=5.0, size=(120, 3))])
    rows = RCA(1).fit(X, y).components_
    assert np.argmax(np.abs(rows[0])) == 0


def test_rca_with_fewer_points_than_features_warns_and_stays_finite():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 20))
    y = np.arange(10) % 2
    with pytest.warns(UserWarning, match="within-chunklet covariance is singular"):
        model = RCA().fit(X, y)
    assert np.all(np.isfinite(model.components_))


def test_sampled_chunklets_are_disjoint_groups_of_class_mates():
    rng = np.random.RandomState(0)
    y = np.arange(40) % 4
    chunk = sample_chunklets(y, 12, 3, rng)
    sizes = np.bincount(chunk[chunk >= 0])
    assert sizes.tolist() == [3] * 12
    for number in range(12):
        assert np.unique(y[chunk == number]).size == 1
    with pytest.raises(ValueError, match=re.escape(
            "n_chunks=14 chunklets of chunk_size=3 need more points: the classes "
            "give at most 12 disjoint chunklets")):
        sample_chunklets(y, 14, 3, rng)


def test_rca_sampled_chunklets_are_reproducible():
    _, X, y = _classes(0, n=60)
    a = RCA(n_chunks=10, random_state=3).fit(X, y).components_
    b = RCA(n_chunks=10, random_state=3).fit(X, y).components_
    assert_array_equal(a, b)


# ---- RCAChunks ------------------------------------------------------------------


def _chunklets_of_classes(y):
    size = np.bincount(y).max()
    out = np.full((y.max() + 1, size), -1)
    for c in range(y.max() + 1):
        rows = np.flatnonzero(y == c)
        out[c, : rows.size] = rows
    return out


def test_rca_chunks_with_classes_as_chunklets_equals_rca():
    _, X, y = _classes(2, n=31)  # unequal class sizes: -1 padding
    chunks = RCAChunks(preprocessor=X).fit(_chunklets_of_classes(y))
    assert_allclose(chunks.get_mahalanobis_matrix(),
                    RCA().fit(X, y).get_mahalanobis_matrix(), rtol=1e-10)


def test_rca_chunks_of_points_equal_chunks_of_indices():
    _, X, y = _classes(3, n=30)
    index_chunks = _chunklets_of_classes(y)
    by_index = RCAChunks(preprocessor=X).fit(index_chunks)
    by_points = RCAChunks().fit(X[index_chunks])
    assert_allclose(by_points.components_, by_index.components_, rtol=1e-10)


def test_rca_chunks_cross_validates_over_chunklets():
    rng, X, y = _classes(4, n=90)
    chunklets = rng.permutation(np.flatnonzero(y == 0))[:30].reshape(10, 3)
    chunklets = np.vstack([chunklets] + [
        rng.permutation(np.flatnonzero(y == c))[:30].reshape(10, 3) for c in (1, 2)])
    model = RCAChunks(preprocessor=X)
    grid = GridSearchCV(model, {"n_components": [2, 4]}, cv=3,
                        scoring=lambda est, chunks, _=None: -np.mean(
                            est.transform(X[chunks.ravel()]).var(axis=0)))
    grid.fit(chunklets)
    assert grid.best_estimator_.components_.shape[1] == 4
    with pytest.raises(TypeError, match="fit_transform has no single input"):
        model.fit_transform(chunklets)


BAD_CHUNKLETS = {
    "overlap": (np.array([[0, 1], [1, 2]]), ValueError,
                "row 1 is in more than one chunklet"),
    "empty chunklet": (np.array([[0, 1], [-1, -1]]), ValueError,
                       "chunklet 1 has no point"),
    "out of range": (np.array([[0, 99]]), ValueError,
                     "chunklets refers to row 99, outside the 10 rows"),
    "below -1": (np.array([[0, -2]]), ValueError, "chunklets refers to row -2"),
    "floats": (np.array([[0.0, 1.0]]), TypeError,
               "chunklets must be an integer array of row indices"),
    "singletons": (np.array([[0, -1], [1, -1]]), ValueError,
                   "every chunklet has a single point"),
}


@pytest.mark.parametrize("problem", list(BAD_CHUNKLETS))
def test_rca_chunks_rejects_bad_chunklets(problem):
    chunks, error, message = BAD_CHUNKLETS[problem]
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(error, match=re.escape(message)):
        RCAChunks(preprocessor=X).fit(chunks)


def test_rca_chunks_without_preprocessor_names_the_fix():
    with pytest.raises(ValueError, match=re.escape("but preprocessor is None")):
        RCAChunks().fit(np.array([[0, 1], [2, 3]]))
    with pytest.raises(ValueError, match=re.escape("Input X contains NaN")):
        RCAChunks().fit(np.full((2, 2, 3), np.nan))


def test_rca_chunks_leaves_its_input_unchanged_and_refits_on_another_width():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    chunks = np.arange(12).reshape(4, 3)
    X_copy, chunks_copy = X.copy(), chunks.copy()
    model = RCAChunks(preprocessor=X).fit(chunks)
    assert_array_equal(X, X_copy) and assert_array_equal(chunks, chunks_copy)
    wide = rng.normal(size=(4, 3, 5))
    assert model.set_params(preprocessor=None).fit(wide).components_.shape == (5, 5)
    assert model.n_features_in_ == 5


# ---- scikit-learn plumbing for the closed-form learners -----------------------------


@pytest.mark.parametrize("make", [lambda: LFDA(2), lambda: Covariance(2),
                                  lambda: RCA(2)])
def test_closed_form_learners_clone_pickle_and_grid_search(make):
    import pickle

    _, X, y = _classes(5, n=60)
    model = make().fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    assert_array_equal(again.transform(X), model.transform(X))
    copy = clone(model)
    assert not hasattr(copy, "components_")
    pipe = make_pipeline(make(), KNeighborsClassifier(3))
    grid = GridSearchCV(pipe, {f"{pipe.steps[0][0]}__n_components": [1, 2]}, cv=3)
    grid.fit(X, y)
    if not isinstance(model, Covariance):  # unsupervised: nothing to expect
        assert cross_val_score(pipe, X, y, cv=3).mean() > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make().fit(X.astype(np.float32), y)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [2, 3, 7, 40])
def test_lfda_affinity_matches_reference(seed, n):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * 10.0 ** rng.uniform(-2, 2)
    X[n // 2:n // 2 + 2] = X[0]  # duplicates: distance zero
    if n >= 7:
        X[-4:] = X[-5]  # five equal rows: with k <= 4 their scale is zero
    gram = X @ X.T
    for k in sorted({1, min(3, n - 1), n - 1}):
        work = gram.copy()
        A, degrees = kernels.lfda_affinity(work, k)
        A_ref, degrees_ref = ref.lfda_affinity(gram, k)
        assert A is work  # in place, as documented
        assert_allclose(A, A_ref, rtol=1e-14, atol=0)
        assert_array_equal(A, A.T)
        assert_array_equal(np.diag(A), 0.0)
        assert_allclose(degrees, degrees_ref, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("seed", range(4))
def test_lfda_affinity_scales_count_tied_distances_as_a_sort_does(seed):
    # Small integer points: many equal distances, so the k-th smallest often
    # sits among ties (and at zero, for repeated points).
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 30))
    X = rng.integers(0, 3, size=(n, 2)).astype(np.float64)
    gram = X @ X.T
    for k in range(1, n):
        A, degrees = kernels.lfda_affinity(gram.copy(), k)
        A_ref, degrees_ref = ref.lfda_affinity(gram, k)
        assert_allclose(A, A_ref, rtol=1e-14, atol=0)
        assert_allclose(degrees, degrees_ref, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("seed", range(3))
def test_lfda_affinity_scatter_one_block_and_row_blocks_agree(seed, monkeypatch):
    # The one-block path (numba affinity) and the memory-bounded two-pass path
    # (row blocks) compute the same scatter.
    import skmetric._lfda as lfda_module

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 4))
    X[5] = X[6]
    one_block = affinity_laplacian_rows(X, 7)
    monkeypatch.setattr(lfda_module, "_BLOCK_ELEMENTS", 100)
    assert_allclose(affinity_laplacian_rows(X, 7), one_block, rtol=1e-10, atol=1e-10)


def test_discriminant_eigh_falls_back_when_lapack_reports_a_failure(monkeypatch):
    # LAPACK's divide-and-conquer driver, called directly, signals a failure by
    # its info code: the fit then goes through symmetric_eigh's drivers and
    # gives the same model.
    import skmetric._init as init_module

    _, X, y = _classes(0)
    expected = LFDA().fit(X, y)
    calls = []

    def failing(M, lower=0):
        calls.append(M.shape)
        return np.full(M.shape[0], np.nan), np.full(M.shape, np.nan), 1

    monkeypatch.setattr(init_module, "dsyevd", failing)
    model = LFDA().fit(X, y)
    assert calls  # the patched driver was reached
    assert_allclose(model.eigenvalues_, expected.eigenvalues_, rtol=1e-10)
    assert_allclose(np.abs(model.components_), np.abs(expected.components_),
                    rtol=1e-8, atol=1e-12)
