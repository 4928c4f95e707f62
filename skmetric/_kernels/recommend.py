"""Recommendation: the steps of collaborative metric learning (CML).

Users and items are rows of two float64 C-contiguous matrices in one space:
``P`` (n_users, k) and ``Q`` (n_items, k). A batch is a list of interactions
``(users[b], positives[b])`` with ``negatives[b]`` (b, U) items drawn uniformly
by the caller (NumPy). The user's own items, in CSR form ``(indptr, indices)``
with sorted indices per user, are never counted as negatives.

The CML term of one interaction (Hsieh et al., WWW 2017) is

    w_b [margin + |P_u - Q_i|^2 - |P_u - Q_j|^2]_+ ,
    w_b = log(1 + floor(n_items * M_b / U_b)),

where U_b is the number of sampled negatives that are not the user's items,
M_b the number of them that violate the margin (``margin + d_ui^2 - d_uj^2 > 0``)
and j the sampled negative closest to the user (the hardest one). The weight is
treated as a constant of the step (as WARP does): the gradient flows through the
hinge only.

Kernels are deterministic: the parallel ones write only their own output row, so
their results do not depend on the number of threads.
"""

import numpy as np
from numba import prange

from ._core import _SUM_FLAGS, kernel


@kernel(fastmath=_SUM_FLAGS)
def _row_sq_dist(A, a, B, b):
    acc = 0.0
    for f in range(A.shape[1]):
        diff = A[a, f] - B[b, f]
        acc += diff * diff
    return acc


@kernel()
def _contains_sorted(indices, start, stop, value):
    # Binary search of value in the sorted slice indices[start:stop].
    low, high = start, stop
    while low < high:
        mid = (low + high) // 2
        if indices[mid] < value:
            low = mid + 1
        else:
            high = mid
    return low < stop and indices[low] == value


@kernel(parallel=True)
def cml_hinge_terms(P, Q, users, positives, negatives, indptr, indices, margin,
                    n_items):
    """Rank-weighted hinge of each interaction against its hardest sampled negative.

    For interaction b (user u, item i), over the sampled ``negatives[b]`` that are
    not in the user's items ``indices[indptr[u]:indptr[u+1]]`` (U_b of them):
    ``M_b = #{j : margin + d2(u, i) - d2(u, j) > 0}``, the rank estimate
    ``floor(n_items * M_b / U_b)``, ``w_b = log(1 + rank)``, the hardest negative
    ``j_b = argmin_j d2(u, j)`` (the first one sampled among equals) and
    ``loss_b = w_b * max(0, margin + d2(u, i) - d2(u, j_b))``.

    Parameters
    ----------
    P : (n_users, k) float64 C; Q : (n_items_rows, k) float64 C
    users, positives : (b,) int64, valid rows of P and Q
    negatives : (b, U) int64, valid rows of Q
    indptr : (n_users + 1,) int64; indices : (nnz,) int64, sorted within each user
    margin : float; n_items : int, the catalogue size in the rank estimate

    Returns
    -------
    loss : (b,) float64
    weight : (b,) float64, ``w_b`` where the hinge is active, else 0
    hardest : (b,) int64, ``j_b`` (-1 when every sample was one of the user's items)
    violators : (b,) int64, ``M_b``

    Cost O(b U k) plus O(b U log(items per user)); parallel over interactions.
    """
    n = users.shape[0]
    n_sampled = negatives.shape[1]
    loss = np.zeros(n)
    weight = np.zeros(n)
    hardest = np.full(n, -1, dtype=np.int64)
    violators = np.zeros(n, dtype=np.int64)
    for b in prange(n):
        u = users[b]
        d_pos = _row_sq_dist(P, u, Q, positives[b])
        start, stop = indptr[u], indptr[u + 1]
        best = np.inf
        best_j = -1
        n_valid = 0
        n_viol = 0
        for s in range(n_sampled):
            j = negatives[b, s]
            if _contains_sorted(indices, start, stop, j):
                continue
            n_valid += 1
            d_neg = _row_sq_dist(P, u, Q, j)
            if margin + d_pos - d_neg > 0.0:
                n_viol += 1
            if d_neg < best:
                best = d_neg
                best_j = j
        violators[b] = n_viol
        hardest[b] = best_j
        if best_j >= 0:
            hinge = margin + d_pos - best
            if hinge > 0.0:
                rank = np.floor(n_items * n_viol / n_valid)
                w = np.log(1.0 + rank)
                weight[b] = w
                loss[b] = w * hinge
    return loss, weight, hardest, violators


