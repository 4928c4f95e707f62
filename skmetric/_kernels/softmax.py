"""Neighbour softmax of NCA and MLKR: soft neighbour weights and their gradients.

Both learners weigh every other point k of a point i by the softmax of minus the
squared learned distance, ``p_ik = exp(-D_ik) / sum_{l != i} exp(-D_il)``, over
either all points (exact) or a per-point list of candidate neighbours
(truncated). A block of rows is described by

- ``sq_dists`` (B, m) float64 C: squared distances of each row to its m columns;
- ``rows`` (B,) int64: the index of each row's own point;
- ``neighbours`` (1, m) or (B, m) int64: the point behind each column, shared by
  every row (one line, the exact case: ``arange(n)``) or per row (candidates).

A column whose point is the row's own point gets weight zero. The target
kernels turn the softmax into ``W_ik = d loss_i / d D_ik``, the weight of the
pair in the gradient ``d loss / d L = 2 L sum_ik W_ik (x_i - x_k)(x_i - x_k)^T``,
and each row's loss term. Rows are independent: the parallel loops give the same
bits on any number of threads.
"""

import numpy as np
from numba import prange

from ._core import kernel

# exp(x) rounds to exactly 0.0 in float64 for every x below this (the smallest
# subnormal, 2^-1074, is exp(-744.44); exp(x) < 2^-1075 once x < -745.1332).
EXP_UNDERFLOW = -745.2


@kernel()
def _row_exp(dists, neighbours, own, out):
    """Write ``exp(d_min - dists[j])`` (0 for the own point) and return the sum.

    Shifted by the smallest distance ``d_min`` of the other columns, so the
    largest term is exp(0) = 1 and the sum never underflows to zero; dividing by
    the sum gives the softmax. A row with no other column gets all zeros and a
    sum of zero. An exponent below :data:`EXP_UNDERFLOW` gets the 0.0 that exp
    returns there, without the call (the slow path of libm's exp: the terms of
    far points, most of them once the metric has grown).
    """
    m = dists.shape[0]
    low = np.inf
    for j in range(m):
        if neighbours[j] != own and dists[j] < low:
            low = dists[j]
    total = 0.0
    for j in range(m):
        shifted = low - dists[j]
        if neighbours[j] == own or low == np.inf or shifted < EXP_UNDERFLOW:
            out[j] = 0.0  # exp(shifted) is exactly 0.0 below EXP_UNDERFLOW
        else:
            value = np.exp(shifted)
            out[j] = value
            total += value
    return total


@kernel(parallel=True)
def neighbour_softmax(sq_dists, rows, neighbours):
    """Softmax of minus the squared distances of each row, own point left out.

    ``out[b, j] = exp(-D[b, j]) / sum_{l: nb[l] != rows[b]} exp(-D[b, l])`` where
    ``nb = neighbours[0]`` (shared) or ``neighbours[b]``; zero where
    ``nb[j] == rows[b]``, and a row with no other column is all zeros.

    sq_dists (B, m) float64 C, finite and non-negative; rows (B,) int64;
    neighbours (1, m) or (B, m) int64. Returns a new (B, m) float64 array whose
    rows sum to 1 (or 0). Cost O(B m), one exp per entry.
    """
    n_rows, m = sq_dists.shape
    shared = neighbours.shape[0] == 1
    out = np.empty((n_rows, m))
    for b in prange(n_rows):
        nb = neighbours[0] if shared else neighbours[b]
        total = _row_exp(sq_dists[b], nb, rows[b], out[b])
        scale = 1.0 / total if total > 0.0 else 0.0
        for j in range(m):
            out[b, j] *= scale
    return out


