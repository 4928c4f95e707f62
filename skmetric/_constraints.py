"""Constraint builders: pairs and triplets of row indices from labels, sequences
of frames and tracklets, for the pair and triplet learners.

Every builder describes, for each row a, its candidate positives P(a) and
negatives N(a); both relations are symmetric. Triplets are ``(a, p, n)`` with
``p in P(a)`` and ``n in N(a)``; similar pairs are unordered ``{a, p}``,
dissimilar pairs unordered ``{a, n}``. Each kind is sampled uniformly *without
replacement* among all its distinct tuples: when there are at most twice as
many as asked for, they are enumerated and a random subset is kept (all of
them if there are fewer than asked for); otherwise tuples are drawn uniformly
(the anchor with probability proportional to its number of tuples, then its
partners uniformly) and duplicates are dropped, round after round. The output
is in random order. Memory and time are O(n_samples + size asked for) apart
from the per-tracklet lists of co-occurring rows.

The relations are stored compactly over the rows sorted by group (and frame):
P(a) is a block of that order minus a itself, and N(a) either the complement
of a block (labels, sequences) or the rows of a list of groups (tracklets).
"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._validation import check_frames, check_groups

# Rounds of rejection sampling before giving up on a size (only reached when
# almost every draw repeats an earlier one, which the 2x rule prevents).
_MAX_ROUNDS = 64


class _Relation:
    """Positives and negatives of every row, stored as blocks of ``order``."""

    def __init__(self, order, pos_lo, pos_hi, neg_lo=None, neg_hi=None,
                 neg_group=None, neg_rows=None, neg_ptr=None):
        n = order.shape[0]
        self.order = order
        self.position = np.empty(n, dtype=np.int64)
        self.position[order] = np.arange(n)
        self.pos_lo, self.pos_hi = pos_lo, pos_hi
        self.n_pos = pos_hi - pos_lo - 1  # the block holds the row itself
        self.neg_lo, self.neg_hi = neg_lo, neg_hi
        self.neg_group, self.neg_rows, self.neg_ptr = neg_group, neg_rows, neg_ptr
        if neg_group is None:
            self.n_neg = n - (neg_hi - neg_lo)
        else:
            self.n_neg = (neg_ptr[neg_group + 1] - neg_ptr[neg_group])

    # -- drawing ---------------------------------------------------------------

    def draw_positive(self, anchors, rng):
        u = (rng.random_sample(anchors.shape[0])
             * self.n_pos[anchors]).astype(np.int64)
        u = np.minimum(u, self.n_pos[anchors] - 1)
        pos = self.pos_lo[anchors] + u
        pos += pos >= self.position[anchors]  # skip the anchor itself
        return self.order[pos]

    def draw_negative(self, anchors, rng):
        u = (rng.random_sample(anchors.shape[0])
             * self.n_neg[anchors]).astype(np.int64)
        u = np.minimum(u, self.n_neg[anchors] - 1)
        if self.neg_group is None:
            lo, hi = self.neg_lo[anchors], self.neg_hi[anchors]
            pos = np.where(u < lo, u, u + (hi - lo))
            return self.order[pos]
        return self.neg_rows[self.neg_ptr[self.neg_group[anchors]] + u]

    # -- enumerating -----------------------------------------------------------

    def positives(self, a):
        block = self.order[self.pos_lo[a]:self.pos_hi[a]]
        return block[block != a]

    def negatives(self, a):
        if self.neg_group is None:
            return np.concatenate((self.order[:self.neg_lo[a]],
                                   self.order[self.neg_hi[a]:]))
        g = self.neg_group[a]
        return self.neg_rows[self.neg_ptr[g]:self.neg_ptr[g + 1]]


def _check_size(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int; got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}.")
    return int(value)


def _sample_distinct(weights, enumerate_all, draw, size, rng, what):
    """Up to ``size`` distinct tuples, uniform without replacement.

    ``weights[a]`` counts the tuples anchored at a (their sum is the total),
    ``enumerate_all()`` lists every tuple, ``draw(anchors)`` draws one tuple per
    anchor (uniform among that anchor's tuples).
    """
    total = int(weights.sum())
    if total == 0:
        return np.empty((0, 0), dtype=np.int64)
    if total <= 2 * size:
        tuples = enumerate_all()
        keep = rng.permutation(tuples.shape[0])[:size]
        return tuples[keep]
    probabilities = weights / weights.sum()
    kept = np.empty((0, 0), dtype=np.int64)
    for _ in range(_MAX_ROUNDS):
        needed = size - kept.shape[0]
        anchors = rng.choice(weights.shape[0], size=2 * needed, p=probabilities)
        drawn = draw(anchors)
        tuples = drawn if kept.size == 0 else np.vstack((kept, drawn))
        _, first = np.unique(tuples, axis=0, return_index=True)
        kept = tuples[np.sort(first)][:size]
        if kept.shape[0] == size:
            return kept[rng.permutation(size)]
    raise RuntimeError(  # pragma: no cover - needs total <= 2 * size
        f"could not draw {size} distinct {what} in {_MAX_ROUNDS} rounds.")


def _triplets(relation, n_triplets, rng, empty_message):
    weights = relation.n_pos * np.maximum(relation.n_neg, 0)
    weights = np.where(relation.n_pos > 0, weights, 0)

    def enumerate_all():
        parts = []
        for a in np.flatnonzero(weights):
            pos, neg = relation.positives(a), relation.negatives(a)
            grid = np.empty((pos.shape[0], neg.shape[0], 3), dtype=np.int64)
            grid[..., 0] = a
            grid[..., 1] = pos[:, None]
            grid[..., 2] = neg[None, :]
            parts.append(grid.reshape(-1, 3))
        return np.vstack(parts)

    def draw(anchors):
        return np.column_stack((anchors, relation.draw_positive(anchors, rng),
                                relation.draw_negative(anchors, rng)))

    triplets = _sample_distinct(weights, enumerate_all, draw, n_triplets, rng,
                                "triplets")
    if triplets.shape[0] == 0:
        raise ValueError(empty_message)
    return triplets.astype(np.int64)


def _pairs_of_kind(relation, n_pairs, rng, positive):
    counts = relation.n_pos if positive else relation.n_neg
    counts = np.maximum(counts, 0)
    candidates = relation.positives if positive else relation.negatives
    drawer = relation.draw_positive if positive else relation.draw_negative

    def enumerate_all():
        parts = []
        for a in np.flatnonzero(counts):
            partners = candidates(a)
            partners = partners[partners > a]  # each unordered pair once
            parts.append(np.column_stack((np.full(partners.shape[0], a),
                                          partners)))
        return np.vstack(parts).astype(np.int64)

    def draw(anchors):
        partners = drawer(anchors, rng)
        return np.column_stack((np.minimum(anchors, partners),
                                np.maximum(anchors, partners)))

    # Ordered pairs count each unordered pair twice: weights / 2 of them.
    pairs = _sample_distinct(counts / 2.0, enumerate_all, draw, n_pairs, rng,
                             "pairs")
    return pairs.reshape(-1, 2).astype(np.int64)


def _pairs(relation, n_pairs, rng, what):
    n_similar = (n_pairs + 1) // 2
    similar = _pairs_of_kind(relation, n_similar, rng, positive=True)
    dissimilar = _pairs_of_kind(relation, n_pairs - n_similar, rng, positive=False)
    if similar.shape[0] == 0 or dissimilar.shape[0] == 0:
        kind = "similar" if similar.shape[0] == 0 else "dissimilar"
        raise ValueError(f"{what} give no {kind} pair.")
    pairs = np.vstack((similar, dissimilar))
    y = np.concatenate((np.ones(similar.shape[0], dtype=np.int64),
                        -np.ones(dissimilar.shape[0], dtype=np.int64)))
    order = rng.permutation(pairs.shape[0])
    return pairs[order], y[order]


# ---- relations -----------------------------------------------------------------

def _label_relation(y):
    codes = check_groups(y, "y", np.shape(y)[0] if np.ndim(y) else 0)
    if codes.shape[0] < 2:
        raise ValueError(f"y needs at least 2 rows; got {codes.shape[0]}.")
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    lo, hi = starts[codes], starts[codes + 1]
    return _Relation(order, lo, hi, neg_lo=lo, neg_hi=hi)


def _sequence_relation(frames, sequences, positive_window, negative_window):
    frames = check_frames(frames)
    n = frames.shape[0]
    seq = (np.zeros(n, dtype=np.int64) if sequences is None
           else check_groups(sequences, "sequences", n))
    for value, name in ((positive_window, "positive_window"),
                        (negative_window, "negative_window")):
        _check_size(value, name)
    if negative_window <= positive_window:
        raise ValueError(
            f"negative_window={negative_window} must exceed positive_window="
            f"{positive_window}: a frame cannot be both a positive and a negative.")
    order = np.lexsort((frames, seq))
    s_sorted, f_sorted = seq[order], frames[order]
    same = (s_sorted[1:] == s_sorted[:-1]) & (f_sorted[1:] == f_sorted[:-1])
    if np.any(same):
        at = order[1:][same][0]
        raise ValueError(
            f"frame {frames[at]} appears twice in one sequence (row {at}); every "
            "row must be a distinct frame of its sequence.")
    # Frames of each sequence as one increasing key: sequence * span + frame.
    span = int(frames.max()) + 2 * negative_window + 2
    key = s_sorted * span + f_sorted
    key_of_row = np.empty(n, dtype=np.int64)
    key_of_row[order] = key

    def block(width):
        # Rows of the same sequence with |frame - f| <= width (in sorted order).
        return (np.searchsorted(key, key_of_row - width, side="left"),
                np.searchsorted(key, key_of_row + width, side="right"))

    pos_lo, pos_hi = block(positive_window)
    neg_lo, neg_hi = block(negative_window - 1)
    return _Relation(order, pos_lo, pos_hi, neg_lo=neg_lo, neg_hi=neg_hi)


def _tracklet_relation(tracklets, frames):
    frames = check_frames(frames)
    n = frames.shape[0]
    codes = check_groups(tracklets, "tracklets", n)
    order = np.lexsort((frames, codes))
    t_sorted, f_sorted = codes[order], frames[order]
    twice = (t_sorted[1:] == t_sorted[:-1]) & (f_sorted[1:] == f_sorted[:-1])
    if np.any(twice):
        at = order[1:][twice][0]
        raise ValueError(
            f"tracklet {np.asarray(tracklets)[at]!r} is seen twice in frame "
            f"{frames[at]} (row {at}); a tracklet holds one row per frame.")
    n_tracklets = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=n_tracklets)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    cooccur = cooccurring_tracklets(codes, frames, n_tracklets)
    neg_lists = [np.concatenate([order[starts[u]:starts[u + 1]]
                                 for u in np.flatnonzero(cooccur[t])] or
                                [np.empty(0, dtype=np.int64)])
                 for t in range(n_tracklets)]
    neg_ptr = np.concatenate(([0], np.cumsum([r.shape[0] for r in neg_lists])))
    neg_rows = (np.concatenate(neg_lists) if neg_ptr[-1] else
                np.empty(0, dtype=np.int64)).astype(np.int64)
    return _Relation(order, starts[codes], starts[codes + 1], neg_group=codes,
                     neg_rows=neg_rows, neg_ptr=neg_ptr.astype(np.int64)), cooccur


def cooccurring_tracklets(codes, frames, n_tracklets):
    """Boolean (k, k) matrix: tracklets u != v share at least one frame."""
    cooccur = np.zeros((n_tracklets, n_tracklets), dtype=bool)
    by_frame = np.lexsort((codes, frames))
    f_sorted, t_sorted = frames[by_frame], codes[by_frame]
    bounds = np.flatnonzero(np.diff(f_sorted)) + 1
    for seen in np.split(t_sorted, bounds):
        if seen.shape[0] > 1:
            cooccur[np.ix_(seen, seen)] = True
    np.fill_diagonal(cooccur, False)
    return cooccur


def _no_cooccurrence_message(what):
    return (f"no two tracklets are seen in the same frame, so there is no {what}: "
            "negatives come only from tracklets seen at the same time (different "
            "objects for certain).")


# ---- public builders ---------------------------------------------------------------

def triplets_from_labels(y, n_triplets=1000, *, random_state=None):
    """Triplets ``(a, p, n)`` of row indices from class labels.

    ``p`` shares the class of ``a`` (``p != a``) and ``n`` is of another class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (any hashable values).
    n_triplets : int, default=1000
        Number of triplets; fewer when there are fewer distinct triplets.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    triplets : ndarray of shape (n_triplets, 3), int64
        Row indices, uniform without replacement among all valid triplets, in
        random order; the samples of :class:`~skmetric.deep.DeepTripletTriplets`
        with ``preprocessor=X``.

    Examples
    --------
    >>> from skmetric.constraints import triplets_from_labels
    >>> triplets_from_labels([0, 0, 1, 1], 3, random_state=0).shape
    (3, 3)
    """
    n_triplets = _check_size(n_triplets, "n_triplets")
    relation = _label_relation(y)
    return _triplets(relation, n_triplets, check_random_state(random_state),
                     "y needs a class of at least 2 rows and a second class to "
                     "form a triplet.")


def pairs_from_labels(y, n_pairs=1000, *, random_state=None):
    """Similar and dissimilar pairs of row indices from class labels.

    Half the pairs (rounded up) are similar (same class), half dissimilar; each
    kind is uniform without replacement among its distinct unordered pairs
    (fewer when there are fewer).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (any hashable values).
    n_pairs : int, default=1000
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        Row indices ``(i, j)`` with ``i < j``, in random order.
    y_pairs : ndarray of shape (n_pairs,), int64
        1 for a similar pair, -1 for a dissimilar one: ``fit(pairs, y_pairs)``
        of :class:`~skmetric.MahalanobisXingPairs` or
        :class:`~skmetric.deep.DeepSiamesePairs` with ``preprocessor=X``.

    Examples
    --------
    >>> from skmetric.constraints import pairs_from_labels
    >>> pairs, y_pairs = pairs_from_labels([0, 0, 1, 1, 1], 4, random_state=0)
    >>> sorted(y_pairs.tolist())
    [-1, -1, 1, 1]
    """
    n_pairs = _check_size(n_pairs, "n_pairs")
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2 (one of each kind); got "
                         f"{n_pairs}.")
    return _pairs(_label_relation(y), n_pairs, check_random_state(random_state),
                  "the labels")


def triplets_from_sequence(frames, n_triplets=1000, *, sequences=None,
                           positive_window=1, negative_window=2,
                           random_state=None):
    """Temporal triplets: a frame is nearer its neighbours than far-away frames.

    ``p`` is a frame of the sequence of ``a`` with ``0 < |frame_p - frame_a| <=
    positive_window``; ``n`` is a frame of the same sequence with ``|frame_n -
    frame_a| >= negative_window``, or any frame of another sequence.

    Parameters
    ----------
    frames : array-like of shape (n_samples,)
        Frame number of every row (non-negative integers, in any order; rows
        of one sequence must be distinct frames; gaps are allowed and count in
        frames, not rows).
    n_triplets : int, default=1000
        Number of triplets; fewer when there are fewer distinct triplets.
    sequences : array-like of shape (n_samples,), default=None
        Sequence (video) of every row; None: one sequence.
    positive_window : int, default=1
    negative_window : int, default=2
        Must exceed ``positive_window``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    triplets : ndarray of shape (n_triplets, 3), int64
        Row indices, uniform without replacement among all valid triplets, in
        random order.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.constraints import triplets_from_sequence
    >>> triplets = triplets_from_sequence(np.arange(10), 5, random_state=0)
    >>> d = np.abs(triplets - triplets[:, :1])
    >>> bool(np.all(d[:, 1] == 1) and np.all(d[:, 2] >= 2))
    True
    """
    n_triplets = _check_size(n_triplets, "n_triplets")
    relation = _sequence_relation(frames, sequences, positive_window,
                                  negative_window)
    return _triplets(relation, n_triplets, check_random_state(random_state),
                     "the frames give no triplet: no frame has a neighbour within "
                     "positive_window and a frame at least negative_window away.")


def pairs_from_sequence(frames, n_pairs=1000, *, sequences=None, positive_window=1,
                        negative_window=2, random_state=None):
    """Temporal pairs: near frames are similar, far frames dissimilar.

    Similar: two frames of one sequence at most ``positive_window`` apart;
    dissimilar: two frames of one sequence at least ``negative_window`` apart, or
    of two sequences. Half the pairs (rounded up) are similar; each kind is
    uniform without replacement among its distinct unordered pairs.

    Parameters
    ----------
    frames : array-like of shape (n_samples,)
        As in :func:`triplets_from_sequence`.
    n_pairs : int, default=1000
    sequences : array-like of shape (n_samples,), default=None
    positive_window : int, default=1
    negative_window : int, default=2
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        Row indices ``(i, j)`` with ``i < j``, in random order.
    y_pairs : ndarray of shape (n_pairs,), int64
        1 for a similar pair, -1 for a dissimilar one.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.constraints import pairs_from_sequence
    >>> pairs, y_pairs = pairs_from_sequence(np.arange(10), 6, random_state=0)
    >>> gap = np.abs(pairs[:, 0] - pairs[:, 1])
    >>> bool(np.all((gap == 1) == (y_pairs == 1)))
    True
    """
    n_pairs = _check_size(n_pairs, "n_pairs")
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2 (one of each kind); got "
                         f"{n_pairs}.")
    relation = _sequence_relation(frames, sequences, positive_window,
                                  negative_window)
    return _pairs(relation, n_pairs, check_random_state(random_state), "the frames")


def triplets_from_tracklets(tracklets, frames, n_triplets=1000, *,
                            random_state=None):
    """Triplets from tracklets: same tracklet nearer than a co-occurring one.

    ``p`` is another row of the tracklet of ``a``; ``n`` is a row of a tracklet
    seen in the same frame as the tracklet of ``a`` at least once (two tracklets
    alive at the same time are different objects for certain, whereas two
    tracklets that never meet may be the same object). A tracklet with one row
    gives no anchor but its row can be a negative.

    Parameters
    ----------
    tracklets : array-like of shape (n_samples,)
        Tracklet of every row (any hashable values).
    frames : array-like of shape (n_samples,)
        Frame of every row (non-negative integers, in any order; a tracklet has
        at most one row per frame).
    n_triplets : int, default=1000
        Number of triplets; fewer when there are fewer distinct triplets.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    triplets : ndarray of shape (n_triplets, 3), int64
        Row indices, uniform without replacement among all valid triplets, in
        random order.

    Raises
    ------
    ValueError
        When no two tracklets share a frame (no negative at all).

    Examples
    --------
    >>> from skmetric.constraints import triplets_from_tracklets
    >>> tracklets = [0, 0, 0, 1, 1, 2, 2]
    >>> frames = [0, 1, 2, 1, 2, 8, 9]  # tracklets 0 and 1 overlap; 2 meets none
    >>> triplets = triplets_from_tracklets(tracklets, frames, 100, random_state=0)
    >>> len(triplets)  # 6 (a, p) pairs x 2 negatives + 2 x 3
    18
    """
    n_triplets = _check_size(n_triplets, "n_triplets")
    relation, cooccur = _tracklet_relation(tracklets, frames)
    if not cooccur.any():
        raise ValueError(_no_cooccurrence_message("negative"))
    return _triplets(relation, n_triplets, check_random_state(random_state),
                     "the tracklets give no triplet: no tracklet of at least 2 "
                     "rows is seen together with another tracklet.")


def pairs_from_tracklets(tracklets, frames, n_pairs=1000, *, random_state=None):
    """Pairs from tracklets: same tracklet similar, co-occurring ones dissimilar.

    Similar: two rows of one tracklet; dissimilar: rows of two tracklets seen in
    the same frame at least once. Half the pairs (rounded up) are similar; each
    kind is uniform without replacement among its distinct unordered pairs.

    Parameters
    ----------
    tracklets : array-like of shape (n_samples,)
    frames : array-like of shape (n_samples,)
        As in :func:`triplets_from_tracklets`.
    n_pairs : int, default=1000
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
        Row indices ``(i, j)`` with ``i < j``, in random order.
    y_pairs : ndarray of shape (n_pairs,), int64
        1 for a similar pair, -1 for a dissimilar one.

    Raises
    ------
    ValueError
        When no two tracklets share a frame, or no tracklet has 2 rows.

    Examples
    --------
    >>> from skmetric.constraints import pairs_from_tracklets
    >>> pairs, y_pairs = pairs_from_tracklets([0, 0, 1, 1], [0, 1, 1, 2], 4,
    ...                                       random_state=0)
    >>> sorted(y_pairs.tolist())
    [-1, -1, 1, 1]
    """
    n_pairs = _check_size(n_pairs, "n_pairs")
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2 (one of each kind); got "
                         f"{n_pairs}.")
    relation, cooccur = _tracklet_relation(tracklets, frames)
    if not cooccur.any():
        raise ValueError(_no_cooccurrence_message("dissimilar pair"))
    return _pairs(relation, n_pairs, check_random_state(random_state),
                  "the tracklets")
