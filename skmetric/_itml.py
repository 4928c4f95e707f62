"""ITML and ITMLPairs: information-theoretic metric learning (Davis et al. 2007)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._itml_solver import solve_itml
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._tuples import PairLearnerMixin, sample_label_pairs
from ._validation import Interval, StrOptions, check_params, check_X_y_classes

_MAX_CONSTRAINTS = 10**6

PRIOR_CONSTRAINT = [StrOptions({"identity", "covariance"}), "array-like"]
PREPROCESSOR_CONSTRAINT = ["array-like", callable, None]

_COMMON_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "gamma": [Interval(Real, 0, None, closed="neither")],
    "prior": PRIOR_CONSTRAINT,
    "bounds": ["array-like", None],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "n_jobs": N_JOBS_CONSTRAINT,
}

_NOTES = """
    Notes
    -----
    ITML solves, over a positive definite M and a slack per pair,

    .. math::
        \\min_{M, \\xi} D_{ld}(M, M_0) + \\gamma D_{ld}(\\mathrm{diag}\\,\\xi,
        \\mathrm{diag}\\,\\xi_0) \\quad \\text{s.t.} \\quad d_M(x_i, x_j) \\le
        \\xi_c \\ (\\text{similar}), \\quad d_M(x_i, x_j) \\ge \\xi_c \\
        (\\text{dissimilar}),

    with :math:`d_M(x, y) = (x - y)^T M (x - y)`, the LogDet divergence
    :math:`D_{ld}(A, B) = \\mathrm{tr}(A B^{-1}) - \\log\\det(A B^{-1}) - n`, and
    :math:`\\xi_0 = u` for similar pairs, :math:`l` for dissimilar ones. By
    default u and l are the 5th and 95th percentiles of the squared prior
    distances between the distinct points (over 1000 of them, evenly spread, when
    there are more). metric-learn compares non-squared Euclidean percentiles with
    squared distances; here both are squared, as in the paper's :math:`d_A`.

    It is solved by the paper's Bregman projections (Algorithm 1), each the
    exact projection onto its constraint with the slack,
    :math:`\\alpha = \\min(\\lambda_c, \\delta \\frac{\\gamma}{1 + \\gamma}
    (1/p - 1/\\xi_c))`, on points mapped so that the prior is the identity and
    scaled to unit magnitude (the solution does not depend on that scale).
    Each sweep visits the pairs in a fresh random order (from a fixed seed:
    fits are reproducible); in the order given, labelled pairs come as all
    similar then all dissimilar ones and the sweeps undo each other's work
    for thousands of sweeps, where reshuffled ones certify the same optimum in
    tens.
    Convergence is certified by the duality gap: the projections keep (M, xi)
    the minimiser of the Lagrangian at the dual variables lambda >= 0, so the
    Lagrangian there is a lower bound on the optimum, and M with the best
    feasible slacks for it gives an upper bound; the fit stops when the two are
    within ``tol`` (relative), otherwise it emits a ``ConvergenceWarning``. A
    pair of identical points is left out (no metric gives it a non-zero
    distance).

    Invariances: the learned distances do not depend on a translation, a
    rotation or a rescaling of the data; with ``prior='covariance'``, on any
    invertible linear map.

    Cost: O(m d^2) a sweep for m pairs and d features (numba), plus the
    O(min(n, 1000)^2 d) thresholds and an O(d^3) decomposition.

    References
    ----------
    .. [1] J. V. Davis, B. Kulis, P. Jain, S. Sra and I. S. Dhillon.
       "Information-theoretic metric learning". ICML 2007.
"""

_PARAMS = """\
    gamma : float, default=1.0
        Weight of the slack divergence: the larger, the more the constraints
        are enforced.
    prior : {'identity', 'covariance'} or array-like of shape \
