"""LSML and LSMLQuadruplets: metric learning from relative comparisons by
minimising squared residuals (Liu et al., ICDM 2012)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._init import prior_whitener
from ._lsml_solver import components_in_units, solve_lsml
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._tuples import QuadrupletLearnerMixin, sample_label_quadruplets
from ._validation import Interval, StrOptions, check_params, check_X_y_classes

_MAX_CONSTRAINTS = 10**6

_COMMON_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "prior": [StrOptions({"identity", "covariance"}), "array-like"],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "n_jobs": N_JOBS_CONSTRAINT,
}

_PARAMS = """\
    prior : {'identity', 'covariance'} or array-like of shape \
(n_features, n_features), default='identity'
        The metric M0 of the LogDet regulariser and the start of the
        optimisation: the identity, the inverse covariance of the points (the
        result is then invariant to invertible linear maps of the data; the
        covariance must be invertible), or a symmetric positive definite matrix.
    max_iter : int, default=1000
        Most L-BFGS iterations.
    tol : float, default=1e-5
        Convergence when every entry of the gradient in M, measured in the
        learned metric (``L dF/dM L^T``), is at most ``tol``."""

_NOTES = """
    Notes
    -----
    LSML minimises, over M positive definite,

    .. math::
        \\frac{1}{m} \\sum_{(a, b, c, d)} H\\big(d_M(x_a, x_b) - d_M(x_c, x_d)\\big)
        + D_{ld}(M, M_0),

    with :math:`d_M(x, y) = \\sqrt{(x - y)^T M (x - y)}`, :math:`H(r) = r^2` for
    r > 0 and 0 otherwise, and the LogDet divergence :math:`D_{ld}(M, M_0) =
    \\mathrm{tr}(M M_0^{-1}) - \\log\\det(M M_0^{-1}) - n`: every comparison
    weighs 1/m (metric-learn's default weights), the regulariser 1. The
    objective is continuously differentiable but not convex (a difference of
    distances). It is minimised over a square factor L (M = L^T L) by L-BFGS
    from M = M0, as the paper starts, on points mapped so that the prior is the
    identity. Convergence means a stationary point: every entry of
    :math:`L \\nabla_M F L^T` at most ``tol`` (dimensionless, the same in any
    coordinates), checked after L-BFGS stops; otherwise a
    ``ConvergenceWarning``. L-BFGS was chosen by measurement over the paper's
    gradient steps on the PSD cone: it reaches the stationarity test in tens of
    iterations where the projected steps take hundreds.

    Cost: O(m d + n d^2 + d^3) an iteration for m quadruplets over n distinct
    points with d features.

    References
    ----------
    .. [1] E. Y. Liu, Z. Guo, X. Zhang, V. Jojic and W. Wang. "Metric learning
       from relative comparisons by minimizing squared residual". ICDM 2012.
"""


def fit_lsml(estimator, points, quadruplets):
    """Shared fit of LSML and LSMLQuadruplets on validated row quadruplets."""
    # Every step (set-up decompositions, solver, final factorisation) under
    # the thread policy: LAPACK on tiny matrices with idle BLAS threads
    # waiting costs more than the work on a busy machine.
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        return _fit_lsml(estimator, points, quadruplets)


def _fit_lsml(estimator, points, quadruplets):
    n_features = points.shape[1]
    if estimator.n_components is not None and estimator.n_components > n_features:
        raise ValueError(
            f"n_components={estimator.n_components} must be at most the number of "
            f"features, {n_features}."
        )
    W = prior_whitener(estimator.prior, points,
                       estimator_name=type(estimator).__name__)
    Z = np.ascontiguousarray((points - points.mean(axis=0)) @ W.T)
    printer = VerbosePrinter(estimator, [("Iteration", "d"), ("Objective", ".6e"),
                                         ("Time(s)", ".2f")])
    printer.start(
        f"Fitting on {points.shape[0]} points, {n_features} features, "
        f"{quadruplets.shape[0]} quadruplets."
    )
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        L, objective, n_iter, converged, residual = solve_lsml(
            Z, quadruplets, max_iter=estimator.max_iter, tol=estimator.tol,
            printer=printer,
        )
    printer.summary(
        f"{'Converged' if converged else 'Stopped'} after {n_iter} iterations, "
        f"objective {objective:.6e}, stationarity {residual:.2e},"
    )
    estimator.components_ = components_in_units(L, W, estimator.n_components)
    estimator.n_iter_ = n_iter
    if not converged:
        warn_not_converged(estimator, estimator.max_iter,
                           f"Stationarity {residual:.2e} > tol={estimator.tol}.")
    return estimator


class LSML(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Least-squares metric learning from relative comparisons, with labels.

    LSML (Liu et al. 2012) learns a Mahalanobis metric from comparisons "a and
    b are nearer than c and d", penalising each violated one by the square of
    its violation, and stays close to a prior metric in LogDet divergence. Here
    the comparisons are sampled from class labels: (a, b) from one class,
    (c, d) from two. :class:`LSMLQuadruplets` learns from given quadruplets.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (leading eigen-directions of M); None keeps
        all ``n_features``.
{params}
    n_constraints : int, default=None
        Quadruplets sampled from the labels. None uses ``20 * n_classes ** 2``
        (as metric-learn), at least ``n_samples``, at most ``10**6``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of quadruplets.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration.
    n_jobs : int, default=None
        Threads of the fit (BLAS and skmetric's own loops); the fitted model
        agrees to rounding whatever the count.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    n_iter_ : int
        Number of L-BFGS iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    LSMLQuadruplets : The same metric learned from given quadruplets.
    ITML : LogDet-regularised metric learning from pairs.
{notes}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import LSML
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), LSML(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 2))
    0.95
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_constraints": [Interval(Integral, 1, _MAX_CONSTRAINTS, closed="both"),
                          None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=None, *, prior="identity", max_iter=1000,
                 tol=1e-5, n_constraints=None, random_state=None, verbose=0,
                 n_jobs=None):
        self.n_components = n_components
        self.prior = prior
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
        n_quadruplets = self.n_constraints or int(
            min(max(20 * n_classes**2, X.shape[0]), _MAX_CONSTRAINTS))
        quadruplets = sample_label_quadruplets(y_encoded, n_quadruplets, rng)
        return fit_lsml(self, X, quadruplets)


class LSMLQuadruplets(QuadrupletLearnerMixin, MahalanobisMixin, BaseEstimator):
    """Least-squares metric learning from relative comparisons (Liu et al. 2012).

    The quadruplet learner of :class:`LSML`: the same problem and solver, with
    the comparisons themselves as the samples. ``X`` holds quadruplets
    ``(a, b, c, d)``, "a and b are nearer than c and d", of points,
    ``(n_quadruplets, 4, n_features)``, or of row indices, ``(n_quadruplets,
    4)``, into the ``preprocessor`` array; there is no ``y``. ``transform``
    embeds plain points.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (leading eigen-directions of M); None keeps
        all ``n_features``.
{params}
    preprocessor : array-like of shape (n_samples, n_features) or callable, \
default=None
        Points that quadruplets of row indices refer to, or a callable mapping a
        1-D int64 array of row indices to the array of their points. None:
        ``X`` must hold the points themselves.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration.
    n_jobs : int, default=None
        Threads of the fit, as in :class:`LSML`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    n_iter_ : int
        Number of L-BFGS iterations run.
    n_features_in_ : int
        Number of features of the points.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when the preprocessor is a DataFrame with string
        column names.

    See Also
    --------
    LSML : The same metric learned from class labels.
{notes}
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import LSMLQuadruplets
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> rng = np.random.default_rng(0)
    >>> rows = rng.choice(len(X), size=(2000, 4))
    >>> keep = (y[rows[:, 0]] == y[rows[:, 1]]) & (y[rows[:, 2]] != y[rows[:, 3]])
    >>> quadruplets = rows[keep & (rows[:, 0] != rows[:, 1])]
    >>> model = LSMLQuadruplets(preprocessor=X)
    >>> print(round(cross_val_score(model, quadruplets, cv=5).mean(), 2))
    0.9
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "preprocessor": ["array-like", callable, None],
    }

    def __init__(self, n_components=None, *, prior="identity", max_iter=1000,
                 tol=1e-5, preprocessor=None, verbose=0, n_jobs=None):
        self.n_components = n_components
        self.prior = prior
        self.max_iter = max_iter
        self.tol = tol
        self.preprocessor = preprocessor
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _embed_points(self, points):
        return points @ self.components_.T

    def fit(self, X, y=None):
        """Learn the metric from quadruplets.

        Parameters
        ----------
        X : array-like of shape (n_quadruplets, 4, n_features) or \
(n_quadruplets, 4)
            Quadruplets ``(a, b, c, d)``: a and b are nearer than c and d.
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        points, quadruplets = self._check_tuples(X, reset=True)
        return fit_lsml(self, points, quadruplets)


LSML.__doc__ = LSML.__doc__.format(params=_PARAMS, notes=_NOTES)
LSMLQuadruplets.__doc__ = LSMLQuadruplets.__doc__.format(params=_PARAMS,
                                                         notes=_NOTES)
