"""DeepTriplet: a neural embedding trained with the triplet loss and online mining."""

import numpy as np

from .._kernels import (
    MINER_ALL,
    MINER_BATCH_HARD,
    MINER_EASY,
    MINER_HARD,
    MINER_NOT_EASY,
    MINER_SEMIHARD,
    distance_weighted_triplets,
    triplet_rows_loss_weights,
    pair_sq_dists,
    triplet_constraint_loss_grad,
    triplet_loss_weights,
)
from .._threads import map_on_threads
from .._validation import Interval, Real, StrOptions, check_triplets
from ._base import SHARED_PARAMETER_CONSTRAINTS, DeepEmbeddingBase, fill_docstring
from ._network import batch_sq_dists, batch_weights_grad

MINERS = {
    "all": MINER_ALL,
    "easy": MINER_EASY,
    "semihard": MINER_SEMIHARD,
    "hard": MINER_HARD,
    "batch_hard": MINER_BATCH_HARD,
    "distance_weighted": -1,
}
# Distances below this count as this in distance-weighted sampling (Wu et al.).
DISTANCE_WEIGHTED_MIN = 0.5


@fill_docstring
class DeepTriplet(DeepEmbeddingBase):
    """Neural embedding learned with the triplet loss and online mining.

    Learns a multi-layer perceptron f such that every anchor a is nearer, by a
    margin, to a positive p of its class than to a negative n of another class
    (FaceNet, Schroff et al. 2015). Triplets are mined inside each batch of
    class-balanced rows from the current embeddings. :class:`DeepTripletTriplets`
    learns from explicit triplets ("a is nearer p than n") instead, with no class
    labels at all (the tracking setting: frame t+1 is nearer frame t than frame
    t+2).
    Use it before ``KNeighborsClassifier`` in a Pipeline. Inputs should be
    standardised (for example with ``StandardScaler``); a warning says when the
    features are on wildly different scales.

    Parameters
    ----------
    n_components : int, default=64
        Dimension of the embedding (width of the output layer).
    margin : float, default=0.2
        Margin of the triplet loss, in units of distance (of squared distance if
        ``squared``). The default suits ``normalize=True``: on the unit sphere
        distances lie in [0, 2] and two random unit vectors in many dimensions are
        about sqrt(2) apart, so 0.2 asks for a gap of a tenth of the range, the
        value of FaceNet. Without the normalisation the network can shrink or
        grow the embedding at will, and the margin only sets the scale.
    squared : bool, default=False
        Use squared distances in the loss and the miners instead of distances.
    miner : {'semihard', 'all', 'easy', 'hard', 'batch_hard', \
'distance_weighted'}, default='semihard'
        Which triplets of a batch enter the loss. A triplet is valid when ``a !=
        p`` share a class and n is of another class; with ``delta`` the distance
        (or squared distance) in the current embedding:

        - 'all': every valid triplet;
        - 'easy': ``delta(a, n) > delta(a, p) + margin`` (zero loss: nothing to
          learn; for comparison only);
        - 'semihard': ``delta(a, p) < delta(a, n) <= delta(a, p) + margin``;
        - 'hard': ``delta(a, n) <= delta(a, p)``;
        - 'batch_hard': for every anchor, its farthest positive and its nearest
          negative in the batch (one triplet per anchor);
        - 'distance_weighted': for every pair (a, p), one negative drawn with
          probability proportional to ``min(lambda, 1 / q(d(a, n)))``, where
          ``q(d) ∝ d^(k-2) (1 - d^2/4)^((k-3)/2)`` is the density of distances
          between uniform points of the unit sphere in k = ``n_components``
          dimensions, ``lambda = 1 / q(0.5)`` (distances below 0.5 count as 0.5),
          and weight 0 where the loss is zero (``delta(a, n) >= delta(a, p) +
          margin``); computed in log space over the other-class entries only
          (Wu et al. 2017). Needs ``normalize=True``.

        The loss is averaged over the active triplets (those with a non-zero
        loss) of the batch.
    %(network_parameters)s
    %(training_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DeepSiamese : The same network trained with the contrastive loss on pairs.
    DeepTripletTriplets : The same network trained on explicit triplets.
    LMNN : A linear metric with a triplet-like hinge loss on target neighbours.

    Notes
    -----
    For the triplets T selected in a batch, with f the network,

    .. math::
        L = \\frac{1}{|T_+|} \\sum_{(a, p, n) \\in T}
            \\max\\left(0, \\delta(f(x_a), f(x_p)) - \\delta(f(x_a), f(x_n))
            + \\text{margin}\\right) + \\frac{\\alpha}{2} \\sum_l \\|W_l\\|_F^2

    with :math:`T_+` the triplets of non-zero loss. Mining and the loss run in
    numba on the batch's squared distance matrix (one BLAS product); the gradient
    in the embeddings is one more product, then back-propagated through the
    network with BLAS. Cost per batch of b rows: O(b^3) for mining (O(b^2) per
    anchor-positive pair for 'distance_weighted') plus the network's
    O(b sum_l n_l n_{l+1}). Batches hold groups of ``n_samples_per_class`` rows
    of one class ("PK" sampling), as mining needs positives and negatives in
    every batch. Too-hard mining ('hard', 'batch_hard' from a random start) can
    collapse the embedding onto one point; a warning says so.

    References
    ----------
    .. [1] F. Schroff, D. Kalenichenko and J. Philbin. "FaceNet: A unified
       embedding for face recognition and clustering". CVPR 2015.
    .. [2] A. Hermans, L. Beyer and B. Leibe. "In defense of the triplet loss for
       person re-identification". arXiv:1703.07737, 2017.
    .. [3] C.-Y. Wu, R. Manmatha, A. J. Smola and P. Krähenbühl. "Sampling matters
       in deep embedding learning". ICCV 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric.deep import DeepTriplet
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(
    ...     X, y, stratify=y, random_state=0)
    >>> model = make_pipeline(
    ...     StandardScaler(),
    ...     DeepTriplet(hidden_layer_sizes=(64,), random_state=0),
    ...     KNeighborsClassifier(n_neighbors=3))
    >>> print(round(model.fit(X_train, y_train).score(X_test, y_test), 2))
    0.97
    """

    _parameter_constraints = {
        **SHARED_PARAMETER_CONSTRAINTS,
        "margin": [Interval(Real, 0, None, closed="neither")],
        "squared": ["boolean"],
        "miner": [StrOptions(set(MINERS))],
    }
    _constraint_name = "triplets"

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
        early_stopping="auto",
        validation="auto",
        validation_fraction=0.1,
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
        self.early_stopping = early_stopping
        self.validation = validation
        self.validation_fraction = validation_fraction
        self.skip = skip
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Train the network from class labels.

        Triplets are mined inside each batch. To learn from explicit triplets,
        use :class:`DeepTripletTriplets`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples, standardised.
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least two samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, None, partial=False)

    def partial_fit(self, X, y=None):
        """Train one more epoch on the data given, starting from the current network.

        The first call initialises the network. No early stopping and no
        convergence warning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            As for :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, None, partial=True)

    def _check_own_params(self):
        if self.miner == "distance_weighted" and not self.normalize:
            raise ValueError(
                "miner='distance_weighted' samples by the distance distribution on "
                "the unit sphere and needs normalize=True."
            )

    def _check_constraints(self, constraints, n_samples):
        return check_triplets(constraints[0], n_samples), None

    def _labelled_loss(self, labels, rng):
        margin, squared = float(self.margin), bool(self.squared)
        uniforms = None
        if self.miner == "distance_weighted":
            uniforms = rng.random_sample((labels.shape[0], labels.shape[0]))
        # 'all' keeps every valid triplet, but easy ones have zero loss: mining the
        # others gives the same loss and gradient at a fraction of the cost.
        code = MINER_NOT_EASY if self.miner == "all" else MINERS[self.miner]
        counts = np.bincount(labels)[labels]
        n_valid = int(np.sum((counts - 1) * (labels.shape[0] - counts)))

        def embedding_loss(E):
            n_threads = getattr(self, "_n_threads", 1)  # set by fit
            D2 = batch_sq_dists(E, n_threads)
            if uniforms is not None:
                anchors, positives, negatives = distance_weighted_triplets(
                    D2, labels, margin, squared, E.shape[1], DISTANCE_WEIGHTED_MIN,
                    uniforms,
                )
                loss, n_active, W = triplet_loss_weights(
                    D2, anchors, positives, negatives, margin, squared
                )
                n_selected = anchors.shape[0]
            else:
                loss, n_active, n_selected, W = mined_triplet_loss_weights(
                    D2, labels, margin, squared, code,
                    n_threads,
                )
            n_terms = n_valid if self.miner == "all" else n_selected
            return loss, batch_weights_grad(E, W, n_threads), n_active, n_terms

        return embedding_loss

    def _constraint_loss(self, constraints, extra):
        margin, squared = float(self.margin), bool(self.squared)
        anchors = np.ascontiguousarray(constraints[:, 0])
        positives = np.ascontiguousarray(constraints[:, 1])
        negatives = np.ascontiguousarray(constraints[:, 2])

        def embedding_loss(E):
            # Triplet by triplet: O(m k), not the batch's (b, b) distances.
            loss, n_active, grad = triplet_constraint_loss_grad(
                E, anchors, positives, negatives, margin, squared
            )
            return loss, grad, n_active, anchors.shape[0]

        return embedding_loss

    def _constraint_score(self, embedding, constraints, extra):
        """Fraction of triplets with ``d(a, p) < d(a, n)``."""
        anchors = np.ascontiguousarray(constraints[:, 0])
        positive = pair_sq_dists(embedding, anchors,
                                 np.ascontiguousarray(constraints[:, 1]))
        negative = pair_sq_dists(embedding, anchors,
                                 np.ascontiguousarray(constraints[:, 2]))
        return float(np.mean(positive < negative))


# The mask of triplet_rows_loss_weights that allows every negative.
_EVERY_NEGATIVE = np.zeros((0, 0), dtype=np.uint8)


def mined_triplet_loss_weights(D2, labels, margin, squared, miner, n_threads,
                               allowed=None):
    """Mining and triplet loss of a labelled batch: ``(loss, n_active,
    n_selected, W)``, as ``mine_triplets`` then ``triplet_loss_weights``.

    ``allowed`` (b, b) uint8, if given, restricts the negatives of each anchor
    to the rows it marks (as ``mine_allowed_triplets``). The anchors are split
    into ``n_threads`` ranges run at once by :func:`triplet_rows_loss_weights`;
    every anchor's terms are its own and the sums are taken over all anchors in
    one order, so the result is the same bit for bit whatever ``n_threads``.
    """
    b = labels.shape[0]
    if allowed is None:
        allowed = _EVERY_NEGATIVE
    W = np.zeros((b, b))
    losses = np.zeros(b)
    counts = np.zeros((b, 2), dtype=np.int64)
    map_on_threads(
        lambda start, stop: triplet_rows_loss_weights(
            D2, labels, allowed, margin, squared, miner, start, stop, W, losses,
            counts),
        b, n_threads,
    )
    n_active, n_selected = (int(c) for c in counts.sum(axis=0))
    loss = float(losses.sum())
    if n_active > 0:
        loss /= n_active
        W /= n_active
    return loss, n_active, n_selected, W
