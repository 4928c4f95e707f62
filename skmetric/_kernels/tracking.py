"""Tracking: explicit triplet and pair losses evaluated constraint by constraint,
and triplet mining restricted to allowed negatives (co-occurring tracklets).

The deep learners from explicit constraints touch a few distances per constraint;
the kernels here read and write only those (O(m k) for m constraints in a k-wide
embedding) instead of the whole (b, b) distance matrix of a batch of b rows.
"""

import numpy as np

from ._core import kernel
from .mining import MINER_BATCH_HARD, _delta_matrix, _triplet_selected


@kernel()
def _row_sq_dist(E, i, j):
    acc = 0.0
    for k in range(E.shape[1]):
        diff = E[i, k] - E[j, k]
        acc += diff * diff
    return acc


@kernel()
def _add_pair_grad(E, grad, i, j, weight):
    # d/dE of weight * |E_i - E_j|^2.
    for k in range(E.shape[1]):
        step = 2.0 * weight * (E[i, k] - E[j, k])
        grad[i, k] += step
        grad[j, k] -= step


@kernel()
def triplet_constraint_loss_grad(E, anchors, positives, negatives, margin, squared):
    """Triplet loss of given triplets averaged over the active ones, and dL/dE.

    ``h_t = max(0, delta(a, p) - delta(a, n) + margin)`` with ``delta`` the squared
    distance (``squared``) or the distance between rows of E; ``L = sum_t h_t /
    n_active`` (0 if no triplet is active). With plain distances ``d delta / d D2 =
    1 / (2 delta)``, taken as 0 at delta = 0. The same loss as
    :func:`triplet_loss_weights` followed by :func:`sq_dist_weights_grad`.

    E (b, k) float64 C-contiguous; index arrays (m,) int64 in ``[0, b)``. Returns
    ``(loss, n_active, grad)`` with grad a new (b, k) float64 array. Two passes over
    the triplets; cost O(m k) time, O(b k) memory.
    """
    m = anchors.shape[0]
    hinge = np.zeros(m)
    d_ap = np.empty(m)
    d_an = np.empty(m)
    n_active = 0
    loss = 0.0
    for t in range(m):
        a, p, n = anchors[t], positives[t], negatives[t]
        sq_ap = _row_sq_dist(E, a, p)
        sq_an = _row_sq_dist(E, a, n)
        d_ap[t] = sq_ap if squared else np.sqrt(sq_ap)
        d_an[t] = sq_an if squared else np.sqrt(sq_an)
        h = d_ap[t] - d_an[t] + margin
        if h > 0.0:
            hinge[t] = h
            loss += h
            n_active += 1
    grad = np.zeros(E.shape)
    if n_active == 0:
        return 0.0, 0, grad
    scale = 1.0 / n_active
    for t in range(m):
        if hinge[t] <= 0.0:
            continue
        a, p, n = anchors[t], positives[t], negatives[t]
        if squared:
            _add_pair_grad(E, grad, a, p, scale)
            _add_pair_grad(E, grad, a, n, -scale)
        else:
            if d_ap[t] > 0.0:
                _add_pair_grad(E, grad, a, p, 0.5 * scale / d_ap[t])
            if d_an[t] > 0.0:
                _add_pair_grad(E, grad, a, n, -0.5 * scale / d_an[t])
    return loss * scale, n_active, grad


@kernel()
def contrastive_constraint_loss_grad(E, left, right, similar, margin):
    """Contrastive loss of given pairs and dL/dE.

    Per pair ``(i, j)`` with ``d = |E_i - E_j|``: ``d^2`` if similar, else
    ``max(0, margin - d)^2``; the mean over similar pairs plus the mean over the
    active dissimilar pairs (``d < margin``), an empty kind contributing 0; the
    gradient of ``max(0, m - d)^2`` in ``d^2`` is ``1 - m / d``, taken as 0 at
    d = 0. The same loss as :func:`contrastive_loss_weights` followed by
    :func:`sq_dist_weights_grad`.

    E (b, k) float64 C; left, right, similar (m,) int64. Returns ``(loss,
    n_active, grad)``, n_active counting the similar pairs and the active
    dissimilar ones, grad a new (b, k) float64 array. Cost O(m k).
    """
    m = left.shape[0]
    sq = np.empty(m)
    n_pos = 0
    n_neg = 0
    for t in range(m):
        sq[t] = _row_sq_dist(E, left[t], right[t])
        if similar[t] != 0:
            n_pos += 1
        elif sq[t] < margin * margin:
            n_neg += 1
    pos_scale = 1.0 / n_pos if n_pos > 0 else 0.0
    neg_scale = 1.0 / n_neg if n_neg > 0 else 0.0
    grad = np.zeros(E.shape)
    loss = 0.0
    for t in range(m):
        i, j = left[t], right[t]
        if similar[t] != 0:
            loss += sq[t] * pos_scale
            _add_pair_grad(E, grad, i, j, pos_scale)
        elif sq[t] < margin * margin:
            d = np.sqrt(sq[t])
            gap = margin - d
            loss += gap * gap * neg_scale
            if d > 0.0:
                _add_pair_grad(E, grad, i, j, (1.0 - margin / d) * neg_scale)
    return loss, n_pos + n_neg, grad


@kernel()
def mine_allowed_triplets(D2, labels, allowed, margin, squared, miner):
    """Triplets ``(a, p, n)`` of a batch whose negatives are restricted by a mask.

    As :func:`mine_triplets`, except that n is a candidate negative of anchor a
    only when ``allowed[a, n]`` is non-zero (and ``labels[n] != labels[a]``): for
    tracklets, ``allowed[a, n]`` says that the tracklets of a and n were seen in
    the same frame, so that they are certainly different objects. Positives are
    the other rows of the anchor's label. The miner codes are those of
    :func:`mine_triplets`; ``MINER_BATCH_HARD`` keeps, per anchor with a positive
    and an allowed negative, its farthest positive and nearest allowed negative
    (first index on ties).

    D2 (b, b) float64 C-contiguous; labels (b,) int64; allowed (b, b) uint8 C.
    Returns three new (m,) int64 arrays ordered by anchor, positive, negative.
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
                elif allowed[a, j] != 0 and (n_best < 0 or D2[a, j] < D2[a, n_best]):
                    n_best = j
            if p_best >= 0 and n_best >= 0:
                anchors[m], positives[m], negatives[m] = a, p_best, n_best
                m += 1
        return anchors[:m].copy(), positives[:m].copy(), negatives[:m].copy()
    total = 0
    anchors = np.empty(0, dtype=np.int64)
    positives = np.empty(0, dtype=np.int64)
    negatives = np.empty(0, dtype=np.int64)
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
                    if labels[n] == labels[a] or allowed[a, n] == 0:
                        continue
                    if _triplet_selected(d_ap, delta[a, n], margin, miner):
                        if fill == 1:
                            anchors[m], positives[m], negatives[m] = a, p, n
                        m += 1
        total = m
    return anchors, positives, negatives
