"""LMNN's neighbour searches: target neighbours and impostors, block by block.

Both searches compute squared distances through BLAS on blocks of rows, so that the
memory stays bounded (``_BLOCK_ELEMENTS`` or ``_IMPOSTOR_BLOCK_ELEMENTS`` distances
at a time) whatever the number of samples; no n x n matrix is ever formed.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from sklearn.neighbors import KDTree

from ._kernels import (
    _BLOCK_ELEMENTS,
    count_within_radius,
    grouped_impostor_pairs,
    impostor_pairs_from_gram,
    nearest_from_gram,
    pairs_within_radius,
    row_sq_norms,
)
from ._validation import class_members

# The tree search is chosen up to this embedding dimension, from this many points
# per group on; a group pairing holds at most _GROUPED_MAX_POINTS points on average
# in at most _GROUPED_MAX_DIM dimensions for the numba loops of the grouped search
# (in more, BLAS products of the groups' blocks are several times faster).
_TREE_MAX_DIM = 8
_TREE_MIN_POINTS = 20_000
_GROUPED_MAX_POINTS = 2_048
_GROUPED_MAX_DIM = 32
_TREE_CHUNK = 4_096
# Relative slack of the screens (BLAS expansion, tree) before the exact check.
_SCREEN_SLACK = 1e-9
# The sample level is estimated above this many points, from this many anchors.
_ESTIMATE_ABOVE = 20_000
_ESTIMATE_PROBES = 256
# Distances screened at once by the blocked impostor search (4 MiB of float64 per
# block and thread): BLAS writes a block and the screen reads it back while it is
# still in cache. Per search on the 2-core machine (2 MiB of L2 per core, 32 MiB of
# L3), one / two threads, medians of 3 in two rounds, against 2**22: pendigits
# 0.15-0.18 / 0.09 s -> 0.11-0.12 / 0.06-0.07 s; make_classification 10000 x 50
# 0.19-0.20 / 0.11-0.14 s -> 0.18 / 0.10 s, 20000 x 16 0.49-0.50 / 0.27-0.28 s ->
# 0.38 / 0.21-0.22 s; 3500 rows of mnist (784 dimensions, compute-bound)
# 0.20 / 0.11 s -> 0.21 / 0.11-0.12 s.
_IMPOSTOR_BLOCK_ELEMENTS = 2**19

# Constants of the splitmix64 finaliser, which turns a pair number into a
# pseudo-random 64-bit key (see ``pair_keys``).
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def find_target_neighbors(X, y, n_neighbors, block_elements=_BLOCK_ELEMENTS, *,
                          n_threads=1):
    """The nearest same-class samples of every sample, in CSR form by anchor.

    Sample i of a class with ``n_c`` samples gets ``min(n_neighbors, n_c - 1)``
    target neighbours, nearest first (squared Euclidean distance in X, itself
    excluded; ties broken by the order of the rows).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64 C-contiguous
    y : ndarray of shape (n_samples,), int64 labels ``0..n_classes-1``
    n_neighbors : int
    block_elements : int
        Distances computed at once, which bounds the memory.
    n_threads : int, default=1
        Threads sharing the blocks (the result does not depend on it).

    Returns
    -------
    target_anchor : ndarray of shape (n_targets,), int64
        The anchor i of each target pair, non-decreasing.
    target_index : ndarray of shape (n_targets,), int64
        The target neighbour j of each pair.
    target_ptr : ndarray of shape (n_samples + 1,), int64
        Anchor i's pairs are ``target_ptr[i]:target_ptr[i + 1]``.
    """
    n_classes = int(y.max()) + 1
    counts = np.bincount(y, minlength=n_classes)
    per_class = np.minimum(n_neighbors, counts - 1)
    per_sample = per_class[y]
    target_ptr = np.zeros(y.shape[0] + 1, dtype=np.int64)
    np.cumsum(per_sample, out=target_ptr[1:])
    target_index = np.empty(target_ptr[-1], dtype=np.int64)

    def tasks():
        for members, k in zip(class_members(y, n_classes), per_class):
            if k == 0:
                continue
            X_class = X[members]
            sq = row_sq_norms(X_class)
            step = max(1, block_elements // members.size)
            for start in range(0, members.size, step):
                yield members, X_class, sq, k, start, min(members.size, start + step)

    def work(task):
        members, X_class, sq, k, start, stop = task
        nearest = nearest_from_gram(X_class[start:stop] @ X_class.T, sq[start:stop],
                                    sq, int(k), start)
        slots = target_ptr[members[start:stop]][:, None] + np.arange(k)
        target_index[slots] = members[nearest]

    for _ in _mapped(work, tasks(), n_threads):
        pass
    target_anchor = np.repeat(np.arange(y.shape[0], dtype=np.int64), per_sample)
    return target_anchor, target_index, target_ptr


def sample_hashes(n_samples, seed):
    """Pseudo-random 64-bit hash of every row number, fixed for a given ``seed``.

    The splitmix64 finaliser of ``i`` mixed with the seed. The pair (i, l) is in
    the sample of level j when ``(h_i + h_l) mod 2**j == 0``: a fraction
    ``2**-j`` of all pairs, nested (level j + 1 keeps part of level j), and the
    partners of i at level j are the points of one group, ``h_l = -h_i mod
    2**j``, so that a search of the sample need not look at the other pairs.
    """
    with np.errstate(over="ignore"):
        x = np.arange(n_samples, dtype=np.uint64) ^ np.uint64(seed)
        x += _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX_1
        x = (x ^ (x >> np.uint64(27))) * _MIX_2
        return x ^ (x >> np.uint64(31))


def in_sample(anchor, impostor, hashes, halvings):
    """Whether each pair is in the sample of level ``halvings`` (see sample_hashes)."""
    if halvings == 0:
        return np.ones(anchor.shape[0], dtype=bool)
    with np.errstate(over="ignore"):
        total = hashes[anchor] + hashes[impostor]
    return total & np.uint64(2**halvings - 1) == 0


def find_impostors(
    Z, labels, radius, max_impostors=None, seed=0, *, halvings=0, n_threads=1,
    method="auto", block_elements=_IMPOSTOR_BLOCK_ELEMENTS,
):
    """Every directed pair (i, l) of different labels with ``|z_i - z_l|^2 < r_i``.

    ``r_i = radius[i]``, the squared distance summed exactly in coordinate order
    (:func:`pairs_within_radius`), so that every method finds the same pairs,
    boundary cases included.

    Methods, chosen by ``method='auto'`` from the dimension and the number of
    points per group (see :func:`choose_method`):

    - ``'blocked'``: rows of a class against the rows of the classes after it,
      block by block, one BLAS product per block, screened by the numba kernel
      :func:`impostor_pairs_from_gram` (with a relative slack of 1e-9 for its
      rounding) and checked exactly. O(n^2 r) for n points in r dimensions, in
      bounded memory; blocks shared out to ``n_threads`` threads.
    - ``'tree'``: a ``KDTree`` of the points queried with every point's own
      radius (``query_radius`` with an array of radii), then checked exactly.
      Sub-quadratic when the embedding is low-dimensional and the balls hold few
      points.
    - ``'grouped'``: numba loops over the pairs of groups of the sample (below),
      for many small groups in at most 32 dimensions.

    Sampling: with ``max_impostors``, only the pairs of the sample of level j
    (:func:`sample_hashes`, a fraction ``2**-j`` of all pairs) are kept, j the
    smallest level from ``halvings`` on that leaves at most ``max_impostors``
    pairs. Only the pairs of groups that can pair at level j are searched, so
    the cost falls with the fraction. Above 20000 points the level is first
    estimated from the balls of 256 seeded random points.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_components), float64 C-contiguous
        The embedded samples.
    labels : ndarray of shape (n_samples,), int64
    radius : ndarray of shape (n_samples,), float64
        Squared search radius of each anchor.
    max_impostors : int or None
        Most pairs kept; None keeps them all (and ignores ``halvings``).
    seed : int
    halvings : int, default=0
        Lowest sample level to use.
    n_threads : int, default=1
    method : {'auto', 'blocked', 'tree', 'grouped'}, default='auto'
    block_elements : int
        Distances computed at once by the blocked method, which bounds memory.

    Returns
    -------
    anchor, impostor : ndarray of shape (m,), int64
        Sorted by anchor, then impostor.
    fraction : float
        The fraction ``2**-j`` of all pairs sampled (1.0 when none is left out).
    n_found : int
        Number of pairs found within the radius in the sample searched (at the
        starting level, before any further halving).
    """
    n_samples = Z.shape[0]
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if max_impostors is None:
        halvings = 0
    hashes = sample_hashes(n_samples, seed)
    if max_impostors is not None and n_samples > _ESTIMATE_ABOVE:
        halvings = max(halvings, _estimated_halvings(Z, labels, radius,
                                                     max_impostors, seed))
    kept_anchor, kept_impostor = [], []
    n_kept = n_found = 0
    for anchor, impostor in _sample_pairs(Z, labels, radius, hashes, halvings,
                                          n_threads, method, block_elements):
        n_found += anchor.shape[0]
        if halvings > 0:
            keep = in_sample(anchor, impostor, hashes, halvings)
            anchor, impostor = anchor[keep], impostor[keep]
        kept_anchor.append(anchor)
        kept_impostor.append(impostor)
        n_kept += kept_anchor[-1].shape[0]
        while max_impostors is not None and n_kept > max_impostors:
            halvings += 1
            anchor = np.concatenate(kept_anchor)
            impostor = np.concatenate(kept_impostor)
            keep = in_sample(anchor, impostor, hashes, halvings)
            kept_anchor, kept_impostor = [anchor[keep]], [impostor[keep]]
            n_kept = kept_anchor[0].shape[0]
    anchor = np.concatenate(kept_anchor) if kept_anchor else np.empty(0, np.int64)
    impostor = np.concatenate(kept_impostor) if kept_impostor else np.empty(0, np.int64)
    order = np.argsort(anchor * n_samples + impostor)  # keys are distinct
    return anchor[order], impostor[order], 0.5**halvings, n_found


def choose_method(n_points, n_components):
    """'tree' for low dimensions and many points per group, else 'blocked'.

    A KD-tree prunes well up to about a dozen dimensions; below some thousands
    of points a BLAS product of all pairs is cheaper than walking a tree.
    """
    if n_components <= _TREE_MAX_DIM and n_points >= _TREE_MIN_POINTS:
        return "tree"
    return "blocked"


def _sample_pairs(Z, labels, radius, hashes, halvings, n_threads, method,
                  block_elements):
    """Yield (anchor, impostor) chunks: every in-radius pair of the pairs of groups.

    At level j the points fall in ``2**j`` groups by ``h mod 2**j``; group g
    pairs with group ``-g mod 2**j`` only. Each chunk's pairs are checked exactly.
    """
    n_samples, n_components = Z.shape
    n_groups = 2**halvings
    group = (hashes & np.uint64(n_groups - 1)).astype(np.int64)
    order = np.argsort(group, kind="stable").astype(np.int64)
    group_ptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=n_groups), out=group_ptr[1:])
    partner = (-np.arange(n_groups)) % n_groups
    group_size = n_samples / n_groups
    if method == "auto":
        if (n_groups > 1 and group_size <= _GROUPED_MAX_POINTS
                and n_components <= _GROUPED_MAX_DIM):
            method = "grouped"
        else:
            method = choose_method(group_size, n_components)
    if method == "grouped":
        yield grouped_impostor_pairs(Z, labels, radius, order, group_ptr,
                                     partner.astype(np.int64))
        return
    for g in range(n_groups):
        h = int(partner[g])
        if g > h:
            continue
        rows = order[group_ptr[g]:group_ptr[g + 1]]
        cols = order[group_ptr[h]:group_ptr[h + 1]]
        if method == "tree":
            yield from _tree_pairs(Z, labels, radius, rows, cols, g == h, n_threads)
        else:
            yield from _blocked_pairs(Z, labels, radius, rows, cols, g == h,
                                      block_elements, n_threads)


def _tree_pairs(Z, labels, radius, rows, cols, same, n_threads):
    """Pairs found by querying a KD-tree of the ``cols`` points with each radius."""
    sides = [(rows, cols)] if same else [(rows, cols), (cols, rows)]
    for anchors, points in sides:
        if anchors.size == 0 or points.size == 0:
            continue
        tree = KDTree(Z[points])
        # The tree's rounding differs from the exact sum: query a hair wider,
        # then check every candidate exactly.
        reach = np.sqrt(radius * (1.0 + _SCREEN_SLACK)) + 1e-300
        chunks = np.array_split(anchors, max(1, anchors.size // _TREE_CHUNK))

        def work(chunk):
            found = tree.query_radius(Z[chunk], r=reach[chunk])
            counts = np.fromiter((f.shape[0] for f in found), np.int64, chunk.size)
            anchor = np.repeat(chunk, counts)
            impostor = points[np.concatenate(found)] if counts.sum() else anchor
            keep = labels[anchor] != labels[impostor]
            anchor, impostor = anchor[keep], impostor[keep]
            keep = pairs_within_radius(Z, anchor, impostor, radius)
            return anchor[keep], impostor[keep]

        yield from _mapped(work, chunks, n_threads)


def _blocked_pairs(Z, labels, radius, rows, cols, same, block_elements, n_threads):
    """Pairs found by BLAS products of blocks of ``rows`` against ``cols``."""
    sq_norms = row_sq_norms(Z)
    screen = radius * (1.0 + _SCREEN_SLACK) + _SCREEN_SLACK * 4.0 * sq_norms.max()

    def tasks():
        classes = np.unique(labels[rows])
        for c in classes:
            block_rows = rows[labels[rows] == c]
            if same:
                block_cols = cols[labels[cols] > c]
            else:
                block_cols = cols[labels[cols] != c]
            if block_rows.size == 0 or block_cols.size == 0:
                continue
            Z_cols = Z[block_cols]
            step = max(1, block_elements // block_cols.size)
            for start in range(0, block_rows.size, step):
                yield block_rows[start:start + step], block_cols, Z_cols

    def work(task):
        block, block_cols, Z_cols = task
        anchor, impostor = impostor_pairs_from_gram(
            Z[block] @ Z_cols.T, sq_norms[block], sq_norms[block_cols],
            screen[block], screen[block_cols], block, block_cols,
        )
        keep = pairs_within_radius(Z, anchor, impostor, radius)
        return anchor[keep], impostor[keep]

    yield from _mapped(work, tasks(), n_threads)


def _mapped(work, tasks, n_threads):
    """``map(work, tasks)`` in order, on ``n_threads`` threads, few results held."""
    if n_threads <= 1:
        yield from map(work, tasks)
        return
    with ThreadPoolExecutor(n_threads, initializer=numba.set_num_threads,
                            initargs=(1,)) as pool:
        pending = deque()
        for task in tasks:
            pending.append(pool.submit(work, task))
            if len(pending) >= 2 * n_threads:  # bounds the blocks in memory
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _estimated_halvings(Z, labels, radius, max_impostors, seed):
    """Sample level expected to leave at most ``max_impostors`` pairs.

    Counts the pairs of ``_ESTIMATE_PROBES`` seeded random anchors exactly and
    scales up; one level below the estimate, so that the search rarely has to
    halve more than once on the way.
    """
    n_samples = Z.shape[0]
    rng = np.random.default_rng(seed)
    probes = np.sort(rng.choice(n_samples, _ESTIMATE_PROBES, replace=False))
    count = int(count_within_radius(Z, labels, radius, probes.astype(np.int64)).sum())
    estimate = count * n_samples / _ESTIMATE_PROBES
    if estimate <= max_impostors:
        return 0
    return max(0, int(np.floor(np.log2(estimate / max_impostors))) - 1)
