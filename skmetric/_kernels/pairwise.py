"""Per-pair distances, difference statistics and dense BLAS blocks."""

import numpy as np
from numba import prange

from ._core import _BLOCK_ELEMENTS, _SUM_FLAGS, kernel

# ---------------------------------------------------------------------------------
# Per-pair distances and difference statistics
# ---------------------------------------------------------------------------------


@kernel(fastmath=_SUM_FLAGS, parallel=True)
def pair_sq_dists(X, left, right):
    """Squared Euclidean distances of index pairs.

    ``out[p] = |X[left[p]] - X[right[p]]|^2``.

    X is (n, d) float64 C-contiguous; left and right are (m,) int64 with entries in
    ``[0, n)`` (the caller guarantees it). Returns a new (m,) float64 array.
    Cost O(m d) time, O(m) memory. Pairs are shared out to numba's threads, each
    distance summed by one thread in coordinate order: the same bits on any
    number of threads.
    """
    m = left.shape[0]
    d = X.shape[1]
    out = np.empty(m)
    for p in prange(m):
        i = left[p]
        j = right[p]
        acc = 0.0
        for k in range(d):
            diff = X[i, k] - X[j, k]
            acc += diff * diff
        out[p] = acc
    return out


@kernel()
def pair_sq_diffs(X, left, right):
    """Element-wise squared differences of index pairs.

    ``out[p, k] = (X[left[p], k] - X[right[p], k])^2``.

    X is (n, d) float64 C-contiguous; left and right are (m,) int64 in ``[0, n)``.
    Returns a new (m, d) float64 C-contiguous array; ``out @ w`` is then the squared
    distance of every pair under the diagonal metric ``diag(w)``.
    Cost O(m d) time and memory.
    """
    m = left.shape[0]
    d = X.shape[1]
    out = np.empty((m, d))
    for p in range(m):
        i = left[p]
        j = right[p]
        for k in range(d):
            diff = X[i, k] - X[j, k]
            out[p, k] = diff * diff
    return out


@kernel()
def pair_laplacian_matmul(X, left, right, weights):
    """Graph Laplacian of weighted pairs times X, without forming the Laplacian.

    With ``Lap = sum_p w_p (e_i - e_j)(e_i - e_j)^T`` (i = left[p], j = right[p]),
    returns ``G = Lap @ X``, that is ``G[i] += w_p (X[i] - X[j])`` and
    ``G[j] += w_p (X[j] - X[i])`` for every pair p.

    X is (n, d) float64 C-contiguous; left, right (m,) int64 in ``[0, n)``; weights
    (m,) float64. Returns a new (n, d) float64 array. Cost O(m d + n d) time.
    ``X.T @ G`` is then ``sum_p w_p (x_i - x_j)(x_i - x_j)^T`` (see
    :func:`weighted_outer_sum`).
    """
    n, d = X.shape
    out = np.empty((n, d))  # zeroed by a loop: np.zeros compiles two helpers more
    for i in range(n):
        for k in range(d):
            out[i, k] = 0.0
    for p in range(left.shape[0]):
        i = left[p]
        j = right[p]
        w = weights[p]
        if w == 0.0 or i == j:
            continue
        for k in range(d):
            delta = w * (X[i, k] - X[j, k])
            out[i, k] += delta
            out[j, k] -= delta
    return out


def weighted_outer_sum(X, left, right, weights):
    """``sum_p w_p (x_i - x_j)(x_i - x_j)^T`` for pairs (i, j) = (left[p], right[p]).

    Computed as ``X.T @ (Lap @ X)`` with the Laplacian product from the numba kernel
    :func:`pair_laplacian_matmul` and the final (d, n) x (n, d) product through BLAS,
    so the (m, d) differences are never materialised. Cost O(m d + n d^2).
    Returns a symmetric (d, d) float64 array.
    """
    gram = X.T @ pair_laplacian_matmul(X, left, right, weights)
    return (gram + gram.T) * 0.5


# ---------------------------------------------------------------------------------
# Dense blocks through BLAS
# ---------------------------------------------------------------------------------


def row_sq_norms(X):
    """``|x_i|^2`` for every row; (n,) float64."""
    return np.einsum("ij,ij->i", X, X)


def pairwise_sq_dists(A, B, A_sq=None, B_sq=None, out=None):
    """All squared distances between the rows of A (a, d) and B (b, d).

    ``|a|^2 + |b|^2 - 2 a.b`` through one matmul, clipped at zero. Pass precomputed
    row norms to save their cost. Returns a new (a, b) float64 array, or ``out``
    (an (a, b) float64 C-contiguous array, overwritten) when given: call it on
    blocks (:func:`sq_dist_row_blocks`) to bound memory.
    """
    if A_sq is None:
        A_sq = row_sq_norms(A)
    if B_sq is None:
        B_sq = row_sq_norms(B)
    out = np.matmul(A, B.T, out=out)
    out *= -2.0
    out += A_sq[:, None]
    out += B_sq[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def block_rows(n_columns, block_elements=_BLOCK_ELEMENTS):
    """Rows of a block of :func:`sq_dist_row_blocks` against ``n_columns`` columns."""
    return max(1, block_elements // max(1, n_columns))


def sq_dist_row_blocks(A, B, block_elements=_BLOCK_ELEMENTS, buffer=None):
    """Yield ``(start, stop, D)`` with D the squared distances of A[start:stop] to B.

    Each block holds at most about ``block_elements`` entries (at least one row), so
    the memory stays bounded whatever the number of rows of A. With ``buffer``, a
    float64 C-contiguous array of at least ``min(len(A), block_rows(len(B),
    block_elements)) * len(B)`` entries, every D is a view of it, overwritten by
    the next block: a caller that evaluates many times reuses one buffer instead of
    fresh memory (whose first touch costs a page fault per 4 KiB, measured at 1 to
    4 microseconds each on the 2-core benchmark machine).
    """
    n_rows, n_columns = A.shape[0], B.shape[0]
    step = block_rows(n_columns, block_elements)
    B_sq = row_sq_norms(B)
    A_sq = row_sq_norms(A)
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        out = None
        if buffer is not None:
            out = buffer.ravel()[: (stop - start) * n_columns].reshape(
                stop - start, n_columns)
        yield start, stop, pairwise_sq_dists(
            A[start:stop], B, A_sq[start:stop], B_sq, out
        )