@kernel()
def cml_scatter_grads(P, Q, users, positives, hardest, coef, grad_P, grad_Q):
    """Add the gradient of ``sum_b coef_b (|P_u - Q_i|^2 - |P_u - Q_j|^2)``.

    ``grad_P[u] += 2 c (Q_j - Q_i)``, ``grad_Q[i] += 2 c (Q_i - P_u)``,
    ``grad_Q[j] += 2 c (P_u - Q_j)`` for each b with ``coef_b != 0`` and
    ``j = hardest[b] >= 0``, in the order of b (so the sums are reproducible).
    ``grad_P`` (n_users, k) and ``grad_Q`` (n_items_rows, k) float64 C are
    accumulated in place (``out=`` buffers). Cost O(b k), sequential.
    """
    k = P.shape[1]
    for b in range(users.shape[0]):
        c = coef[b]
        j = hardest[b]
        if c == 0.0 or j < 0:
            continue
        u = users[b]
        i = positives[b]
        c2 = 2.0 * c
        for f in range(k):
            pu = P[u, f]
            qi = Q[i, f]
            qj = Q[j, f]
            grad_P[u, f] += c2 * (qj - qi)
            grad_Q[i, f] += c2 * (qi - pu)
            grad_Q[j, f] += c2 * (pu - qj)


@kernel()
def adagrad_update_rows(params, grads, accum, rows, learning_rate, max_norm):
    """Adagrad step on some rows, then each row clipped to the ball of radius max_norm.

    For each r in ``rows`` (distinct): ``accum[r] += g^2``,
    ``params[r] -= learning_rate * g / sqrt(accum[r])`` (entries with
    ``accum == 0`` unchanged), ``params[r] *= min(1, max_norm / |params[r]|)``
    (``max_norm <= 0``: no clipping), and ``grads[r] = 0``. All arrays float64 C
    of one shape (n, k) except ``rows`` (m,) int64; updated in place. Cost O(m k);
    sequential (a few microseconds a batch: a parallel region costs more).
    """
    k = params.shape[1]
    for t in range(rows.shape[0]):
        r = rows[t]
        norm2 = 0.0
        for f in range(k):
            g = grads[r, f]
            a = accum[r, f] + g * g
            accum[r, f] = a
            if a > 0.0:
                params[r, f] -= learning_rate * g / np.sqrt(a)
            grads[r, f] = 0.0
            norm2 += params[r, f] * params[r, f]
        if max_norm > 0.0 and norm2 > max_norm * max_norm:
            scale = max_norm / np.sqrt(norm2)
            for f in range(k):
                params[r, f] *= scale


@kernel()
def sgd_update_rows(params, grads, rows, learning_rate, max_norm):
    """Plain gradient step on some rows, then each row clipped to the ball.

    For each r in ``rows`` (distinct): ``params[r] -= learning_rate * grads[r]``,
    ``params[r] *= min(1, max_norm / |params[r]|)`` (``max_norm <= 0``: no
    clipping), ``grads[r] = 0``. Shapes as :func:`adagrad_update_rows`; sequential.
    """
    k = params.shape[1]
    for t in range(rows.shape[0]):
        r = rows[t]
        norm2 = 0.0
        for f in range(k):
            params[r, f] -= learning_rate * grads[r, f]
            grads[r, f] = 0.0
            norm2 += params[r, f] * params[r, f]
        if max_norm > 0.0 and norm2 > max_norm * max_norm:
            scale = max_norm / np.sqrt(norm2)
            for f in range(k):
                params[r, f] *= scale
