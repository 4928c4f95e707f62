"""LMNN's neighbour searches: target neighbours and impostors, block by block.

Both searches compute squared distances through BLAS on blocks of rows, so that the
memory stays bounded (about ``_BLOCK_ELEMENTS`` distances at a time) whatever the
number of samples; no n x n matrix is ever formed.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._validation import class_members

from ._kernels import (
    _BLOCK_ELEMENTS,
    impostor_pairs_from_gram,
    row_sq_norms,
    sq_dist_row_blocks,
)

# Constants of the splitmix64 finaliser, which turns a pair number into a
# pseudo-random 64-bit key (see ``pair_keys``).
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def find_target_neighbors(X, y, n_neighbors, block_elements=_BLOCK_ELEMENTS):
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
    for members, k in zip(class_members(y, n_classes), per_class):
        if k == 0:
            continue
        X_class = X[members]
        for start, stop, dists in sq_dist_row_blocks(X_class, X_class, block_elements):
            rows = np.arange(stop - start)
            dists[rows, start + rows] = np.inf
            nearest = np.argpartition(dists, k - 1, axis=1)[:, :k]
            order = np.argsort(
                np.take_along_axis(dists, nearest, axis=1), axis=1, kind="stable"
            )
            nearest = np.take_along_axis(nearest, order, axis=1)
            slots = target_ptr[members[start:stop]][:, None] + np.arange(k)
            target_index[slots] = members[nearest]
    target_anchor = np.repeat(np.arange(y.shape[0], dtype=np.int64), per_sample)
    return target_anchor, target_index, target_ptr


def pair_keys(anchor, impostor, n_samples, seed):
    """Pseudo-random 64-bit key of each directed pair, fixed for a given ``seed``.

    The splitmix64 finaliser of ``anchor * n_samples + impostor`` mixed with the
    seed: keeping the pairs of smallest key is a uniform random sample that changes
    little when the population of pairs changes a little.
    """
    with np.errstate(over="ignore"):
        x = anchor.astype(np.uint64) * np.uint64(n_samples) + impostor.astype(np.uint64)
        x ^= np.uint64(seed)
        x += _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX_1
        x = (x ^ (x >> np.uint64(27))) * _MIX_2
        return x ^ (x >> np.uint64(31))


def find_impostors(
    Z, members, radius, max_impostors=None, seed=0, *, n_threads=1,
    block_elements=_BLOCK_ELEMENTS,
):
    """Every directed pair (i, l) of different classes with ``|z_i - z_l|^2 < r_i``.

    ``r_i = radius[i]``.

    Classes are taken in turn: the rows of class c against the rows of the classes
    after it, block by block, one BLAS product per block, and the numba kernel
    :func:`impostor_pairs_from_gram` keeps the pairs inside the radius of either
    end. Each unordered pair's distance is computed once. With ``n_threads > 1``
    the blocks are shared out to that many threads (the product and the kernel
    both release the GIL; keep BLAS itself on one thread then).

    With ``max_impostors``, only the pairs whose :func:`pair_keys` fall in the
    lowest fraction ``2**-j`` of the key range are kept, j the smallest that
    leaves at most ``max_impostors`` pairs. The kept pairs are the pairs found
    among a random subset of all pairs fixed by ``seed`` and j, so two searches
    that keep the same fraction sample the same subset.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_components), float64 C-contiguous
        The embedded samples.
    members : list of int64 arrays
        Row numbers of each class (:func:`class_members`).
    radius : ndarray of shape (n_samples,), float64
        Squared search radius of each anchor.
    max_impostors : int or None
        Most pairs kept; None keeps them all.
    seed : int
    n_threads : int, default=1
    block_elements : int
        Distances computed at once, which bounds the memory.

    Returns
    -------
    anchor, impostor : ndarray of shape (m,), int64
        Sorted by anchor, then impostor.
    fraction : float
        The fraction ``2**-j`` of all pairs sampled (1.0 when none is left out).
    n_found : int
        Number of pairs within the radius, sampled or not.
    """
    n_samples = Z.shape[0]
    kept_anchor, kept_impostor, kept_keys = [], [], []
    n_kept = n_found = halvings = 0
    for anchor, impostor in _impostor_blocks(Z, members, radius, block_elements,
                                             n_threads):
        n_found += anchor.shape[0]
        if max_impostors is None:
            kept_anchor.append(anchor)
            kept_impostor.append(impostor)
            continue
        keys = pair_keys(anchor, impostor, n_samples, seed)
        keep = keys >> np.uint64(64 - halvings) == 0 if halvings else slice(None)
        kept_anchor.append(anchor[keep])
        kept_impostor.append(impostor[keep])
        kept_keys.append(keys[keep])
        n_kept += kept_anchor[-1].shape[0]
        while n_kept > max_impostors:
            halvings += 1
            kept_anchor, kept_impostor, kept_keys = _below(
                kept_anchor, kept_impostor, kept_keys, halvings
            )
            n_kept = kept_anchor[0].shape[0]
    anchor = np.concatenate(kept_anchor) if kept_anchor else np.empty(0, np.int64)
    impostor = np.concatenate(kept_impostor) if kept_impostor else np.empty(0, np.int64)
    order = np.lexsort((impostor, anchor))
    return anchor[order], impostor[order], 0.5**halvings, n_found


def _impostor_blocks(Z, members, radius, block_elements, n_threads):
    """Yield the (anchor, impostor) pairs of each block, in block order."""
    sq_norms = row_sq_norms(Z)

    def tasks():
        for c in range(len(members) - 1):
            rows = members[c]
            cols = np.concatenate(members[c + 1:])
            if rows.size == 0 or cols.size == 0:
                continue
            Z_cols = Z[cols]
            step = max(1, block_elements // cols.size)
            for start in range(0, rows.size, step):
                yield rows[start:start + step], cols, Z_cols

    def work(task):
        block, cols, Z_cols = task
        return impostor_pairs_from_gram(
            Z[block] @ Z_cols.T, sq_norms[block], sq_norms[cols], radius[block],
            radius[cols], block, cols,
        )

    if n_threads <= 1:
        yield from map(work, tasks())
        return
    with ThreadPoolExecutor(n_threads) as pool:
        pending = deque()
        for task in tasks():
            pending.append(pool.submit(work, task))
            if len(pending) >= 2 * n_threads:  # bounds the blocks in memory
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _below(anchor, impostor, keys, halvings):
    """Keep the pairs whose key is below ``2**(64 - halvings)``, as one chunk each."""
    anchor, impostor, keys = (
        np.concatenate(parts) for parts in (anchor, impostor, keys)
    )
    keep = keys >> np.uint64(64 - halvings) == 0
    return [anchor[keep]], [impostor[keep]], [keys[keep]]
