"""Recommendation: the steps of collaborative metric learning (CML).

Users and items are rows of two float64 C-contiguous matrices in one space:
``P`` (n_users, k) and ``Q`` (n_items, k). A batch is a list of interactions
``(users[b], positives[b])`` with ``negatives[b]`` (b, U) items drawn uniformly
by the caller (NumPy). The user's own items, hash sets built once per fit
(:func:`owned_item_sets`), are never counted as negatives.

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
def owned_item_sets(indptr, indices):
    """Each user's items as a hash set: ``(offsets, table)``.

    User u's items ``indices[indptr[u]:indptr[u+1]]`` (distinct, c of them) go
    to the open-addressing table ``table[offsets[u]:offsets[u+1]]``, of the
    smallest power-of-two size >= max(1, 2 c), with linear probing from the slot
    :func:`_hash_slot` gives; empty slots hold -1. A test of membership (the
    samples of :func:`cml_hinge_terms`) then reads about two slots next to each
    other, where a binary search over the sorted items makes log2(c) dependent
    reads. Memory: between 2 and 4 int64 entries per interaction, and
    n_users + 1 offsets. Cost O(nnz), sequential.
    """
    n_users = indptr.shape[0] - 1
    offsets = np.empty(n_users + 1, dtype=np.int64)
    offsets[0] = 0
    for u in range(n_users):
        count = indptr[u + 1] - indptr[u]
        size = 1
        while size < 2 * count:
            size *= 2
        offsets[u + 1] = offsets[u] + size
    table = np.empty(offsets[n_users], dtype=np.int64)
    for s in range(table.shape[0]):
        table[s] = -1
    for u in range(n_users):
        start = offsets[u]
        mask = offsets[u + 1] - start - 1
        for e in range(indptr[u], indptr[u + 1]):
            item = indices[e]
            slot = _hash_slot(item, mask)
            while table[start + slot] >= 0:
                slot = (slot + 1) & mask
            table[start + slot] = item
    return offsets, table


@kernel()
def _hash_slot(item, mask):
    # Multiplicative hashing (Knuth's constant): bits above the 15th of the
    # product, so that ids of a common stride spread over the table.
    return (item * 2654435761 >> 15) & mask


@kernel()
def _in_item_set(table, start, stop, item):
    # Whether item is in the hash set table[start:stop] (owned_item_sets).
    mask = stop - start - 1
    slot = _hash_slot(item, mask)
    while True:
        entry = table[start + slot]
        if entry < 0:
            return False
        if entry == item:
            return True
        slot = (slot + 1) & mask


@kernel()
def _hinge_of_interaction(P, Q, u, i, negatives, row, table, lo, hi, margin,
                          n_items):
    """``(loss, weight, hardest, violators)`` of interaction (u, i) with the
    samples ``negatives[row]``, skipping the user's own items, the hash set
    ``table[lo:hi]`` (see :func:`cml_hinge_terms`)."""
    d_pos = _row_sq_dist(P, u, Q, i)
    best = np.inf
    best_j = -1
    n_valid = 0
    n_viol = 0
    for s in range(negatives.shape[1]):
        j = negatives[row, s]
        if _in_item_set(table, lo, hi, j):
            continue
        n_valid += 1
        d_neg = _row_sq_dist(P, u, Q, j)
        if margin + d_pos - d_neg > 0.0:
            n_viol += 1
        if d_neg < best:
            best = d_neg
            best_j = j
    loss = 0.0
    weight = 0.0
    if best_j >= 0:
        hinge = margin + d_pos - best
        if hinge > 0.0:
            weight = np.log(1.0 + np.floor(n_items * n_viol / n_valid))
            loss = weight * hinge
    return loss, weight, best_j, n_viol


@kernel(parallel=True)
def cml_hinge_terms(P, Q, users, positives, negatives, offsets, table, margin,
                    n_items):
    """Rank-weighted hinge of each interaction against its hardest sampled negative.

    For interaction b (user u, item i), over the sampled ``negatives[b]`` that are
    not the user's items (U_b of them; the hash set
    ``table[offsets[u]:offsets[u+1]]`` of :func:`owned_item_sets`):
    ``M_b = #{j : margin + d2(u, i) - d2(u, j) > 0}``, the rank estimate
    ``floor(n_items * M_b / U_b)``, ``w_b = log(1 + rank)``, the hardest negative
    ``j_b = argmin_j d2(u, j)`` (the first one sampled among equals) and
    ``loss_b = w_b * max(0, margin + d2(u, i) - d2(u, j_b))``.

    Parameters
    ----------
    P : (n_users, k) float64 C; Q : (n_items_rows, k) float64 C
    users, positives : (b,) int64, valid rows of P and Q
    negatives : (b, U) int64, valid rows of Q
    offsets : (n_users + 1,) int64; table : int64, the users' items as hash sets
        (:func:`owned_item_sets`)
    margin : float; n_items : int, the catalogue size in the rank estimate

    Returns
    -------
    loss : (b,) float64
    weight : (b,) float64, ``w_b`` where the hinge is active, else 0
    hardest : (b,) int64, ``j_b`` (-1 when every sample was one of the user's items)
    violators : (b,) int64, ``M_b``

    Cost O(b U k) (each membership test reads about two slots); parallel over
    interactions.
    """
    n = users.shape[0]
    loss = np.empty(n)
    weight = np.empty(n)
    hardest = np.empty(n, dtype=np.int64)
    violators = np.empty(n, dtype=np.int64)
    for b in prange(n):
        u = users[b]
        loss[b], weight[b], hardest[b], violators[b] = _hinge_of_interaction(
            P, Q, u, positives[b], negatives, b, table, offsets[u], offsets[u + 1],
            margin, n_items)
    return loss, weight, hardest, violators


@kernel()
def cml_scatter_grads(P, Q, users, positives, hardest, coef, grad_P, grad_Q,
                      user_mark, item_mark, stamp, user_rows, item_rows):
    """Add the gradient of ``sum_b coef_b (|P_u - Q_i|^2 - |P_u - Q_j|^2)`` and
    list the distinct rows of the batch.

    ``grad_P[u] += 2 c (Q_j - Q_i)``, ``grad_Q[i] += 2 c (Q_i - P_u)``,
    ``grad_Q[j] += 2 c (P_u - Q_j)`` for each b with ``coef_b != 0`` and
    ``j = hardest[b] >= 0``, in the order of b (so the sums are reproducible).
    ``grad_P`` (n_users, k) and ``grad_Q`` (n_items_rows, k) float64 C are
    accumulated in place (``out=`` buffers).

    The batch's distinct users (every b) go to ``user_rows`` and its distinct
    items (every positive, and every ``hardest[b] >= 0``) to ``item_rows``, in
    the order of their first appearance: a row is new when its entry of
    ``user_mark`` / ``item_mark`` (int64, one per row of P / Q) differs from
    ``stamp``, which it is then set to; ``stamp`` must differ from every value
    the marks held before (one per batch). ``user_rows`` (>= b) and
    ``item_rows`` (>= 2 b) int64 are written in place.

    Returns ``(n_user_rows, n_item_rows)``, the counts written. Cost O(b k),
    sequential.
    """
    k = P.shape[1]
    n_u = 0
    n_i = 0
    for b in range(users.shape[0]):
        u = users[b]
        i = positives[b]
        j = hardest[b]
        if user_mark[u] != stamp:
            user_mark[u] = stamp
            user_rows[n_u] = u
            n_u += 1
        if item_mark[i] != stamp:
            item_mark[i] = stamp
            item_rows[n_i] = i
            n_i += 1
        if j >= 0 and item_mark[j] != stamp:
            item_mark[j] = stamp
            item_rows[n_i] = j
            n_i += 1
        c = coef[b]
        if c == 0.0 or j < 0:
            continue
        c2 = 2.0 * c
        for f in range(k):
            pu = P[u, f]
            qi = Q[i, f]
            qj = Q[j, f]
            grad_P[u, f] += c2 * (qj - qi)
            grad_Q[i, f] += c2 * (qi - pu)
            grad_Q[j, f] += c2 * (pu - qj)
    return n_u, n_i


@kernel()
def add_rows(target, rows, source, offset):
    """``target[rows[t]] += source[offset + t]`` for each t, in place.

    ``target`` (n, k) and ``source`` (m, k) float64 C; ``rows`` (r,) int64
    distinct valid rows of ``target``; ``offset + r <= m``. The scatter of a
    block of gradient rows (NumPy's ``target[rows] += block`` gathers, adds and
    scatters in three passes). Cost O(r k), sequential.
    """
    for t in range(rows.shape[0]):
        r = rows[t]
        for f in range(target.shape[1]):
            target[r, f] += source[offset + t, f]


@kernel(parallel=True)
def adagrad_update_rows(params, grads, accum, rows, learning_rate, max_norm):
    """Adagrad step on some rows, then each row clipped to the ball of radius max_norm.

    For each r in ``rows`` (distinct): ``accum[r] += g^2``,
    ``params[r] -= learning_rate * g / sqrt(accum[r])`` (entries with
    ``accum == 0`` unchanged), ``params[r] *= min(1, max_norm / |params[r]|)``
    (``max_norm <= 0``: no clipping), and ``grads[r] = 0``. All arrays float64 C
    of one shape (n, k) except ``rows`` (m,) int64; updated in place. Cost O(m k).
    The rows are shared out to numba's threads; each row is updated by one thread
    alone, so the result does not depend on their number. Per step of 3000 rows
    of 64 values among 138,000 (the 20M-interaction scale): 1.9 ms on one
    thread, 0.93 ms on two.
    """
    k = params.shape[1]
    for t in prange(rows.shape[0]):
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


@kernel(parallel=True)
def sgd_update_rows(params, grads, rows, learning_rate, max_norm):
    """Plain gradient step on some rows, then each row clipped to the ball.

    For each r in ``rows`` (distinct): ``params[r] -= learning_rate * grads[r]``,
    ``params[r] *= min(1, max_norm / |params[r]|)`` (``max_norm <= 0``: no
    clipping), ``grads[r] = 0``. Shapes and threads as
    :func:`adagrad_update_rows`.
    """
    k = params.shape[1]
    for t in prange(rows.shape[0]):
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
