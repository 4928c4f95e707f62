"""DeepSiamese: a neural embedding trained with the contrastive loss on pairs."""

import numpy as np
from sklearn.metrics import roc_auc_score

from .._kernels import (
    contrastive_constraint_loss_grad,
    contrastive_rows_loss_weights,
    pair_sq_dists,
)
from .._threads import map_on_threads
from .._validation import Interval, Real, check_pair_labels
from ._base import SHARED_PARAMETER_CONSTRAINTS, DeepEmbeddingBase, fill_docstring
from ._network import batch_sq_dists, batch_weights_grad


@fill_docstring
class DeepSiamese(DeepEmbeddingBase):
    """Neural embedding learned with the contrastive loss on pairs (siamese network).

    Learns a multi-layer perceptron f that pulls the two points of a similar pair
    together and pushes those of a dissimilar pair at least a margin apart
    (Hadsell, Chopra & LeCun 2006). The pairs are formed inside each batch of
    class-balanced rows, every same-class pair and as many other-class pairs.
    :class:`DeepSiamesePairs` learns from explicit pairs instead, with no class
    labels. Use it before ``KNeighborsClassifier`` in a Pipeline. Inputs
    should be standardised (for example with ``StandardScaler``); a warning says
    when the features are on wildly different scales.

    Parameters
    ----------
    n_components : int, default=64
        Dimension of the embedding (width of the output layer).
    margin : float, default=1.0
        Distance beyond which a dissimilar pair no longer counts. The default
        suits ``normalize=True``: on the unit sphere distances lie in [0, 2] and
        two random unit vectors in many dimensions are about sqrt(2) apart, so a
        margin of 1 (an angle of 60 degrees) pushes apart the dissimilar pairs
        that are closer than typical, and lets the rest be.
    hard_negatives : bool, default=False
        For every row of a batch, keep its hardest dissimilar pairs (the nearest
        points of other classes) instead of a uniform random choice of them.
        Either way a row gets as many dissimilar pairs as it has similar ones.
    %(network_parameters)s
    %(training_parameters)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DeepTriplet : The same network trained with the triplet loss and mining.
    DeepSiamesePairs : The same network trained on explicit labelled pairs.

    Notes
    -----
    For the similar pairs S and the dissimilar pairs D of a batch, with
    :math:`d_{ij} = \\|f(x_i) - f(x_j)\\|` and :math:`D_+` the dissimilar pairs
    closer than the margin m,

    .. math::
        L = \\frac{1}{|S|} \\sum_{(i, j) \\in S} d_{ij}^2
            + \\frac{1}{|D_+|} \\sum_{(i, j) \\in D} \\max(0, m - d_{ij})^2
            + \\frac{\\alpha}{2} \\sum_l \\|W_l\\|_F^2,

    so both kinds weigh the same however many of them are active. Pair selection
    and the loss run in numba on the batch's squared distance matrix (one BLAS
    product); the gradient in the embeddings is one more product, then
    back-propagated through the network with BLAS. Cost per batch of b rows:
    O(b^2 log b) for the pairs plus the network's O(b sum_l n_l n_{l+1}).

    References
    ----------
    .. [1] R. Hadsell, S. Chopra and Y. LeCun. "Dimensionality reduction by
       learning an invariant mapping". CVPR 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric.deep import DeepSiamese
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(
    ...     X, y, stratify=y, random_state=0)
    >>> model = make_pipeline(
    ...     StandardScaler(),
    ...     DeepSiamese(hidden_layer_sizes=(64,), random_state=0),
    ...     KNeighborsClassifier(n_neighbors=3))
    >>> print(round(model.fit(X_train, y_train).score(X_test, y_test), 2))
    0.97
    """

    _parameter_constraints = {
        **SHARED_PARAMETER_CONSTRAINTS,
        "margin": [Interval(Real, 0, None, closed="neither")],
        "hard_negatives": ["boolean"],
    }
    _constraint_name = "pairs"

    def __init__(
        self,
        n_components=64,
        *,
        margin=1.0,
        hard_negatives=False,
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
        self.hard_negatives = hard_negatives
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

        Pairs are formed inside each batch. To learn from explicit pairs, use
        :class:`DeepSiamesePairs`.

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

    def _check_constraints(self, constraints, n_samples):
        pairs, labels = constraints
        similar = check_pair_labels(labels, pairs.shape[0])
        return pairs, similar.astype(np.int64)

    def _labelled_loss(self, labels, rng):
        margin = float(self.margin)
        b = labels.shape[0]
        scores = None if self.hard_negatives else rng.random_sample((b, b))

        def embedding_loss(E):
            n_threads = getattr(self, "_n_threads", 1)  # set by fit
            D2 = batch_sq_dists(E, n_threads)
            loss, n_active, n_pairs, W = mined_pair_loss_weights(
                D2, labels, D2 if scores is None else scores, margin, n_threads)
            grad = batch_weights_grad(E, W, n_threads)
            return loss, grad, n_active, n_pairs

        return embedding_loss

    def _constraint_loss(self, constraints, extra):
        margin = float(self.margin)
        left = np.ascontiguousarray(constraints[:, 0])
        right = np.ascontiguousarray(constraints[:, 1])

        def embedding_loss(E):
            # Pair by pair: O(m k), not the batch's (b, b) distances.
            loss, n_active, grad = contrastive_constraint_loss_grad(
                E, left, right, extra, margin)
            return loss, grad, n_active, left.shape[0]

        return embedding_loss

    def _constraint_score(self, embedding, constraints, extra):
        """ROC AUC of the negated distance as a score of similarity.

        The held-out pairs hold both kinds (``_split`` sees to it): with one kind
        only there is nothing to rank, and a constant score would stop training
        after ``n_iter_no_change`` epochs and keep the first network.
        """
        if extra.min() == extra.max():
            raise ValueError(
                "the held-out pairs are all of one kind, so early stopping has "
                "nothing to rank; hold out similar and dissimilar pairs."
            )
        dists = pair_sq_dists(embedding, np.ascontiguousarray(constraints[:, 0]),
                              np.ascontiguousarray(constraints[:, 1]))
        return float(roc_auc_score(extra, -dists))


def mined_pair_loss_weights(D2, labels, negative_scores, margin, n_threads):
    """Pairs and contrastive loss of a labelled batch: ``(loss, n_active,
    n_pairs, W)``, as ``contrastive_pairs`` then ``contrastive_loss_weights``
    (W bit for bit).

    The anchors are split into ``n_threads`` ranges run at once by
    :func:`contrastive_rows_loss_weights`; every anchor's terms are its own and
    the sums are taken over all anchors in one order, so the result is the same
    bit for bit whatever ``n_threads``.
    """
    b = labels.shape[0]
    W = np.zeros((b, b))
    losses = np.zeros((b, 2))
    counts = np.zeros((b, 3), dtype=np.int64)
    map_on_threads(
        lambda start, stop: contrastive_rows_loss_weights(
            D2, labels, negative_scores, margin, start, stop, W, losses, counts),
        b, n_threads,
    )
    n_pos, n_neg, n_pairs = (int(c) for c in counts.sum(axis=0))
    pos_scale = 1.0 / n_pos if n_pos > 0 else 0.0
    neg_scale = 1.0 / n_neg if n_neg > 0 else 0.0
    pos_loss, neg_loss = losses.sum(axis=0)
    same = labels[:, None] == labels[None, :]
    W = np.where(same, W * pos_scale, W * neg_scale)
    return (float(pos_loss * pos_scale + neg_loss * neg_scale), n_pos + n_neg,
            n_pairs, W)
