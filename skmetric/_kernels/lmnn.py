"""LMNN: impostor search, hinge weights and neighbour selection."""

import numpy as np
from numba import prange

from ._core import kernel

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
    capacity = 2 * n_cols if 2 * n_cols > 64 else 64
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
            d = sq_a + col_sq[b] - 2.0 * gram[a, b]
            row_dists[b] = 0.0 if 0.0 > d else d  # max(d, 0.0)
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
        if count + n_hits > capacity:  # grow both buffers, element by element
            capacity = 2 * capacity
            if count + n_hits > capacity:
                capacity = count + n_hits
            grown_anchors = np.empty(capacity, dtype=np.int64)
            grown_impostors = np.empty(capacity, dtype=np.int64)
            for t in range(count):
                grown_anchors[t] = anchors[t]
                grown_impostors[t] = impostors[t]
            anchors = grown_anchors
            impostors = grown_impostors
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
    # np.empty and a loop: np.zeros compiles two helpers more on a first fit.
    target_weights = np.empty(target_dists.shape[0])
    for t in range(target_weights.shape[0]):
        target_weights[t] = 0.0
    impostor_weights = np.empty(impostor_anchor.shape[0])
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
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    nothing = np.empty(0, dtype=np.int64)
    for g in prange(n_groups):  # count: nothing to write to
        counts[g] = _group_pairs(Z, labels, radius, order, group_ptr, g,
                                 partner[g], nothing, nothing, offsets[g])
    for g in range(n_groups):
        offsets[g + 1] = offsets[g] + counts[g]
    anchor = np.empty(offsets[-1], dtype=np.int64)
    impostor = np.empty(offsets[-1], dtype=np.int64)
    for g in prange(n_groups):
        _group_pairs(Z, labels, radius, order, group_ptr, g, partner[g], anchor,
                     impostor, offsets[g])
    return anchor, impostor


@kernel()
def _group_pairs(Z, labels, radius, order, group_ptr, g, h, anchor, impostor,
                 start):
    # Pairs of group g against group h (g <= h); counts them, and writes them
    # from ``start`` on unless the output arrays are empty (the counting pass;
    # when they are empty in the filling pass there is no pair to write).
    fill = anchor.shape[0] > 0
    count = 0
    if g > h:
        return count
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
        best = np.empty(k)
        index = np.empty(k, dtype=np.int64)
        for slot in range(k):
            best[slot] = np.inf
            index[slot] = -1
        sq_a = row_sq[a]
        own = first_row + a
        for b in range(n_cols):
            d = sq_a + col_sq[b] - 2.0 * gram[a, b]
            if 0.0 > d:  # max(d, 0.0)
                d = 0.0
            if d >= best[k - 1] or b == own:
                continue
            slot = k - 1
            while slot > 0 and best[slot - 1] > d:
                best[slot] = best[slot - 1]
                index[slot] = index[slot - 1]
                slot -= 1
            best[slot] = d
            index[slot] = b
        for slot in range(k):
            out[a, slot] = index[slot]
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
