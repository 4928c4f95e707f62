import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmetric import _kernels as kernels

from . import _reference as ref

SHAPES = [(1, 1, 1), (2, 3, 1), (7, 5, 3), (60, 400, 16)]


def _pairs(rng, n, m):
    left, right = rng.integers(0, n, size=(2, m))
    return left.astype(np.int64), right.astype(np.int64)


def _data(rng, n, d, kind):
    if kind == "normal":
        return rng.normal(size=(n, d))
    if kind == "duplicates":
        X = rng.normal(size=(max(1, n // 2), d))
        return np.ascontiguousarray(X[rng.integers(0, X.shape[0], size=n)])
    if kind == "zeros":
        X = rng.normal(size=(n, d))
        X[::2] = 0.0
        return X
    if kind == "large":
        return rng.normal(size=(n, d)) * 1e100
    raise ValueError(kind)


KINDS = ["normal", "duplicates", "zeros", "large"]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_pair_sq_dists_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    X = _data(rng, n, d, kind)
    left, right = _pairs(rng, n, m)
    X_copy = X.copy()
    assert_allclose(
        kernels.pair_sq_dists(X, left, right), ref.pair_sq_dists(X, left, right),
        rtol=1e-10,
    )
    assert_array_equal(X, X_copy)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_pair_sq_diffs_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    X = _data(rng, n, d, kind)
    left, right = _pairs(rng, n, m)
    X_copy = X.copy()
    out = kernels.pair_sq_diffs(X, left, right)
    assert out.flags.c_contiguous and out.shape == (m, d)
    assert_allclose(out, ref.pair_sq_diffs(X, left, right), rtol=1e-12)
    assert_array_equal(X, X_copy)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_pair_laplacian_matmul_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    X = _data(rng, n, d, kind)
    left, right = _pairs(rng, n, m)
    weights = rng.normal(size=m)
    weights[::3] = 0.0
    copies = [a.copy() for a in (X, left, right, weights)]
    expected = ref.pair_laplacian_matmul(X, left, right, weights)
    assert_allclose(
        kernels.pair_laplacian_matmul(X, left, right, weights), expected,
        rtol=1e-10, atol=1e-12,
    )
    for original, copy in zip((X, left, right, weights), copies):
        assert_array_equal(original, copy)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
def test_weighted_outer_sum_matches_reference(seed, n, m, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    left, right = _pairs(rng, n, m)
    weights = rng.uniform(-1.0, 2.0, size=m)
    got = kernels.weighted_outer_sum(X, left, right, weights)
    assert_allclose(got, ref.weighted_outer_sum(X, left, right, weights),
                    rtol=1e-9, atol=1e-10)
    assert_allclose(got, got.T)


def test_weighted_outer_sum_with_self_pairs_is_zero():
    X = np.arange(12.0).reshape(4, 3)
    idx = np.arange(4, dtype=np.int64)
    assert_array_equal(kernels.weighted_outer_sum(X, idx, idx, np.ones(4)),
                       np.zeros((3, 3)))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("a, b, d", [(1, 1, 1), (5, 7, 3), (50, 40, 20)])
def test_pairwise_sq_dists_matches_reference(seed, a, b, d):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(a, d)), rng.normal(size=(b, d))
    got = kernels.pairwise_sq_dists(A, B)
    assert got.min() >= 0.0
    assert_allclose(got, ref.pairwise_sq_dists(A, B), rtol=1e-9, atol=1e-9)


def test_pairwise_sq_dists_of_duplicates_is_exactly_zero_not_negative():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 5)) * 1e3
    D = kernels.pairwise_sq_dists(A, A)
    assert D.min() >= 0.0
    assert_allclose(np.diag(D), 0.0, atol=1e-6)


@pytest.mark.parametrize("block_elements", [1, 7, 100, 10**6])
def test_sq_dist_row_blocks_cover_all_rows(block_elements):
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(23, 4)), rng.normal(size=(9, 4))
    full = np.empty((23, 9))
    seen = []
    for start, stop, block in kernels.sq_dist_row_blocks(A, B, block_elements):
        assert block.size <= max(block_elements, B.shape[0])
        full[start:stop] = block
        seen.extend(range(start, stop))
    assert seen == list(range(23))
    assert_allclose(full, ref.pairwise_sq_dists(A, B), rtol=1e-9, atol=1e-9)