(n_features, n_features), default='identity'
        The metric M0 the learned one stays close to: the identity, the inverse
        covariance of the points (which makes the result invariant to linear
        maps of the data; the covariance must be invertible), or a symmetric
        positive definite matrix.
    bounds : array-like of shape (2,), default=None
        Thresholds (u, l) of squared distances for similar and dissimilar
        pairs; None takes the 5th and 95th percentiles of the data's squared
        prior distances.
    max_iter : int, default=10000
        Most sweeps over the pairs (each sweep visits them in a fresh random
        order; tens of sweeps are common).
    tol : float, default=1e-3
        Convergence when the duality gap, checked every 10 sweeps, is at most
        ``tol`` times the objective (at least 1): the objective is then
        certified within that fraction of its minimum."""


def fit_itml(estimator, points, pairs, similar):
    """Shared fit of ITML and ITMLPairs on validated pairs of rows of points."""
    n_features = points.shape[1]
    if estimator.n_components is not None and estimator.n_components > n_features:
        raise ValueError(
            f"n_components={estimator.n_components} must be at most the number of "
            f"features, {n_features}."
        )
    bounds = estimator.bounds
    if bounds is not None:
        bounds = np.asarray(bounds, dtype=np.float64)
        if bounds.shape != (2,) or not np.all(np.isfinite(bounds)) or np.any(
                bounds <= 0.0):
            raise ValueError(
                f"bounds must be two positive numbers (u, l); got {estimator.bounds!r}."
            )
    printer = VerbosePrinter(estimator, [("Sweep", "d"), ("Largest step", ".2e"), ("Gap", ".2e"),
                                         ("Time(s)", ".2f")])
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        components, bounds_, n_iter, converged = solve_itml(
            points, pairs, similar, prior=estimator.prior, gamma=estimator.gamma,
            bounds=bounds, max_iter=estimator.max_iter, tol=estimator.tol,
            n_components=estimator.n_components, printer=printer,
            estimator_name=type(estimator).__name__,
        )
    estimator.components_ = components
    estimator.bounds_ = np.array(bounds_)
    estimator.n_iter_ = n_iter
    if not converged:
        warn_not_converged(estimator, estimator.max_iter)
    return estimator


class ITML(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Information-theoretic metric learning from class labels (Davis et al. 2007).

    Learns the Mahalanobis matrix M closest to a prior M0 in LogDet divergence
    such that similar pairs are nearer than a threshold u and dissimilar pairs
    farther than l, up to slacks. Pairs are sampled from the labels (within and
    across classes); :class:`ITMLPairs` learns the same metric from given pairs.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding: ``components_`` keeps the leading
        ``n_components`` eigen-directions of M. None keeps all ``n_features``.
{params}
    n_constraints : int, default=None
        Similar pairs sampled from the labels, and as many dissimilar ones.
        None uses ``20 * n_classes ** 2`` (as metric-learn), at least
        ``n_samples``, at most ``10**6``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        sweep.
    n_jobs : int, default=None
        Threads of the fit (BLAS and skmetric's own loops), as in
        :class:`MahalanobisXing`; the projections are sequential, so the fitted
        model does not depend on it.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    bounds_ : ndarray of shape (2,)
        The thresholds (u, l) used, squared distances in the units of X.
    n_iter_ : int
        Number of sweeps run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    ITMLPairs : The same metric learned from labelled pairs.
    MahalanobisXing : Xing's metric from the same kind of pairs.
{notes}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import ITML
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), ITML(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 2))
    0.97
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_constraints": [Interval(Integral, 1, _MAX_CONSTRAINTS, closed="both"),
                          None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=None, *, gamma=1.0, prior="identity",
                 bounds=None, max_iter=10000, tol=1e-3, n_constraints=None,
                 random_state=None, verbose=0, n_jobs=None):
        self.n_components = n_components
        self.gamma = gamma
        self.prior = prior
        self.bounds = bounds
        self.max_iter = max_iter
        self.tol = tol
        self.n_constraints = n_constraints
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y=None):
        """Learn the metric from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least two samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        X, y_encoded, _ = check_X_y_classes(self, X, y)
        rng = check_random_state(self.random_state)
        n_classes = int(y_encoded.max()) + 1
        n_pairs = self.n_constraints or default_n_constraints(X.shape[0], n_classes)
        similar_pairs, dissimilar_pairs = sample_label_pairs(y_encoded, n_pairs, rng)
        pairs = np.vstack((similar_pairs, dissimilar_pairs))
        similar = np.repeat([True, False], n_pairs)
        return fit_itml(self, X, pairs, similar)


def default_n_constraints(n_samples, n_classes):
    """``20 n_classes^2`` pairs of each kind (metric-learn's rule), at least
    ``n_samples`` so every sample takes part, at most ``10**6``."""
    return int(min(max(20 * n_classes**2, n_samples), _MAX_CONSTRAINTS))


class ITMLPairs(PairLearnerMixin, MahalanobisMixin, BaseEstimator):
    """Information-theoretic metric learning from labelled pairs (Davis et al.).

    The pair learner of :class:`ITML`: the same problem and solver, with the
    pairs themselves as the samples. ``X`` holds pairs of points,
    ``(n_pairs, 2, n_features)``, or pairs of row indices, ``(n_pairs, 2)``,
    into the ``preprocessor`` array; ``y`` is 1 for a similar pair and -1 for a
    dissimilar one. ``transform`` embeds plain points.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (leading eigen-directions of M); None keeps
        all ``n_features``.
{params}
    preprocessor : array-like of shape (n_samples, n_features) or callable, \
default=None
        Points that pairs of row indices refer to, or a callable mapping a 1-D
        int64 array of row indices to the array of their points. None: ``X``
        must hold the points themselves.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        sweep.
    n_jobs : int, default=None
        Threads of the fit, as in :class:`ITML`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    bounds_ : ndarray of shape (2,)
        The thresholds (u, l) used.
    threshold_ : float
        ``predict`` calls a pair similar when ``decision_function >=
        threshold_``; set by ``fit`` for accuracy on the training pairs and by
        :meth:`calibrate_threshold`.
    n_iter_ : int
        Number of sweeps run.
    n_features_in_ : int
        Number of features of the points.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when the preprocessor is a DataFrame with string
        column names.

    See Also
    --------
    ITML : The same metric learned from class labels.
{notes}
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import ITMLPairs
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> pairs = np.random.default_rng(0).choice(len(X), size=(400, 2))
    >>> same = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    >>> model = ITMLPairs(preprocessor=X)
    >>> print(round(cross_val_score(model, pairs, same, cv=5).mean(), 2))
    0.98
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "preprocessor": PREPROCESSOR_CONSTRAINT,
    }

    def __init__(self, n_components=None, *, gamma=1.0, prior="identity",
                 bounds=None, max_iter=10000, tol=1e-3, preprocessor=None,
                 verbose=0, n_jobs=None):
        self.n_components = n_components
        self.gamma = gamma
        self.prior = prior
        self.bounds = bounds
        self.max_iter = max_iter
        self.tol = tol
        self.preprocessor = preprocessor
        self.verbose = verbose
        self.n_jobs = n_jobs

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
        fit_itml(self, points, pairs, similar)
        self._calibrate_on_training_pairs(points, pairs, similar)
        return self


ITML.__doc__ = ITML.__doc__.format(params=_PARAMS, notes=_NOTES)
ITMLPairs.__doc__ = ITMLPairs.__doc__.format(params=_PARAMS, notes=_NOTES)
