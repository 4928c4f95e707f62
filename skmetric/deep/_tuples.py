"""DeepSiamesePairs and DeepTripletTriplets: the deep embeddings learned from
pairs or triplets given as the samples (see ``skmetric/_tuples.py``).

Both train through the shared path of :class:`DeepEmbeddingBase` on the distinct
points of their tuples and index constraints into them; only the validation of
the training data differs from their labelled twins.
"""

import re

from .._tuples import PairLearnerMixin, TripletLearnerMixin
from .._xing_pairs import PREPROCESSOR_CONSTRAINT
from ._base import SHARED_DOCS, _TrainingData
from ._siamese import DeepSiamese
from ._triplet import DeepTriplet

# Parameters of the labelled twins that only class labels give a meaning to.
_LABEL_ONLY = {"n_samples_per_class", "hard_negatives", "miner", "validation"}


def _parameter_blocks(text):
    """Split numpydoc parameter prose into ``{name: block}``, in order."""
    blocks = re.split(r"\n(?=    \S)", text)
    return {block.split(" : ")[0].strip(): block for block in blocks}


def _tuple_training_docs(kind):
    blocks = _parameter_blocks(SHARED_DOCS["training_parameters"])
    del blocks["n_samples_per_class"], blocks["validation"]
    blocks["batch_size"] = (
        f"    batch_size : int, default=256\n        Number of {kind} per batch."
    )
    blocks["max_iter"] = (
        "    max_iter : int, default=100\n"
        f"        Maximum number of epochs (passes over the training {kind})."
    )
    blocks["early_stopping"] = (
        "    early_stopping : 'auto' or bool, default=False\n"
        f"        Hold out ``validation_fraction`` of the {kind}, score them before\n"
        "        training and after every epoch, stop when the score no longer\n"
        "        improves and keep the best network (see Notes). 'auto' does so\n"
        f"        unless too few {kind} can be held out (then training stops on the\n"
        "        training loss, whose slow steady decrease may outlast\n"
        "        ``max_iter``); True raises a ValueError then. False: the\n"
        "        training loss."
    )
    blocks["random_state"] = (
        "    random_state : int, RandomState instance or None, default=None\n"
        "        Seeds the weights, the batches and the validation split."
    )
    blocks["validation_fraction"] = (
        "    validation_fraction : float, default=0.1\n"
        f"        Fraction of the {kind} held out for early stopping."
    )
    return "\n".join(blocks.values())


def _fill_tuple_docstring(kind, attributes=""):
    def decorate(cls):
        doc = cls.__doc__
        doc = doc.replace("    %(network_parameters)s",
                          SHARED_DOCS["network_parameters"])
        doc = doc.replace("    %(training_parameters)s", _tuple_training_docs(kind))
        shared = SHARED_DOCS["attributes"].replace(
            "when X has string column names", "when the preprocessor has string\n"
            "        column names")
        doc = doc.replace("    %(attributes)s", shared + attributes)
        cls.__doc__ = doc
        return cls
    return decorate


def _tuple_constraints(cls):
    return {
        **{key: value for key, value in cls._parameter_constraints.items()
           if key not in _LABEL_ONLY},
        "preprocessor": PREPROCESSOR_CONSTRAINT,
    }


class _TupleTraining:
    """Training data from tuples: the distinct points and constraints into them."""

    def _validate_training_data(self, X, y, constraints, reset):
        points, tuples = self._check_tuples(X, reset=reset)
        indices, extra = self._check_constraints((tuples, y), points.shape[0])
        return _TrainingData(points, constraints=indices, extra=extra)


@_fill_tuple_docstring("pairs", """
    threshold_ : float
        ``predict`` calls a pair similar when ``decision_function >=
        threshold_``; set by ``fit`` for accuracy on the training pairs and by
        :meth:`calibrate_threshold`.""")
