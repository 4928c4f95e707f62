"""Numerical kernels: numba-jitted loops for irregular work, BLAS for dense blocks.

Conventions (see STYLE.md):

- every jitted kernel is ``@kernel()`` (``njit(cache=True, nogil=True)``) at module
  level and takes
  float64 C-contiguous data and int64 index arrays, so it compiles once per machine;
- kernels never validate, draw random numbers or print: callers check and convert
  their input once (``skmetric._validation``) and hand the arrays in;
- distances are squared inside; square roots are taken at the API boundary;
- dense all-pairs distances go through NumPy's matmul, block by block, with the
  expansion ``|a|^2 + |b|^2 - 2 a.b`` clipped at zero.

Every kernel has a vectorised NumPy twin in ``tests/_reference.py`` and a test that
compares the two on random inputs and edge cases.
"""

import numpy as np
from numba import njit, prange

def kernel(**options):
    """``njit(cache=True, nogil=True, **options)``, caching when it can.

    numba refuses to decorate a cached function when no cache location is writable
    (a read-only installation with no usable ``NUMBA_CACHE_DIR`` or user cache):
    such a kernel is then compiled in every process instead, so that importing
    skmetric never fails for want of a cache.
    """

    def decorate(function):
        try:
            return njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(cache=False, nogil=True, **options)(function)

    return decorate


# Only the flags that make the sums of squares vectorise; no 'nnan'/'ninf', so a
# non-finite value that slips through still propagates instead of being assumed away.
_SUM_FLAGS = {"reassoc", "contract", "arcp"}

# Rows of distance matrix computed at once in blockwise loops: about 32 MiB a block
# for 2**22 / n_columns rows.
_BLOCK_ELEMENTS = 2**22


# ---------------------------------------------------------------------------------
# Per-pair distances and difference statistics
# ---------------------------------------------------------------------------------


@kernel(fastmath=_SUM_FLAGS)
def pair_sq_dists(X, left, right):
    """Squared Euclidean distances of index pairs.

    ``out[p] = |X[left[p]] - X[right[p]]|^2``.

    X is (n, d) float64 C-contiguous; left and right are (m,) int64 with entries in
    ``[0, n)`` (the caller guarantees it). Returns a new (m,) float64 array.
    Cost O(m d) time, O(m) memory.
    """
    m = left.shape[0]
    d = X.shape[1]
    out = np.empty(m)
    for p in range(m):
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
    out = np.zeros((n, d))
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


