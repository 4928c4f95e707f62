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


@kernel()
def heap_sort_prefix(values, n):
    """Sort ``values[:n]`` in place, ascending (a heap sort; the rest of
    ``values`` is left alone). The same values as ``np.sort(values[:n])``; used
    instead of it because numba compiles its ``np.sort`` of int64 as six
    functions, measured at about 1.7 s of CML's first fit, where this loop nest
    compiles in a fraction of that. Cost O(n log n), no extra memory.
    """
    for start in range(n // 2 - 1, -1, -1):
        _sift_down(values, start, n)
    for end in range(n - 1, 0, -1):
        top = values[0]
        values[0] = values[end]
        values[end] = top
        _sift_down(values, 0, end)


@kernel()
def _sift_down(values, root, n):
    # Move values[root] down the max-heap values[:n] until both children are smaller.
    item = values[root]
    while True:
        child = 2 * root + 1
        if child >= n:
            break
        if child + 1 < n and values[child + 1] > values[child]:
            child += 1
        if values[child] <= item:
            break
        values[root] = values[child]
        root = child
    values[root] = item


@kernel()
def _hinge_of_interaction(P, Q, u, i, negatives, row, indices, lo, hi, margin,
                          n_items):
    """``(loss, weight, hardest, violators)`` of interaction (u, i) with the
    samples ``negatives[row]``, skipping the user's own items ``indices[lo:hi]``
    (see :func:`cml_hinge_terms`)."""
    d_pos = _row_sq_dist(P, u, Q, i)
    best = np.inf
    best_j = -1
    n_valid = 0
    n_viol = 0
    for s in range(negatives.shape[1]):
        j = negatives[row, s]
        if _contains_sorted(indices, lo, hi, j):
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
    loss = np.zeros(n)
    weight = np.zeros(n)
    hardest = np.full(n, -1, dtype=np.int64)
    violators = np.zeros(n, dtype=np.int64)
    for b in prange(n):
        u = users[b]
        loss[b], weight[b], hardest[b], violators[b] = _hinge_of_interaction(
            P, Q, u, positives[b], negatives, b, indices, indptr[u], indptr[u + 1],
            margin, n_items)
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


@kernel(parallel=True)
def cml_train_batches(P, V, acc_P, acc_V, grad_P, grad_Q, users, items, weights,
                      negatives, indptr, indices, margin, n_items,
                      covariance_weight, learning_rate, adagrad, max_norm,
                      batch_size):
    """A run of CML steps: consecutive batches of ``batch_size`` interactions.

    Without item features (the positions are the free vectors ``Q = V``). Batch t
    takes the interactions ``t * batch_size`` to ``(t + 1) * batch_size - 1`` (the
    caller has put them in their random order) with their sampled
    ``negatives`` rows, and makes the step of
    :func:`skmetric.recommend._cml_solver.batch_loss_grad` followed by
    ``apply_step``:

    1. for each interaction b (in parallel): the terms of
       :func:`cml_hinge_terms` (``loss_b``, ``w_b``, hardest negative ``j_b``)
       at the vectors before the step;
    2. ``coef_b = w_b * weights[b]``; the hinge gradient scattered into
       ``grad_P`` / ``grad_Q`` in the order of b (:func:`cml_scatter_grads`);
    3. the distinct users (R_u) and the distinct positive and hardest items (R_i)
       of the batch, each sorted; with ``covariance_weight = c > 0``, for
       ``X = [P[R_u]; V[R_i]]`` (r rows), ``Xc`` its centred copy and
       ``C = Xc^T Xc / r`` with a zero diagonal, the loss ``c/2 sum C_ab^2`` and
       its gradient ``(2 c / r) Xc C`` added to those rows;
    4. Adagrad (``adagrad`` True) or plain gradient steps with ``learning_rate``
       on the rows R_u of P and R_i of V, each row then clipped to the ball of
       radius ``max_norm`` (:func:`adagrad_update_rows`,
       :func:`sgd_update_rows`), which clear their gradient rows.

    Parameters
    ----------
    P, acc_P, grad_P : (n_users, k) float64 C; V, acc_V, grad_Q : (n_item_rows, k)
        float64 C. Updated in place; ``grad_P`` and ``grad_Q`` must be zero on
        entry and are zero on return.
    users, items : (n,) int64, valid rows; weights : (n,) float64 >= 0
    negatives : (n, U) int64, valid rows of V
    indptr, indices : each user's items, CSR with sorted indices (never negatives)
    margin : float; n_items : int, the catalogue size in the rank estimate
    covariance_weight, learning_rate, max_norm : float; adagrad : bool
    batch_size : int >= 1

    Returns
    -------
    loss : float
        Sum over the batches of ``sum_b weights[b] loss_b`` plus the covariance
        losses.
    n_active : int
        Interactions with a non-zero ``coef_b``.

    Cost O(n U k + (n / batch_size) r k^2) with r <= 3 batch_size (the covariance
    products go through BLAS); memory O(n_users + n_item_rows + batch_size k)
    besides the arguments. Only step 1 runs in parallel, each iteration writing
    its own entries, so the result does not depend on the number of threads.
    """
    n = users.shape[0]
    k = P.shape[1]
    user_mark = np.full(P.shape[0], -1, dtype=np.int64)
    item_mark = np.full(V.shape[0], -1, dtype=np.int64)
    loss_b = np.zeros(batch_size)
    weight_b = np.zeros(batch_size)
    hardest_b = np.full(batch_size, -1, dtype=np.int64)
    user_rows = np.empty(batch_size, dtype=np.int64)
    item_rows = np.empty(2 * batch_size, dtype=np.int64)
    total = 0.0
    n_active = 0
    n_batches = (n + batch_size - 1) // batch_size
    for t in range(n_batches):
        start = t * batch_size
        m = min(n, start + batch_size) - start
        for b in prange(m):
            g = start + b
            u = users[g]
            loss_b[b], weight_b[b], hardest_b[b], _ = _hinge_of_interaction(
                P, V, u, items[g], negatives, g, indices, indptr[u], indptr[u + 1],
                margin, n_items)
        n_u = 0
        n_i = 0
        for b in range(m):
            g = start + b
            u = users[g]
            i = items[g]
            j = hardest_b[b]
            if user_mark[u] != t:
                user_mark[u] = t
                user_rows[n_u] = u
                n_u += 1
            if item_mark[i] != t:
                item_mark[i] = t
                item_rows[n_i] = i
                n_i += 1
            if j >= 0 and item_mark[j] != t:
                item_mark[j] = t
                item_rows[n_i] = j
                n_i += 1
            total += weights[g] * loss_b[b]
            c = weight_b[b] * weights[g]
            if c == 0.0:
                continue
            n_active += 1
            if j < 0:
                continue
            c2 = 2.0 * c
            for f in range(k):
                pu = P[u, f]
                qi = V[i, f]
                qj = V[j, f]
                grad_P[u, f] += c2 * (qj - qi)
                grad_Q[i, f] += c2 * (qi - pu)
                grad_Q[j, f] += c2 * (pu - qj)
        heap_sort_prefix(user_rows, n_u)
        heap_sort_prefix(item_rows, n_i)
        rows_u = user_rows[:n_u]
        rows_i = item_rows[:n_i]
        if covariance_weight > 0.0:
            total += _covariance_step(P, V, rows_u, rows_i, covariance_weight,
                                      grad_P, grad_Q)
        if adagrad:
            adagrad_update_rows(P, grad_P, acc_P, rows_u, learning_rate, max_norm)
            adagrad_update_rows(V, grad_Q, acc_V, rows_i, learning_rate, max_norm)
        else:
            sgd_update_rows(P, grad_P, rows_u, learning_rate, max_norm)
            sgd_update_rows(V, grad_Q, rows_i, learning_rate, max_norm)
    return total, n_active


@kernel()
def _covariance_step(P, V, rows_u, rows_i, weight, grad_P, grad_Q):
    # The covariance penalty of X = [P[rows_u]; V[rows_i]] (see
    # cml_train_batches, step 3); its gradient added into grad_P / grad_Q.
    n_u = rows_u.shape[0]
    r = n_u + rows_i.shape[0]
    k = P.shape[1]
    Xc = np.empty((r, k))
    mean = np.zeros(k)
    for a in range(r):
        for f in range(k):
            x = P[rows_u[a], f] if a < n_u else V[rows_i[a - n_u], f]
            Xc[a, f] = x
            mean[f] += x
    for f in range(k):
        mean[f] /= r
    for a in range(r):
        for f in range(k):
            Xc[a, f] -= mean[f]
    C = np.dot(Xc.T, Xc) / r
    loss = 0.0
    for a in range(k):
        C[a, a] = 0.0
        for f in range(k):
            loss += C[a, f] * C[a, f]
    G = np.dot(Xc, C)
    scale = 2.0 * weight / r
    for a in range(r):
        if a < n_u:
            row = rows_u[a]
            for f in range(k):
                grad_P[row, f] += scale * G[a, f]
        else:
            row = rows_i[a - n_u]
            for f in range(k):
                grad_Q[row, f] += scale * G[a, f]
    return 0.5 * weight * loss
