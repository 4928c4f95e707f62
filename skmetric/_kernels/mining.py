"""Deep embeddings: losses, their weights and the triplet and pair miners."""

import numpy as np

from ._core import kernel

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
    # delta of every pair: a copy of D2, or its element-wise square root (a loop:
    # the array expression np.sqrt(D2) is several times slower to compile).
    n_rows, n_cols = D2.shape
    delta = np.empty((n_rows, n_cols))
    for i in range(n_rows):
        for j in range(n_cols):
            delta[i, j] = D2[i, j] if squared else np.sqrt(D2[i, j])
    return delta


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
        for i in range(b):  # W /= n_active, element by element (cheaper to compile)
            for j in range(b):
                W[i, j] /= n_active
    return loss, n_active, W


@kernel()
def triplet_rows_loss_weights(D2, labels, allowed, margin, squared, miner, start,
                              stop, W, losses, counts):
    """Mining and triplet loss of the anchors ``start <= a < stop``, in one pass.

    What :func:`mine_triplets` (or, with a mask, ``mine_allowed_triplets``)
    followed by :func:`triplet_loss_weights` computes, anchor by anchor and
    without building the triplet lists, for every miner code of
    :func:`mine_triplets`: for each anchor a of the range, with ``h_t = max(0,
    delta(a, p) - delta(a, n) + margin)`` over its selected triplets t,

    - ``W[a, :]`` (an ``out`` buffer of zeros) receives the unscaled terms of
      ``dL/dD2`` (``+-1`` if ``squared``, else ``+-1 / (2 delta)``, 0 at delta =
      0), added in the order of :func:`triplet_loss_weights`;
    - ``losses[a] = sum_t h_t`` over its active triplets (``h_t > 0``);
    - ``counts[a] = (active, selected)`` triplets.

    The caller divides the sums by the total of the active counts. Anchors write
    only their own row and entries, so ranges can run on threads at once (the
    kernel releases the GIL) with a result that does not depend on how the
    anchors are split.

    ``allowed`` restricts the negatives: n is a candidate negative of anchor a
    only when ``allowed[a, n]`` is non-zero (for tracklets: the tracklets of a
    and n were seen in the same frame); an empty (0, 0) array allows every row
    of another label.

    D2 (b, b) float64 C-contiguous squared distances; labels (b,) int64; allowed
    (b, b) or (0, 0) uint8 C; W (b, b) float64 C; losses (b,) float64; counts
    (b, 2) int64. Returns nothing. Cost O((stop - start) b^2) time, O(b) extra
    memory.
    """
    b = labels.shape[0]
    unrestricted = allowed.shape[0] == 0
    delta = np.empty(b)
    for a in range(start, stop):
        for j in range(b):
            delta[j] = D2[a, j] if squared else np.sqrt(D2[a, j])
        loss_a = 0.0
        active_a = 0
        selected_a = 0
        if miner == MINER_BATCH_HARD:
            # int64, not the literal -1: handed to _add_triplet below, a literal
            # would compile a second specialisation of it.
            p_best, n_best = np.int64(-1), np.int64(-1)
            for j in range(b):
                if j == a:
                    continue
                if labels[j] == labels[a]:
                    if p_best < 0 or D2[a, j] > D2[a, p_best]:
                        p_best = j
                elif (unrestricted or allowed[a, j] != 0) and (
                        n_best < 0 or D2[a, j] < D2[a, n_best]):
                    n_best = j
            if p_best >= 0 and n_best >= 0:
                selected_a = 1
                active_a, loss_a = _add_triplet(W, delta, a, p_best, n_best, margin,
                                                squared)
        else:
            for p in range(b):
                if p == a or labels[p] != labels[a]:
                    continue
                d_ap = delta[p]
                for n in range(b):
                    if labels[n] == labels[a] or (not unrestricted
                                                  and allowed[a, n] == 0):
                        continue
                    if _triplet_selected(d_ap, delta[n], margin, miner):
                        selected_a += 1
                        active, h = _add_triplet(W, delta, a, p, n, margin, squared)
                        active_a += active
                        loss_a += h
        losses[a] = loss_a
        counts[a, 0] = active_a
        counts[a, 1] = selected_a


@kernel()
def _add_triplet(W, delta, a, p, n, margin, squared):
    # Adds the terms of triplet (a, p, n) to row a of W (unscaled), delta being
    # row a of the distances; returns (1, h) if active, (0, 0.0) otherwise.
    d_ap = delta[p]
    d_an = delta[n]
    h = d_ap - d_an + margin
    if h <= 0.0:
        return 0, 0.0
    if squared:
        W[a, p] += 1.0
        W[a, n] -= 1.0
    else:
        if d_ap > 0.0:
            W[a, p] += 0.5 / d_ap
        if d_an > 0.0:
            W[a, n] -= 0.5 / d_an
    return 1, h


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
    counts = np.empty(b, dtype=np.int64)  # np.zeros compiles two helpers more
    for i in range(b):
        counts[i] = 0
        for j in range(b):
            if j != i and labels[j] == labels[i]:
                counts[i] += 1
    m_max = 0
    for i in range(b):
        n_neg = 0
        for j in range(b):
            if labels[j] != labels[i]:
                n_neg += 1
        m_max += counts[i] + (n_neg if n_neg < counts[i] else counts[i])  # min
    left = np.empty(m_max, dtype=np.int64)
    right = np.empty(m_max, dtype=np.int64)
    similar = np.empty(m_max, dtype=np.int64)
    candidates = np.empty(b, dtype=np.int64)
    scores = np.empty(b)
    chosen = np.empty(b, dtype=np.int64)
    m = 0
    for i in range(b):
        n_neg = np.int64(0)  # not a literal: handed to _smallest_first below
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
        keep = counts[i] if counts[i] < n_neg else n_neg
        if keep == 0:
            continue
        _smallest_first(scores, n_neg, keep, chosen)
        for r in range(keep):
            left[m], right[m], similar[m] = i, candidates[chosen[r]], 0
            m += 1
    return left[:m].copy(), right[:m].copy(), similar[:m].copy()


