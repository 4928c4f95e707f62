"""MahalanobisXingPairs: Xing's metric learned from labelled pairs as samples."""

from sklearn.base import BaseEstimator

from ._base import MahalanobisMixin
from ._tuples import PairLearnerMixin
from ._validation import check_params
from ._xing import MahalanobisXing, fit_xing

PREPROCESSOR_CONSTRAINT = ["array-like", callable, None]


class MahalanobisXingPairs(PairLearnerMixin, MahalanobisMixin, BaseEstimator):
    """Mahalanobis metric learned from similar and dissimilar pairs (Xing et al.).

    The pair learner of :class:`MahalanobisXing`: the same problem and the same
    solver, but the samples are the pairs themselves, so that
    ``cross_val_score``, ``GridSearchCV`` and ``train_test_split`` split pairs
    and every fold learns from its own pairs only. ``X`` holds pairs of points,
    ``(n_pairs, 2, n_features)``, or pairs of row indices, ``(n_pairs, 2)``, into
    the ``preprocessor`` array; ``y`` is 1 for a similar pair and -1 for a
    dissimilar one. Once fitted, ``transform`` embeds plain points, so the metric
    feeds ``KNeighborsClassifier`` or ``KMeans``.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding: ``components_`` keeps the leading
        ``n_components`` eigen-directions of M. None keeps all ``n_features``.
    diagonal : bool, default=False
        Learn a diagonal M (a weight per feature) instead of a full M.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    tol : float, default=1e-5
        Convergence tolerance, relative to the objective, as in
        :class:`MahalanobisXing`.
    preprocessor : array-like of shape (n_samples, n_features) or callable, \
default=None
        Points that pairs of row indices refer to, or a callable mapping a 1-D
        int64 array of row indices to the array of their points. None: ``X``
        must hold the points themselves.
    n_jobs : int, default=None
        Threads of the fit, as in :class:`MahalanobisXing`. The fitted model
        agrees to rounding across values of ``n_jobs``, not bit for bit: BLAS
        sums in another order with another number of threads (differences near
        1e-10 have been seen).
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    threshold_ : float
        ``predict`` calls a pair similar when ``decision_function >=
        threshold_``; set by ``fit`` for accuracy on the training pairs and by
        :meth:`calibrate_threshold`.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features of the points.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when the preprocessor is a DataFrame with string
        column names.

    See Also
    --------
    MahalanobisXing : The same metric learned from class labels.
    skmetric.deep.DeepSiamesePairs : A neural embedding learned from pairs.

    Notes
    -----
    Solves, over M PSD (or diagonal non-negative), the problem of
    :class:`MahalanobisXing` with the similar pairs S and dissimilar pairs D of
    ``X``: maximise :math:`\\sum_D \\|x_i - x_j\\|_M` subject to
    :math:`\\sum_S \\|x_i - x_j\\|_M^2 \\le 1`. The points of the pairs are
    deduplicated first, so each enters the solver once. ``score`` is the ROC AUC
    of ``decision_function`` (minus the learned distance) on labelled pairs.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan and S. Russell. "Distance metric
       learning, with application to clustering with side-information". NIPS 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import MahalanobisXingPairs
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> rng = np.random.default_rng(0)
    >>> pairs = rng.choice(len(X), size=(400, 2))
    >>> same = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    >>> model = MahalanobisXingPairs(preprocessor=X)
    >>> print(round(cross_val_score(model, pairs, same, cv=5).mean(), 2))
    0.98
    >>> model.fit(pairs, same).transform(X).shape
    (150, 4)
    """

    _parameter_constraints = {
        **{key: value for key, value in MahalanobisXing._parameter_constraints.items()
           if key not in ("n_constraints", "random_state")},
        "preprocessor": PREPROCESSOR_CONSTRAINT,
    }

    def __init__(
        self,
        n_components=None,
        *,
        diagonal=False,
        max_iter=1000,
        tol=1e-5,
        preprocessor=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.diagonal = diagonal
        self.max_iter = max_iter
        self.tol = tol
        self.preprocessor = preprocessor
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _embed_points(self, points):
        return points @ self.components_.T

    def fit(self, X, y=None):
        """Learn the metric from labelled pairs.

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
        check_params(self)
        points, pairs, similar = self._check_pairs_and_labels(X, y)
        fit_xing(self, points, pairs[similar], pairs[~similar])
        self._calibrate_on_training_pairs(points, pairs, similar)
        return self