class DeepSiamesePairs(PairLearnerMixin, _TupleTraining, DeepSiamese):
    """Neural embedding learned with the contrastive loss from labelled pairs.

    The pair learner of :class:`DeepSiamese`: the same network, loss and
    training, but the samples are the pairs themselves, so that
    ``cross_val_score``, ``GridSearchCV`` and ``train_test_split`` split pairs.
    ``X`` holds pairs of points, ``(n_pairs, 2, n_features)``, or pairs of row
    indices, ``(n_pairs, 2)``, into the ``preprocessor``; ``y`` is 1 for a
    similar pair and -1 for a dissimilar one. ``transform`` embeds plain points.
    Points should be standardised (for example with ``StandardScaler``).

    Parameters
    ----------
    n_components : int, default=64
        Dimension of the embedding (width of the output layer).
    margin : float, default=1.0
        Distance beyond which a dissimilar pair no longer counts; see
        :class:`DeepSiamese`.
    %(network_parameters)s
    %(training_parameters)s
    preprocessor : array-like of shape (n_samples, n_features) or callable, \
default=None
        Points that pairs of row indices refer to, or a callable mapping a 1-D
        int64 array of row indices to the array of their points. None: ``X``
        must hold the points themselves.

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DeepSiamese : The same network learned from class labels.
    skmetric.MahalanobisXingPairs : A linear metric learned from pairs.

    Notes
    -----
    The loss of a batch of pairs is that of :class:`DeepSiamese`, on the given
    pairs. The points of the pairs are deduplicated before training. With
    ``early_stopping``, a fraction of the similar pairs and of the dissimilar
    pairs (at least one of each) is held out and scored after every epoch by the
    ROC AUC of the distance; each kind then needs at least two pairs.

    References
    ----------
    .. [1] R. Hadsell, S. Chopra and Y. LeCun. "Dimensionality reduction by
       learning an invariant mapping". CVPR 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric.deep import DeepSiamesePairs
    >>> X, y = load_digits(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> rng = np.random.default_rng(0)
    >>> pairs = rng.choice(len(X), size=(2000, 2))
    >>> same = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    >>> model = DeepSiamesePairs(16, hidden_layer_sizes=(64,), batch_size=64,
    ...                          n_iter_no_change=3, tol=1e-3,
    ...                          preprocessor=X, random_state=0)
    >>> print(round(cross_val_score(model, pairs, same, cv=3).mean(), 2))
    0.96
    >>> model.fit(pairs, same).transform(X).shape
    (1797, 16)
    """

    _parameter_constraints = _tuple_constraints(DeepSiamese)

    def __init__(
        self,
        n_components=64,
        *,
        margin=1.0,
        hidden_layer_sizes=(256,),
        activation="relu",
        normalize=True,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        alpha=1e-2,
        batch_size=256,
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        skip="pca",
        warm_start=False,
        preprocessor=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.margin = margin
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.normalize = normalize
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.skip = skip
        self.warm_start = warm_start
        self.preprocessor = preprocessor
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _embed_points(self, points):
        return self._embed(points)

    def fit(self, X, y=None):
        """Train the network on labelled pairs.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of row indices into the preprocessor.
        y : array-like of shape (n_pairs,)
            1 for a similar pair, -1 (or 0) for a dissimilar one; both kinds
            are needed.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_pairs(X, y, partial=False)

    def partial_fit(self, X, y=None):
        """Train one more epoch on the pairs given, from the current network.

        The first call initialises the network. No early stopping and no
        convergence warning; ``threshold_`` is recalibrated on these pairs.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y : array-like of shape (n_pairs,)
            As for :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit_pairs(X, y, partial=True)

    def _fit_pairs(self, X, y, partial):
        self._fit(X, y, (), partial=partial)
        points, pairs, similar = self._check_pairs_and_labels(X, y, reset=False)
        self._calibrate_on_training_pairs(points, pairs, similar)
        return self


@_fill_tuple_docstring("triplets")
class DeepTripletTriplets(TripletLearnerMixin, _TupleTraining, DeepTriplet):
    """Neural embedding learned with the triplet loss from given triplets.

    The triplet learner of :class:`DeepTriplet`: the same network, loss and
    training, but the samples are triplets ``(a, p, n)``, "a is nearer p than
    n", with no labels at all (the tracking setting: frame t+1 is nearer frame t
    than frame t+2), so that ``cross_val_score``, ``GridSearchCV`` and
    ``train_test_split`` split triplets. ``X`` holds triplets of points,
    ``(n_triplets, 3, n_features)``, or of row indices, ``(n_triplets, 3)``, into
    the ``preprocessor``. ``transform`` embeds plain points. Points should be
    standardised (for example with ``StandardScaler``).

    Parameters
    ----------
    n_components : int, default=64
        Dimension of the embedding (width of the output layer).
    margin : float, default=0.2
        Margin of the triplet loss; see :class:`DeepTriplet`.
    squared : bool, default=False
        Use squared distances in the loss instead of distances.
    %(network_parameters)s
    %(training_parameters)s
    preprocessor : array-like of shape (n_samples, n_features) or callable, \
default=None
        Points that triplets of row indices refer to, or a callable mapping a 1-D
        int64 array of row indices to the array of their points. None: ``X``
        must hold the points themselves.

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    DeepTriplet : The same network learned from class labels, with mining.
    DeepSiamesePairs : A network learned from labelled pairs.

    Notes
    -----
    Every given triplet enters the loss of :class:`DeepTriplet` (no mining).
    The points are deduplicated before training; a triplet whose anchor equals
    its positive or its negative, or whose positive equals its negative, is
    rejected. With ``early_stopping``, a fraction of the triplets is held out
    and scored after every epoch by the fraction ordered right.

    References
    ----------
    .. [1] F. Schroff, D. Kalenichenko and J. Philbin. "FaceNet: A unified
       embedding for face recognition and clustering". CVPR 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skmetric.deep import DeepTripletTriplets
    >>> rng = np.random.default_rng(0)
    >>> angle = 0.5 * np.arange(300)  # an object moving round a loop
    >>> X = np.column_stack((np.cos(angle), np.sin(angle),
    ...                      rng.normal(size=(300, 6))))
    >>> frames = np.arange(298)
    >>> triplets = np.column_stack((frames, frames + 1, frames + 2))
    >>> model = DeepTripletTriplets(4, hidden_layer_sizes=(32,), batch_size=32,
    ...                             learning_rate_init=0.01, n_iter_no_change=3,
    ...                             tol=1e-3, preprocessor=X, random_state=0)
    >>> print(round(cross_val_score(model, triplets, cv=3).mean(), 1))
    1.0
    """

    _parameter_constraints = _tuple_constraints(DeepTriplet)

    def __init__(
        self,
        n_components=64,
        *,
        margin=0.2,
        squared=False,
        hidden_layer_sizes=(256,),
        activation="relu",
        normalize=True,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        alpha=1e-2,
        batch_size=256,
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        skip="pca",
        warm_start=False,
        preprocessor=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.margin = margin
        self.squared = squared
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.normalize = normalize
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.skip = skip
        self.warm_start = warm_start
        self.preprocessor = preprocessor
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _embed_points(self, points):
        return self._embed(points)

    def _check_own_params(self):
        """No miner: the given triplets enter the loss as they are."""

    def _check_constraints(self, constraints, n_samples):
        # check_tuples has validated the triplets as the user gave them: rows of
        # the preprocessor by index, points by value. Equal rows merged into one
        # point may then share a triplet.
        return constraints[0], None

    def fit(self, X, y=None):
        """Train the network on triplets.

        Parameters
        ----------
        X : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets ``(a, p, n)`` of points, or of row indices into the
            preprocessor: a is nearer p than n.
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, None, (), partial=False)

    def partial_fit(self, X, y=None):
        """Train one more epoch on the triplets given, from the current network.

        The first call initialises the network. No early stopping and no
        convergence warning.

        Parameters
        ----------
        X : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
        y : None
            Ignored.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, None, (), partial=True)