@kernel()
def contrastive_rows_loss_weights(D2, labels, negative_scores, margin, start, stop,
                                  W, losses, counts):
    """Pairs and contrastive loss of the anchors ``start <= i < stop``, in one
    pass.

    What :func:`contrastive_pairs` followed by :func:`contrastive_loss_weights`
    computes, anchor by anchor and without building the pair lists: for each
    anchor i of the range, its pairs are every positive j and the ``n_i``
    negatives of smallest ``negative_scores[i, j]`` (as in
    :func:`contrastive_pairs`); with ``sq = D2[i, j]`` and ``d = sqrt(sq)``,

    - ``W[i, j]`` (an ``out`` buffer of zeros) receives the unscaled weight:
      1 for a positive, ``1 - margin / d`` for an active negative (``sq <
      margin^2``, ``d > 0``);
    - ``losses[i] = (sum of sq over its positives, sum of (margin - d)^2 over
      its active negatives)``;
    - ``counts[i] = (positives, active negatives, pairs)``.

    The caller scales the positive entries of W (same label) by ``1 / total
    positives`` and the others by ``1 / total active negatives``, which gives
    :func:`contrastive_loss_weights`' W bit for bit. Anchors write only their
    own row and entries, so ranges can run on threads at once (the kernel
    releases the GIL) with a result that does not depend on the split.

    D2, negative_scores (b, b) float64 C; labels (b,) int64; W (b, b) float64
    C; losses (b, 2) float64; counts (b, 3) int64. Returns nothing. Cost
    O((stop - start) b log b) time, O(b) extra memory.
    """
    b = labels.shape[0]
    candidates = np.empty(b, dtype=np.int64)
    scores = np.empty(b)
    chosen = np.empty(b, dtype=np.int64)
    limit = margin * margin
    for i in range(start, stop):
        n_pos = np.int64(0)
        n_neg = np.int64(0)  # not a literal: handed to _smallest_first below
        pos_loss = 0.0
        for j in range(b):
            if j == i:
                continue
            if labels[j] == labels[i]:
                W[i, j] = 1.0
                pos_loss += D2[i, j]
                n_pos += 1
            else:
                candidates[n_neg] = j
                scores[n_neg] = negative_scores[i, j]
                n_neg += 1
        keep = n_pos if n_pos < n_neg else n_neg
        neg_loss = 0.0
        n_active = 0
        if keep > 0:
            _smallest_first(scores, n_neg, keep, chosen)
            for r in range(keep):
                j = candidates[chosen[r]]
                sq = D2[i, j]
                if sq < limit:
                    d = np.sqrt(sq)
                    gap = margin - d
                    neg_loss += gap * gap
                    n_active += 1
                    if d > 0.0:
                        W[i, j] = 1.0 - margin / d
        losses[i, 0] = pos_loss
        losses[i, 1] = neg_loss
        counts[i, 0] = n_pos
        counts[i, 1] = n_active
        counts[i, 2] = n_pos + keep


@kernel()
def _smallest_first(scores, n, keep, out):
    # out[:keep] = the positions of the keep smallest of scores[:n], in the order
    # of a stable sort (by score, then position; NaN after every number), as
    # np.argsort(scores[:n], kind="mergesort")[:keep]: a max-heap of the keep
    # best so far, then sorted in place. O(n log keep), and no sort routine to
    # compile (numba's merge sort is most of a first DeepSiamese fit otherwise).
    size = 0
    for c in range(n):
        if size < keep:  # sift c up from the end of the heap
            slot = size
            size += 1
            while slot > 0:
                parent = (slot - 1) // 2
                if not _ranks_before(scores, out[parent], c):
                    break
                out[slot] = out[parent]
                slot = parent
            out[slot] = c
        elif _ranks_before(scores, c, out[0]):  # c replaces the largest kept
            _sift_down(scores, out, keep, c)
    for end in range(keep - 1, 0, -1):  # heap sort: the largest to the end
        top = out[0]
        _sift_down(scores, out, end, out[end])
        out[end] = top


@kernel()
def _sift_down(scores, heap, size, item):
    # Puts item at the root of the max-heap heap[:size] and sifts it down.
    slot = 0
    while True:
        child = 2 * slot + 1
        if child >= size:
            break
        if child + 1 < size and _ranks_before(scores, heap[child], heap[child + 1]):
            child += 1
        if not _ranks_before(scores, item, heap[child]):
            break
        heap[slot] = heap[child]
        slot = child
    heap[slot] = item


@kernel()
def _ranks_before(scores, i, j):
    # (scores[i], i) < (scores[j], j), a NaN score after every number.
    a = scores[i]
    b = scores[j]
    if a < b or (b != b and a == a):
        return True
    if b < a or (a != a and b == b):
        return False
    return i < j


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