def pairwise_sq_dists(A, B, A_sq=None, B_sq=None):
    """All squared distances between the rows of A (a, d) and B (b, d).

    ``|a|^2 + |b|^2 - 2 a.b`` through one matmul, clipped at zero. Pass precomputed
    row norms to save their cost. Returns a new (a, b) float64 array: call it on
    blocks (:func:`sq_dist_row_blocks`) to bound memory.
    """
    if A_sq is None:
        A_sq = row_sq_norms(A)
    if B_sq is None:
        B_sq = row_sq_norms(B)
    out = A @ B.T
    out *= -2.0
    out += A_sq[:, None]
    out += B_sq[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def sq_dist_row_blocks(A, B, block_elements=_BLOCK_ELEMENTS):
    """Yield ``(start, stop, D)`` with D the squared distances of A[start:stop] to B.

    Each block holds at most about ``block_elements`` entries (at least one row), so
    the memory stays bounded whatever the number of rows of A.
    """
    n_rows = A.shape[0]
    step = max(1, block_elements // max(1, B.shape[0]))
    B_sq = row_sq_norms(B)
    A_sq = row_sq_norms(A)
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        yield start, stop, pairwise_sq_dists(
            A[start:stop], B, A_sq[start:stop], B_sq
        )


# ---------------------------------------------------------------------------------
# Deep embeddings: losses and mining
# ---------------------------------------------------------------------------------
#
# A batch of b embeddings E (b, k) gives the squared distance matrix D2 = |E_i - E_j|^2
# through BLAS (:func:`pairwise_sq_dists`). The mining kernels read D2 and the batch
# labels and return index lists; the loss kernels return the reduced loss and the
# matrix W = dL/dD2 (b, b), so that dL/dE is one BLAS product
# (:func:`sq_dist_weights_grad`). "delta" below is the squared distance D2 when
# ``squared`` is true and the distance sqrt(D2) otherwise.

# Miner codes of :func:`mine_triplets`.
MINER_ALL, MINER_EASY, MINER_SEMIHARD, MINER_HARD, MINER_BATCH_HARD = 0, 1, 2, 3, 4
MINER_NOT_EASY = 5


def sq_dist_weights_grad(E, W):
    """Gradient in E of ``L = sum_ij W[i, j] |E_i - E_j|^2``.

    ``dL/dE_i = 2 sum_j (W[i, j] + W[j, i]) (E_i - E_j)``, computed as
    ``2 (diag(s) E - S E)`` with ``S = W + W^T`` and ``s`` its row sums: one BLAS
    product. E (b, k) and W (b, b) float64; returns a new (b, k) array. Cost O(b^2 k).
    """
    S = W + W.T
    grad = E * S.sum(axis=1)[:, None]
    grad -= S @ E
    grad *= 2.0
    return grad


@kernel()
def _delta_matrix(D2, squared):
    # delta of every pair: D2 itself, or its element-wise square root.
    return D2 if squared else np.sqrt(D2)


@kernel()
def _triplet_selected(d_ap, d_an, margin, miner):
    if miner == MINER_ALL:
        return True
    if miner == MINER_EASY:
        return d_an > d_ap + margin
    if miner == MINER_SEMIHARD:
        return d_ap < d_an and d_an <= d_ap + margin
    if miner == MINER_HARD:
        return d_an <= d_ap
    return d_an <= d_ap + margin  # MINER_NOT_EASY


@kernel()
def mine_triplets(D2, labels, margin, squared, miner):
    """Triplets ``(a, p, n)`` of a labelled batch, chosen by a miner.

    A valid triplet has ``a != p``, ``labels[a] == labels[p]`` and ``labels[n] !=
    labels[a]``. With ``delta`` the distance (or squared distance if ``squared``),
    the miners keep:

    - ``MINER_ALL`` (0): every valid triplet;
    - ``MINER_EASY`` (1): ``delta(a, n) > delta(a, p) + margin``;
    - ``MINER_SEMIHARD`` (2): ``delta(a, p) < delta(a, n) <= delta(a, p) + margin``;
    - ``MINER_HARD`` (3): ``delta(a, n) <= delta(a, p)``;
    - ``MINER_BATCH_HARD`` (4): one triplet per anchor that has a positive and a
      negative: its farthest positive and its nearest negative (first index on ties);
    - ``MINER_NOT_EASY`` (5): ``delta(a, n) <= delta(a, p) + margin``, that is
      semihard or hard: the triplets of 'all' that can have a non-zero loss, so the
      loss of 'all' at a fraction of the cost.

    D2 (b, b) float64 C-contiguous squared distances; labels (b,) int64. Returns
    three new (m,) int64 arrays, ordered by anchor, then positive, then negative.
    Two passes (count, then fill); cost O(b^3) time, O(m) memory.
    """
    b = labels.shape[0]
    delta = _delta_matrix(D2, squared)
    if miner == MINER_BATCH_HARD:
        anchors = np.empty(b, dtype=np.int64)
        positives = np.empty(b, dtype=np.int64)
        negatives = np.empty(b, dtype=np.int64)
        m = 0
        for a in range(b):
            p_best, n_best = -1, -1
            for j in range(b):
                if j == a:
                    continue
                if labels[j] == labels[a]:
                    if p_best < 0 or D2[a, j] > D2[a, p_best]:
                        p_best = j
                elif n_best < 0 or D2[a, j] < D2[a, n_best]:
                    n_best = j
            if p_best >= 0 and n_best >= 0:
                anchors[m], positives[m], negatives[m] = a, p_best, n_best
                m += 1
        return anchors[:m].copy(), positives[:m].copy(), negatives[:m].copy()
    total = 0
    for fill in range(2):
        if fill == 1:
            anchors = np.empty(total, dtype=np.int64)
            positives = np.empty(total, dtype=np.int64)
            negatives = np.empty(total, dtype=np.int64)
        m = 0
        for a in range(b):
            for p in range(b):
                if p == a or labels[p] != labels[a]:
                    continue
                d_ap = delta[a, p]
                for n in range(b):
                    if labels[n] == labels[a]:
                        continue
                    if _triplet_selected(d_ap, delta[a, n], margin, miner):
                        if fill == 1:
                            anchors[m], positives[m], negatives[m] = a, p, n
                        m += 1
        total = m
    return anchors, positives, negatives


@kernel()
def distance_weighted_triplets(D2, labels, margin, squared, n_dims, min_distance,
                               uniforms):
    """Distance-weighted negative sampling (Wu et al. 2017), one per (a, p) pair.

    On the unit sphere in ``n = n_dims`` dimensions, distances between uniform
    points have density ``q(d) ∝ d^(n-2) (1 - d^2/4)^((n-3)/2)``. For every ordered
    same-class pair ``(a, p)``, ``a != p``, a negative n (``labels[n] !=
    labels[a]``) is drawn with probability proportional to

        ``w(d) = min(lambda, 1 / q(max(d, min_distance)))``,
        ``lambda = 1 / q(min_distance)``

    with ``d = sqrt(D2[a, n])``, and ``w = 0`` where the triplet loss is zero:
    ``delta(a, n) >= delta(a, p) + margin``. Weights are computed in log space; the
    maximum is taken over the allowed negatives only (same-class and zero-loss
    entries are masked first) so that they never all underflow. A pair with no
    allowed negative yields no triplet. The draw is by inversion: the first n whose
    cumulative weight reaches ``uniforms[a, p]`` times the total.

    D2 (b, b) float64 C; labels (b,) int64; uniforms (b, b) float64 in [0, 1).
    Returns three new (m,) int64 arrays. Cost O(b^2 * b) time.
    """
    b = labels.shape[0]
    delta = _delta_matrix(D2, squared)
    m_max = 0
    for a in range(b):
        for p in range(b):
            if p != a and labels[p] == labels[a]:
                m_max += 1
    anchors = np.empty(m_max, dtype=np.int64)
    positives = np.empty(m_max, dtype=np.int64)
    negatives = np.empty(m_max, dtype=np.int64)
    log_w = np.empty(b)
    allowed = np.empty(b, dtype=np.bool_)
    d_min = max(min_distance, 1e-12)
    cap = -_log_sphere_density(d_min, n_dims)
    m = 0
    for a in range(b):
        for p in range(b):
            if p == a or labels[p] != labels[a]:
                continue
            limit = delta[a, p] + margin
            top = -np.inf
            for n in range(b):
                allowed[n] = labels[n] != labels[a] and delta[a, n] < limit
                if allowed[n]:
                    d = max(np.sqrt(D2[a, n]), d_min)
                    log_w[n] = min(cap, -_log_sphere_density(d, n_dims))
                    top = max(top, log_w[n])
            if top == -np.inf:
                continue
            total = 0.0
            for n in range(b):
                if allowed[n]:
                    total += np.exp(log_w[n] - top)
            target = uniforms[a, p] * total
            acc = 0.0
            chosen = -1
            for n in range(b):
                if allowed[n]:
                    acc += np.exp(log_w[n] - top)
                    chosen = n
                    if acc > target:
                        break
            anchors[m], positives[m], negatives[m] = a, p, chosen
            m += 1
    return anchors[:m].copy(), positives[:m].copy(), negatives[:m].copy()


@kernel()
def _log_sphere_density(d, n_dims):
    # log q(d) up to a constant; 1 - d^2/4 is kept positive for d near 2.
    return (n_dims - 2.0) * np.log(d) + 0.5 * (n_dims - 3.0) * np.log(
        max(1.0 - 0.25 * d * d, 1e-300)
    )


@kernel()
def triplet_loss_weights(D2, anchors, positives, negatives, margin, squared):
    """Triplet loss averaged over its active triplets, and ``W = dL/dD2``.

    ``h_t = max(0, delta(a, p) - delta(a, n) + margin)`` for t = (a, p, n);
    ``L = sum_t h_t / n_active`` with ``n_active = #{t : h_t > 0}`` (0 if none).
    With plain distances ``d(delta)/d(D2) = 1 / (2 delta)``, taken as 0 at delta = 0.

    D2 (b, b) float64 C; index arrays (m,) int64 in ``[0, b)``. Returns
    ``(loss, n_active, W)`` with W a new (b, b) float64 array. Cost O(m + b^2).
    """
    b = D2.shape[0]
    delta = _delta_matrix(D2, squared)
    W = np.zeros((b, b))
    loss = 0.0
    n_active = 0
    for t in range(anchors.shape[0]):
        a, p, n = anchors[t], positives[t], negatives[t]
        d_ap = delta[a, p]
        d_an = delta[a, n]
        h = d_ap - d_an + margin
        if h <= 0.0:
            continue
        loss += h
        n_active += 1
        if squared:
            W[a, p] += 1.0
            W[a, n] -= 1.0
        else:
            if d_ap > 0.0:
                W[a, p] += 0.5 / d_ap
            if d_an > 0.0:
                W[a, n] -= 0.5 / d_an
    if n_active > 0:
        loss /= n_active
        W /= n_active
    return loss, n_active, W


@kernel()
def contrastive_pairs(labels, negative_scores):
    """Balanced pairs of a labelled batch: every positive, as many negatives.

    For each anchor i: every positive j (``j != i``, same label), and the
    ``n_i = #positives of i`` negatives (other label) of smallest
    ``negative_scores[i, j]`` (all negatives if there are fewer), ties by index.
    Pass the squared distances to keep the hardest negatives, or uniform random
    numbers for a uniform random choice.

    labels (b,) int64; negative_scores (b, b) float64 C. Returns ``(left, right,
    similar)``, three new (m,) int64 arrays (similar is 1 or 0), pairs ordered by
    anchor. Cost O(b^2 log b).
    """
    b = labels.shape[0]
    counts = np.zeros(b, dtype=np.int64)
    for i in range(b):
        for j in range(b):
            if j != i and labels[j] == labels[i]:
                counts[i] += 1
    m_max = 0
    for i in range(b):
        n_neg = 0
        for j in range(b):
            if labels[j] != labels[i]:
                n_neg += 1
        m_max += counts[i] + min(counts[i], n_neg)
    left = np.empty(m_max, dtype=np.int64)
    right = np.empty(m_max, dtype=np.int64)
    similar = np.empty(m_max, dtype=np.int64)
    candidates = np.empty(b, dtype=np.int64)
    scores = np.empty(b)
    m = 0
    for i in range(b):
        n_neg = 0
        for j in range(b):
            if j == i:
                continue
            if labels[j] == labels[i]:
                left[m], right[m], similar[m] = i, j, 1
                m += 1
            else:
                candidates[n_neg] = j
                scores[n_neg] = negative_scores[i, j]
                n_neg += 1
        keep = min(counts[i], n_neg)
        if keep == 0:
            continue
        order = np.argsort(scores[:n_neg], kind="mergesort")
        for r in range(keep):
            left[m], right[m], similar[m] = i, candidates[order[r]], 0
            m += 1
    return left[:m].copy(), right[:m].copy(), similar[:m].copy()


@kernel()
def contrastive_loss_weights(D2, left, right, similar, margin):
    """Contrastive loss (Hadsell et al. 2006) and ``W = dL/dD2``.

    Per pair ``(i, j)`` with ``d = sqrt(D2[i, j])``: ``d^2`` if similar, else
    ``max(0, margin - d)^2``. The loss is the mean over similar pairs plus the mean
    over the active dissimilar pairs (those with ``d < margin``): the two kinds
    weigh the same however many there are; an empty kind contributes 0.
    ``d/dD2 max(0, m - d)^2 = 1 - m/d`` for ``0 < d < m``; taken as 0 at d = 0.

    D2 (b, b) float64 C; left, right, similar (m,) int64. Returns ``(loss,
    n_active, W)`` with n_active the similar pairs plus the active dissimilar pairs
    and W a new (b, b) float64 array. Cost O(m + b^2).
    """
    b = D2.shape[0]
    W = np.zeros((b, b))
    n_pos = 0
    n_neg = 0
    for t in range(left.shape[0]):
        if similar[t] != 0:
            n_pos += 1
        elif D2[left[t], right[t]] < margin * margin:
            n_neg += 1
    pos_scale = 1.0 / n_pos if n_pos > 0 else 0.0
    neg_scale = 1.0 / n_neg if n_neg > 0 else 0.0
    loss = 0.0
    for t in range(left.shape[0]):
        i, j = left[t], right[t]
        sq = D2[i, j]
        if similar[t] != 0:
            loss += sq * pos_scale
            W[i, j] += pos_scale
        elif sq < margin * margin:
            d = np.sqrt(sq)
            gap = margin - d
            loss += gap * gap * neg_scale
            if d > 0.0:
                W[i, j] += (1.0 - margin / d) * neg_scale
    return loss, n_pos + n_neg, W


# ---------------------------------------------------------------------------------
# LMNN
# ---------------------------------------------------------------------------------


@kernel()
def impostor_pairs_from_gram(
    gram, row_sq, col_sq, row_radius, col_radius, row_index, col_index
):
    """Directed pairs (anchor, impostor) within the anchor's radius, from a Gram block.

    For rows a and columns b of a block, ``d = row_sq[a] + col_sq[b] - 2 gram[a, b]``
    (clipped at 0) is the squared distance of two points of different classes. The
    pair ``(row_index[a], col_index[b])`` is kept when ``d < row_radius[a]`` (the
    column point is an impostor of the row point), and ``(col_index[b],
    row_index[a])`` when ``d < col_radius[b]``.

    gram is (n_rows, n_cols) float64 C-contiguous (``A @ B.T`` of two embedded
    blocks); row_sq, row_radius (n_rows,) and col_sq, col_radius (n_cols,) float64;
    row_index (n_rows,) and col_index (n_cols,) int64 global row numbers. Returns
    two new (m,) int64 arrays in scan order (row by row, the row point's pair
    first): anchors and impostors. Cost O(n_rows n_cols) time, O(m + n_cols)
    memory.
    """
    n_rows, n_cols = gram.shape
    capacity = max(64, 2 * n_cols)
    anchors = np.empty(capacity, dtype=np.int64)
    impostors = np.empty(capacity, dtype=np.int64)
    row_dists = np.empty(n_cols)
    hit_cols = np.empty(2 * n_cols, dtype=np.int64)
    hit_is_row = np.empty(2 * n_cols, dtype=np.bool_)
    count = 0
    for a in range(n_rows):
        sq_a = row_sq[a]
        radius_a = row_radius[a]
        for b in range(n_cols):  # vectorised: no branch
            row_dists[b] = max(sq_a + col_sq[b] - 2.0 * gram[a, b], 0.0)
        n_hits = 0
        for b in range(n_cols):
            d = row_dists[b]
            if d < radius_a:
                hit_cols[n_hits] = b
                hit_is_row[n_hits] = True
                n_hits += 1
            if d < col_radius[b]:
                hit_cols[n_hits] = b
                hit_is_row[n_hits] = False
                n_hits += 1
        if n_hits == 0:
            continue
        if count + n_hits > capacity:
            capacity = max(2 * capacity, count + n_hits)
            anchors = _grown(anchors, count, capacity)
            impostors = _grown(impostors, count, capacity)
        for h in range(n_hits):
            b = hit_cols[h]
            if hit_is_row[h]:
                anchors[count] = row_index[a]
                impostors[count] = col_index[b]
            else:
                anchors[count] = col_index[b]
                impostors[count] = row_index[a]
            count += 1
    return anchors[:count].copy(), impostors[:count].copy()


@kernel()
def _grown(values, count, capacity):
    out = np.empty(capacity, dtype=values.dtype)
    out[:count] = values[:count]
    return out


@kernel()
def lmnn_push_loss_weights(
    target_dists, target_ptr, impostor_anchor, impostor_dists, squared
):
    """Hinge terms of the LMNN triplets and their per-pair gradient weights.

    Anchor i's target neighbours are the pairs ``t`` in ``target_ptr[i] ..
    target_ptr[i + 1]``, at squared distance ``target_dists[t]``. For each impostor
    pair p (anchor ``i = impostor_anchor[p]`` at squared distance
    ``impostor_dists[p]``) and each target t of i, the triplet margin is
    ``m = 1 + target_dists[t] - impostor_dists[p]``; with ``h(m) = max(m, 0)``
    (``squared`` false) or ``max(m, 0)^2`` (``squared`` true),

    - ``loss = sum h(m)`` over all triplets,
    - ``target_weights[t] = sum_p h'(m)`` and ``impostor_weights[p] = -sum_t h'(m)``,

    so that the gradient of the loss in the squared distances is carried by the
    weighted pairs (see :func:`pair_laplacian_matmul`).

    target_dists (n_targets,) float64; target_ptr (n_samples + 1,) int64;
    impostor_anchor (m,) int64 in ``[0, n_samples)``; impostor_dists (m,) float64;
    squared bool. Returns ``(loss, target_weights, impostor_weights, n_active)``
    with n_active the number of triplets of positive margin. Cost O(m k) for k
    targets per anchor.
    """
    target_weights = np.zeros(target_dists.shape[0])
    impostor_weights = np.zeros(impostor_anchor.shape[0])
    loss = 0.0
    n_active = 0
    for p in range(impostor_anchor.shape[0]):
        i = impostor_anchor[p]
        far = impostor_dists[p]
        total = 0.0
        for t in range(target_ptr[i], target_ptr[i + 1]):
            margin = 1.0 + target_dists[t] - far
            if margin > 0.0:
                n_active += 1
                if squared:
                    loss += margin * margin
                    slope = 2.0 * margin
                else:
                    loss += margin
                    slope = 1.0
                target_weights[t] += slope
                total += slope
        impostor_weights[p] = -total
    return loss, target_weights, impostor_weights, n_active


@kernel()
def _exact_sq_dist(Z, i, j):
    # Plain sequential sum (no fastmath): the one canonical squared distance that
    # decides whether a pair is within a radius, whatever search found it.
    acc = 0.0
    for k in range(Z.shape[1]):
        diff = Z[i, k] - Z[j, k]
        acc += diff * diff
    return acc


@kernel(parallel=True)
def pairs_within_radius(Z, anchor, impostor, radius):
    """Which pairs are strictly inside their anchor's radius, exactly.

    ``out[p] = |Z[anchor[p]] - Z[impostor[p]]|^2 < radius[anchor[p]]`` with the
    squared distance summed in coordinate order, the same in every search, so
    that a tree search and a blocked one agree on points at the boundary.

    Z (n, r) float64 C; anchor, impostor (m,) int64 in ``[0, n)``; radius (n,)
    float64. Returns a new (m,) bool array. Cost O(m r), parallel over pairs.
    """
    m = anchor.shape[0]
    out = np.empty(m, dtype=np.bool_)
    for p in prange(m):
        i = anchor[p]
        out[p] = _exact_sq_dist(Z, i, impostor[p]) < radius[i]
    return out


@kernel(parallel=True)
def grouped_impostor_pairs(Z, labels, radius, order, group_ptr, partner):
    """Directed impostor pairs between groups of points, exactly, in numba loops.

    The points are split in groups: group g holds ``order[group_ptr[g]:
    group_ptr[g + 1]]``. Group g is searched against group ``partner[g]`` when
    ``g <= partner[g]`` (each pair of groups once; a group paired with itself
    once for each unordered pair of its points): for points i, l of different
    labels, ``(i, l)`` is kept when ``|z_i - z_l|^2 < radius[i]`` and ``(l, i)``
    when it is below ``radius[l]``, the squared distance summed in coordinate
    order (as :func:`pairs_within_radius`).

    Z (n, r) float64 C; labels (n,) int64; radius (n,) float64; order (n,) int64
    a permutation; group_ptr (n_groups + 1,) int64; partner (n_groups,) int64, an
    involution. Returns ``(anchor, impostor)``, new (m,) int64 arrays grouped by
    group g in increasing order. Two passes (count, then fill), parallel over
    groups, each writing its own slice. Cost O(sum_g |g| |partner g| r).
    """
    n_groups = group_ptr.shape[0] - 1
    counts = np.zeros(n_groups, dtype=np.int64)
    for g in prange(n_groups):
        counts[g] = _group_pairs(Z, labels, radius, order, group_ptr, g,
                                 partner[g], np.empty(0, np.int64),
                                 np.empty(0, np.int64), 0, False)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    for g in range(n_groups):
        offsets[g + 1] = offsets[g] + counts[g]
    anchor = np.empty(offsets[-1], dtype=np.int64)
    impostor = np.empty(offsets[-1], dtype=np.int64)
    for g in prange(n_groups):
        _group_pairs(Z, labels, radius, order, group_ptr, g, partner[g], anchor,
                     impostor, offsets[g], True)
    return anchor, impostor


@kernel()
def _group_pairs(Z, labels, radius, order, group_ptr, g, h, anchor, impostor,
                 start, fill):
    # Pairs of group g against group h (g <= h); counts them, or writes them
    # from ``start`` on when ``fill``.
    count = 0
    if g > h:
        return 0
    for a in range(group_ptr[g], group_ptr[g + 1]):
        i = order[a]
        first = a + 1 if g == h else group_ptr[h]
        for b in range(first, group_ptr[h + 1]):
            l = order[b]
            if labels[i] == labels[l]:
                continue
            d = _exact_sq_dist(Z, i, l)
            if d < radius[i]:
                if fill:
                    anchor[start + count] = i
                    impostor[start + count] = l
                count += 1
            if d < radius[l]:
                if fill:
                    anchor[start + count] = l
                    impostor[start + count] = i
                count += 1
    return count


@kernel(parallel=True)
def nearest_from_gram(gram, row_sq, col_sq, k, first_row):
    """The k nearest columns of every row of a Gram block, nearest first.

    ``d[a, b] = max(row_sq[a] + col_sq[b] - 2 gram[a, b], 0)``; row a stands for
    column ``first_row + a`` (itself, left out). Ties go to the lower column.

    gram (n_rows, n_cols) float64 C-contiguous; row_sq (n_rows,), col_sq (n_cols,)
    float64; ``1 <= k <= n_cols - 1``. Returns a new (n_rows, k) int64 array of
    column numbers. One pass per row keeping a sorted list of k; parallel over
    rows, each writing its own row. Cost O(n_rows n_cols k) at worst, O(n_rows
    n_cols) typically.
    """
    n_rows, n_cols = gram.shape
    out = np.empty((n_rows, k), dtype=np.int64)
    for a in prange(n_rows):
        best = np.full(k, np.inf)
        index = np.full(k, -1, dtype=np.int64)
        sq_a = row_sq[a]
        own = first_row + a
        for b in range(n_cols):
            d = max(sq_a + col_sq[b] - 2.0 * gram[a, b], 0.0)
            if d >= best[k - 1] or b == own:
                continue
            slot = k - 1
            while slot > 0 and best[slot - 1] > d:
                best[slot] = best[slot - 1]
                index[slot] = index[slot - 1]
                slot -= 1
            best[slot] = d
            index[slot] = b
        out[a] = index
    return out


@kernel(parallel=True)
def count_within_radius(Z, labels, radius, probes):
    """Number of points of another label strictly inside each probe's radius.

    ``out[p] = #{l : labels[l] != labels[i], |z_i - z_l|^2 < radius[i]}`` for
    ``i = probes[p]``, the squared distance summed in coordinate order (as
    :func:`pairs_within_radius`). Z (n, r) float64 C; labels (n,) int64; radius
    (n,) float64; probes (m,) int64. Returns a new (m,) int64 array. Cost
    O(m n r), parallel over probes.
    """
    m = probes.shape[0]
    out = np.zeros(m, dtype=np.int64)
    for p in prange(m):
        i = probes[p]
        count = 0
        for l in range(Z.shape[0]):
            if labels[l] != labels[i] and _exact_sq_dist(Z, i, l) < radius[i]:
                count += 1
        out[p] = count
    return out
