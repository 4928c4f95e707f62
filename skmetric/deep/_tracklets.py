"""DeepTripletTracklets: the triplet network learned from tracklets, mining its
negatives among the tracklets seen at the same time as the anchor's."""

import numpy as np

from .._constraints import cooccurring_tracklets
from .._kernels import MINER_NOT_EASY
from .._validation import StrOptions, check_frames, check_X_y_classes
from ._base import SHARED_DOCS, _TrainingData
from ._network import batch_sq_dists, batch_weights_grad
from ._triplet import MINERS, DeepTriplet, mined_triplet_loss_weights
from ._tuples import _parameter_blocks

# Options of DeepTriplet that have no meaning here: held-out tracklets would be
# scored by retrieving their own tracklet, which other tracklets of the same
# object make noisy; distance-weighted sampling is not restricted by a mask.
_DROPPED = {"early_stopping", "validation", "validation_fraction"}
TRACKLET_MINERS = {name: code for name, code in MINERS.items()
                   if name != "distance_weighted"}


def _training_docs():
    blocks = _parameter_blocks(SHARED_DOCS["training_parameters"])
    for name in _DROPPED:
        del blocks[name]
    blocks["batch_size"] = (
        "    batch_size : int, default=256\n"
        "        Rows per batch, made of groups of ``n_samples_per_class`` rows of\n"
        "        one tracklet; groups of tracklets alive at nearby times share a\n"
        "        batch (see Notes)."
    )
    blocks["n_samples_per_class"] = (
        "    n_samples_per_class : int, default=8\n"
        "        Rows of one tracklet drawn together into a batch. ``batch_size``\n"
        "        must be at least twice this."
    )
    blocks["tol"] = (
        "    tol : float, default=1e-4\n"
        "        Improvement of the training loss below which an epoch counts as no\n"
        "        progress."
    )
    blocks["random_state"] = (
        "    random_state : int, RandomState instance or None, default=None\n"
        "        Seeds the weights and the batches."
    )
    return "\n".join(blocks.values())