@kernel(parallel=True)
def nca_weights(sq_dists, rows, neighbours, labels, out):
    """NCA's loss terms and pair weights: ``loss_i = -p_i``, ``p_i = sum_{k:
    y_k = y_i} p_ik``, ``W_ik = d loss_i / d D_ik = p_ik ([y_k = y_i] - p_i)``.

    sq_dists, rows and neighbours as in :func:`neighbour_softmax`; labels (n,)
    int64 class codes of every point; out (B, m) float64 C-contiguous, receives
    W, and may be ``sq_dists`` itself (each entry is read before it is written).
    Returns ``(W, loss)``: ``out`` and a new (B,) float64 array. Cost O(B m).
    """
    n_rows, m = sq_dists.shape
    shared = neighbours.shape[0] == 1
    loss = np.empty(n_rows)
    for b in prange(n_rows):
        nb = neighbours[0] if shared else neighbours[b]
        own = rows[b]
        total = _row_exp(sq_dists[b], nb, own, out[b])
        scale = 1.0 / total if total > 0.0 else 0.0
        label = labels[own]
        same_total = 0.0
        for j in range(m):
            if labels[nb[j]] == label:
                same_total += out[b, j]
        p_same = same_total * scale
        for j in range(m):
            weight = out[b, j] * scale
            if labels[nb[j]] == label:
                out[b, j] = weight * (1.0 - p_same)
            else:
                out[b, j] = -weight * p_same
        loss[b] = -p_same
    return out, loss


@kernel(parallel=True)
def mlkr_weights(sq_dists, rows, neighbours, targets, out):
    """MLKR's loss terms and pair weights: ``yhat_i = sum_k p_ik y_k``,
    ``loss_i = (yhat_i - y_i)^2``, ``W_ik = d loss_i / d D_ik = 2 (yhat_i - y_i)
    (yhat_i - y_k) p_ik``.

    sq_dists, rows and neighbours as in :func:`neighbour_softmax`; targets (n,)
    float64 of every point; out as in :func:`nca_weights` (may be
    ``sq_dists``). Returns ``(W, loss)``: ``out`` and a new (B,) float64 array.
    A row with no other column predicts 0. Cost O(B m).
    """
    n_rows, m = sq_dists.shape
    shared = neighbours.shape[0] == 1
    loss = np.empty(n_rows)
    for b in prange(n_rows):
        nb = neighbours[0] if shared else neighbours[b]
        own = rows[b]
        total = _row_exp(sq_dists[b], nb, own, out[b])
        scale = 1.0 / total if total > 0.0 else 0.0
        weighted = 0.0
        for j in range(m):
            weighted += out[b, j] * targets[nb[j]]
        estimate = weighted * scale
        residual = estimate - targets[own]
        factor = 2.0 * residual * scale
        for j in range(m):
            out[b, j] = factor * (estimate - targets[nb[j]]) * out[b, j]
        loss[b] = residual * residual
    return out, loss


@kernel(parallel=True)
def neighbour_sq_dists(Z, rows, neighbours):
    """Squared distances of each row's point to its candidate neighbours.

    ``out[b, j] = |Z[rows[b]] - Z[neighbours[b, j]]|^2``, summed in coordinate
    order. Z (n, r) float64 C; rows (B,) int64; neighbours (B, m) int64, entries
    in ``[0, n)``. Returns a new (B, m) float64 array. Cost O(B m r).
    """
    n_rows, m = neighbours.shape
    r = Z.shape[1]
    out = np.empty((n_rows, m))
    for b in prange(n_rows):
        i = rows[b]
        for j in range(m):
            k = neighbours[b, j]
            acc = 0.0
            for c in range(r):
                diff = Z[i, c] - Z[k, c]
                acc += diff * diff
            out[b, j] = acc
    return out


@kernel(parallel=True)
def neighbour_weighted_sum(W, neighbours, X):
    """``out[b] = sum_j W[b, j] X[neighbours[b, j]]``: weighted sums of neighbours.

    W (B, m) float64 C; neighbours (B, m) int64 in ``[0, n)``; X (n, d) float64
    C. Returns a new (B, d) float64 array (the sparse product ``W X`` of the
    truncated softmax). Cost O(B m d).
    """
    n_rows, m = W.shape
    d = X.shape[1]
    out = np.zeros((n_rows, d))
    for b in prange(n_rows):
        for j in range(m):
            w = W[b, j]
            if w == 0.0:
                continue
            k = neighbours[b, j]
            for c in range(d):
                out[b, c] += w * X[k, c]
    return out
