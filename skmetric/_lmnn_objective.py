"""LMNN's objective and its gradient in L over given impostor pairs.

The products over all samples go by chunks of rows fixed by the data alone and
are summed in a fixed order, so the objective is the same, to the last bit, for
any number of threads.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np

from ._kernels import (
    lmnn_push_loss_weights,
    pair_laplacian_matmul,
    pair_sq_dists,
)

# Products over all samples go in chunks fixed by the number of rows only (so that
# the sums do not depend on the number of threads): _CHUNKS_PER_BLOCK chunks per
# _BLOCK_ROWS rows begun, of at least _MIN_CHUNK_ROWS rows.
_CHUNKS_PER_BLOCK = 8
_BLOCK_ROWS = 32_768
_MIN_CHUNK_ROWS = 256


class LMNNProblem(NamedTuple):
    """What the LMNN objective depends on besides L and the impostor pairs."""

    X: np.ndarray  # (n_samples, n_features) float64 C
    target_anchor: np.ndarray  # (n_targets,) int64, non-decreasing
    target_index: np.ndarray  # (n_targets,) int64
    target_ptr: np.ndarray  # (n_samples + 1,) int64, CSR of the targets by anchor
    pull_scatter: np.ndarray  # (n_features, n_features), see _pull_scatter
    push_weight: float  # mu
    squared: bool  # squared hinge
    labels: np.ndarray = None  # (n_samples,) int64 class labels, for the searches


def lmnn_loss_grad(
    flat_components, problem, impostor_anchor, impostor_index, sample_fraction=1.0
):
    """LMNN objective and its gradient in L, over the given impostor pairs.

    The triplets are ``(i, j, l)`` for every pair ``(i, l)`` of the impostor
    arrays and every target neighbour j of i; with all pairs of different classes
    (or all those within the margin radius) this is the full LMNN objective.
    When the pairs are a random sample of a fraction of them, the push term is
    divided by that fraction, which makes it an unbiased estimate.

    Parameters
    ----------
    flat_components : ndarray of shape (n_components * n_features,)
        L, flattened row by row.
    problem : LMNNProblem
    impostor_anchor, impostor_index : ndarray of shape (m,), int64
        The pairs (i, l), l of another class than i.
    sample_fraction : float, default=1.0
        The fraction of the pairs the arrays were sampled from.

    Returns
    -------
    loss : float
    grad : ndarray of shape (n_components * n_features,)
    """
    loss, grad, _ = _loss_grad_active(
        flat_components, problem, impostor_anchor, impostor_index, sample_fraction
    )
    return loss, grad


def _loss_grad_active(
    flat_components, problem, impostor_anchor, impostor_index, sample_fraction=1.0,
    pool=None,
):
    """:func:`lmnn_loss_grad` plus the number of active triplets.

    The two products over all samples go by chunks of rows fixed by the number
    of samples, shared out to the threads of ``pool`` if given: the result is the
    same, to the last bit, with any number of threads.
    """
    X = problem.X
    components = flat_components.reshape(-1, X.shape[1])
    embedded = _rows_matmul(X, components.T, pool)
    target_dists = pair_sq_dists(embedded, problem.target_anchor, problem.target_index)
    return _loss_grad_embedded(problem, components, embedded, target_dists,
                               impostor_anchor, impostor_index, sample_fraction, pool)


def _loss_grad_embedded(problem, components, embedded, target_dists, impostor_anchor,
                        impostor_index, sample_fraction, pool):
    """:func:`_loss_grad_active` from the embedding and the target distances."""
    X = problem.X
    n_samples = X.shape[0]
    impostor_dists = pair_sq_dists(embedded, impostor_anchor, impostor_index)
    push, target_weights, impostor_weights, n_active = lmnn_push_loss_weights(
        target_dists, problem.target_ptr, impostor_anchor, impostor_dists,
        problem.squared,
    )
    mu = problem.push_weight
    mu_push = mu / sample_fraction
    loss = ((1.0 - mu) * target_dists.sum() + mu_push * push) / n_samples
    laplacian_embedded = pair_laplacian_matmul(
        embedded,
        np.concatenate((problem.target_anchor, impostor_anchor)),
        np.concatenate((problem.target_index, impostor_index)),
        mu_push * np.concatenate((target_weights, impostor_weights)),
    )
    grad = (1.0 - mu) * _rows_matmul(components, problem.pull_scatter, pool)
    grad += _inner_matmul(laplacian_embedded, X, pool)
    grad *= 2.0 / n_samples
    return loss, grad.ravel(), n_active


def _triplet_deltas(target_ptr, impostor_anchor, target_dists, impostor_dists):
    """``(pair, d_ij - d_il)`` for every triplet of the pairs: pair p, target j of i."""
    counts = target_ptr[impostor_anchor + 1] - target_ptr[impostor_anchor]
    pair = np.repeat(np.arange(impostor_anchor.shape[0]), counts)
    first = np.repeat(target_ptr[impostor_anchor] - np.cumsum(counts) + counts, counts)
    delta = target_dists[first + np.arange(pair.shape[0])] - impostor_dists[pair]
    return pair, delta


class _ThreadPool(ThreadPoolExecutor):
    """A thread pool that knows its size; its threads run numba on one thread."""

    def __init__(self, n_threads):
        super().__init__(n_threads, initializer=numba.set_num_threads, initargs=(1,))
        self.n_threads = n_threads


def _chunk_bounds(n_rows):
    """Row ranges of the chunks: fixed by ``n_rows`` alone."""
    n_blocks = -(-n_rows // _BLOCK_ROWS)
    n_chunks = max(1, min(_CHUNKS_PER_BLOCK * n_blocks, n_rows // _MIN_CHUNK_ROWS))
    bounds = np.linspace(0, n_rows, n_chunks + 1).astype(np.int64)
    return list(zip(bounds[:-1], bounds[1:]))


def _rows_matmul(A, B, pool):
    """``A @ B`` by chunks of rows of A, on the threads of ``pool`` (if any)."""
    out = np.empty((A.shape[0], B.shape[1]))

    def part(bounds):
        start, stop = bounds
        np.matmul(A[start:stop], B, out=out[start:stop])

    list((pool.map if pool is not None else map)(part, _chunk_bounds(A.shape[0])))
    return out


def _inner_matmul(A, B, pool):
    """``A.T @ B``: products of chunks of rows, summed in chunk order."""
    def part(bounds):
        start, stop = bounds
        return A[start:stop].T @ B[start:stop]

    parts = list((pool.map if pool is not None else map)(
        part, _chunk_bounds(A.shape[0])))
    total = parts[0]
    for other in parts[1:]:
        total += other
    return total

def _farthest_targets(problem, embedded):
    """Squared distance of every anchor to its farthest target neighbour."""
    target_dists = pair_sq_dists(embedded, problem.target_anchor, problem.target_index)
    # Every anchor has at least one target: no CSR slice is empty.
    return np.maximum.reduceat(target_dists, problem.target_ptr[:-1])