def tracklet_batches(members, mid_frames, batch_size, n_samples_per_class, rng):
    """One epoch of batches in which tracklets alive together meet.

    Every tracklet is shuffled and cut into groups of ``n_samples_per_class``
    rows (topped up with its other rows, as in PK sampling); the groups are
    ordered by the middle frame of their tracklet (ties at random) and cut into
    about ``n_rows / batch_size`` runs of consecutive groups, starting at a
    random offset that changes every epoch. Co-occurring tracklets overlap in
    time, so their groups mostly share a batch, where they are each other's
    negatives.

    Parameters
    ----------
    members : list of ndarray
        Rows of every tracklet (all non-empty).
    mid_frames : ndarray of shape (len(members),)
    batch_size, n_samples_per_class : int
    rng : numpy.random.RandomState

    Returns
    -------
    batches : list of ndarray of int64
    """
    groups, keys = [], []
    for rows, middle in zip(members, mid_frames):
        size = min(n_samples_per_class, rows.shape[0])
        rows = rng.permutation(rows)
        remainder = rows.shape[0] % size
        if remainder:
            extra = rng.choice(rows[: rows.shape[0] - remainder], size - remainder,
                               replace=False)
            rows = np.concatenate((rows, extra))
        n_groups = rows.shape[0] // size
        groups.extend(np.split(rows, n_groups))
        keys.extend([middle] * n_groups)
    keys = np.asarray(keys, dtype=np.float64)
    order = np.lexsort((rng.uniform(size=keys.shape[0]), keys))
    n_rows = sum(g.shape[0] for g in groups)
    n_batches = max(1, int(round(n_rows / batch_size)))
    shift = rng.randint(0, max(1, order.shape[0] // n_batches))
    order = np.roll(order, -shift)
    return [np.concatenate([groups[g] for g in part]).astype(np.int64)
            for part in np.array_split(order, n_batches) if part.shape[0]]


class DeepTripletTracklets(DeepTriplet):
    """Neural embedding learned from tracklets: same tracklet near, rows of
    tracklets seen at the same time far.

    The tracking form of :class:`DeepTriplet`. A tracklet is one object over a
    stretch of frames; two tracklets seen in the same frame are certainly
    different objects, while two that never meet may be the same one. Batches
    gather tracklets alive at nearby times; inside a batch, triplets ``(a, p,
    n)`` are mined with ``p`` another row of the anchor's tracklet and ``n`` a
    row of a tracklet seen in the same frame as the anchor's at least once,
    never merely another tracklet. ``fit(X, y, frames=frames)`` takes the
    tracklet of every row as ``y``. ``transform`` embeds plain rows (crops of
    objects, for example), whose distances then associate detections across
    frames. Inputs should be standardised.

    Parameters
    ----------
    n_components : int, default=64
        Dimension of the embedding (width of the output layer).
    margin : float, default=0.2
        Margin of the triplet loss; see :class:`DeepTriplet`.
    squared : bool, default=False
        Use squared distances in the loss and the miner instead of distances.
    miner : {'semihard', 'all', 'easy', 'hard', 'batch_hard'}, default='semihard'
        Which triplets of a batch enter the loss, as in :class:`DeepTriplet`,
        among those whose negative co-occurs with the anchor's tracklet.
    %(network_parameters)s
    %(training_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DeepTriplet : The same network learned from class labels.
    DeepTripletTriplets : The same network learned from explicit triplets, for
        example those of :func:`skmetric.constraints.triplets_from_tracklets`.
    skmetric.preprocessing.ColorHistogram : Colour histograms of crops, an
        input on which this learner does well in a Pipeline (see Notes).

    Notes
    -----
    The loss is that of :class:`DeepTriplet` on the mined triplets. With t(i)
    the tracklet of row i and F(u) the frames of tracklet u, a triplet is valid
    when ``t(a) = t(p)``, ``a != p`` and ``F(t(a))`` meets ``F(t(n))``. The
    co-occurrence of the tracklets is computed once per fit (O(n log n)); the
    miner reads it as a (b, b) mask of the batch. Training stops when the mean
    training loss has not improved by ``tol`` for ``n_iter_no_change`` epochs,
    or after ``max_iter`` epochs; nothing is held out. A tracklet of one row
    is never an anchor but serves as a negative. Batches are cut from the
    groups of rows ordered by their tracklet's middle frame, so that
    co-occurring tracklets share batches; a tracklet with no co-occurring one
    in its batch yields no triplet there.

    On colour crops of objects, Hellinger-mapped colour histograms of a few
    horizontal stripes (``make_pipeline(ColorHistogram((height, width, 3),
    n_bins=8, n_stripes=3, value_range=(0, 256)), DeepTripletTracklets())``,
    not standardised) gave a better association than the standardised pixels
    in ``benchmarks/bench_tracking.py`` (pedestrian crops), in less time.

    References
    ----------
    .. [1] F. Schroff, D. Kalenichenko and J. Philbin. "FaceNet: A unified
       embedding for face recognition and clustering". CVPR 2015.
    .. [2] N. Wojke, A. Bewley and D. Paulus. "Simple online and realtime
       tracking with a deep association metric". ICIP 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.deep import DeepTripletTracklets
    >>> rng = np.random.default_rng(0)
    >>> look = rng.normal(size=(12, 8))  # the appearance of 12 objects
    >>> tracklets = np.repeat(np.arange(12), 10)
    >>> frames = np.arange(120) % 10 + 10 * (tracklets // 3)  # 3 objects at once
    >>> X = look[tracklets] + rng.normal(scale=0.5, size=(120, 8))
    >>> model = DeepTripletTracklets(4, hidden_layer_sizes=(16,), batch_size=32,
    ...                              tol=1e-2, n_iter_no_change=3, random_state=0)
    >>> model.fit(X, tracklets, frames=frames).transform(X).shape
    (120, 4)
    """

    _parameter_constraints = {
        **{key: value for key, value in DeepTriplet._parameter_constraints.items()
           if key not in _DROPPED},
        "miner": [StrOptions(set(TRACKLET_MINERS))],
    }

    def __init__(
        self,
        n_components=64,
        *,
        margin=0.2,
        squared=False,
        miner="semihard",
        hidden_layer_sizes=(256,),
        activation="relu",
        normalize=True,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        alpha=1e-2,
        batch_size=256,
        n_samples_per_class=8,
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=10,
        skip="pca",
        warm_start=False,
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.margin = margin
        self.squared = squared
        self.miner = miner
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.normalize = normalize
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.alpha = alpha
        self.batch_size = batch_size
        self.n_samples_per_class = n_samples_per_class
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.skip = skip
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    # Read by the shared fit: nothing is held out.
    early_stopping = False

    def fit(self, X, y=None, frames=None):
        """Train the network on tracklets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (for example flattened crops), standardised.
        y : array-like of shape (n_samples,)
            Tracklet of every row (any hashable values).
        frames : array-like of shape (n_samples,)
            Frame of every row: non-negative integers, in any order; a tracklet
            has at most one row per frame. Required.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, frames, partial=False)

    def partial_fit(self, X, y=None, frames=None):
        """Train one more epoch on the tracklets given, from the current network.

        The first call initialises the network. No convergence warning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        frames : array-like of shape (n_samples,)
            As for :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, frames, partial=True)

    # ---- hooks of the shared fit -------------------------------------------------

    def _check_own_params(self):
        """No parameter pair to check (no distance-weighted miner)."""

    def _validate_training_data(self, X, y, frames, reset):
        # The shared fit hands its third argument through: here the frames.
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the tracklet of every "
                             "row as y.")
        if frames is None:
            raise ValueError(f"{type(self).__name__} needs the frame of every row: "
                             "fit(X, y, frames=frames).")
        X, labels, _ = check_X_y_classes(self, X, y, min_class_size=1, reset=reset)
        frames = check_frames(frames, n_samples=X.shape[0])
        order = np.lexsort((frames, labels))
        twice = ((labels[order][1:] == labels[order][:-1])
                 & (frames[order][1:] == frames[order][:-1]))
        if np.any(twice):
            at = order[1:][twice][0]
            raise ValueError(
                f"tracklet {np.asarray(y)[at]!r} is seen twice in frame "
                f"{frames[at]} (row {at}); a tracklet holds one row per frame.")
        n_tracklets = int(labels.max()) + 1
        self._cooccur = cooccurring_tracklets(labels, frames, n_tracklets)
        if not self._cooccur.any():
            raise ValueError(
                "no two tracklets are seen in the same frame, so there is no "
                "negative: negatives come only from tracklets seen at the same "
                "time (different objects for certain).")
        sizes = np.bincount(labels, minlength=n_tracklets)
        if not np.any((sizes >= 2) & self._cooccur.any(axis=1)):
            raise ValueError(
                "no tracklet of at least 2 rows is seen together with another "
                "tracklet, so there is no triplet to learn from.")
        first = np.full(n_tracklets, np.iinfo(np.int64).max)
        last = np.zeros(n_tracklets, dtype=np.int64)
        np.minimum.at(first, labels, frames)
        np.maximum.at(last, labels, frames)
        self._mid_frames = 0.5 * (first + last)
        return _TrainingData(X, labels=labels)

    def _split(self, data, rng, use):
        return data, None

    def _class_batches(self, members, rng):
        return tracklet_batches(members, self._mid_frames, self.batch_size,
                                self.n_samples_per_class, rng)

    def _labelled_loss(self, labels, rng):
        margin, squared = float(self.margin), bool(self.squared)
        allowed = np.ascontiguousarray(
            self._cooccur[labels][:, labels].astype(np.uint8))
        # 'all' mines the triplets that can be active (as DeepTriplet does).
        code = MINER_NOT_EASY if self.miner == "all" else TRACKLET_MINERS[self.miner]
        counts = np.bincount(labels)[labels]
        n_valid = int(np.sum((counts - 1) * allowed.sum(axis=1)))

        def embedding_loss(E):
            n_threads = getattr(self, "_n_threads", 1)  # set by fit
            D2 = batch_sq_dists(E, n_threads)
            # Mined and weighted anchor by anchor, the anchors shared out over
            # the threads (the same bits whatever their number).
            loss, n_active, n_selected, W = mined_triplet_loss_weights(
                D2, labels, margin, squared, code, n_threads, allowed)
            n_terms = n_valid if self.miner == "all" else n_selected
            return loss, batch_weights_grad(E, W, n_threads), n_active, n_terms

        return embedding_loss


DeepTripletTracklets.__doc__ = (
    DeepTripletTracklets.__doc__
    .replace("    %(network_parameters)s", SHARED_DOCS["network_parameters"])
    .replace("    %(training_parameters)s", _training_docs())
    .replace("    %(attributes)s", SHARED_DOCS["attributes"])
)
