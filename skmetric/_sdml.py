"""SDML and SDMLPairs: sparse determinant metric learning (Qi et al., ICML 2009)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._init import components_from_factor, components_from_metric, prior_whitener
from ._sdml_solver import (
    largest_balance,
    pair_scatter,
    solve_graphical_lasso,
    span_basis,
)
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._tuples import PairLearnerMixin, sample_label_pairs
from ._validation import Interval, StrOptions, check_params, check_X_y_classes

_MAX_CONSTRAINTS = 10**6
# balance_param='auto': this fraction of the largest eta keeping S positive
# definite. Measured (3-fold kNN accuracy, labels, 7 bundled sets): 0.9 is best
# or within 0.01 of the best of {0.5, 0.8, 0.9, 0.95, 0.99} on six of them;
# 0.5 loses 0.05 on iris and 0.12 on balance.
_AUTO_FRACTION = 0.9

_COMMON_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "balance_param": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
    "sparsity_param": [Interval(Real, 0, None, closed="left")],
    "prior": [StrOptions({"identity", "covariance"}), "array-like"],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "n_jobs": N_JOBS_CONSTRAINT,
}

_PARAMS = """\
    balance_param : 'auto' or float, default='auto'
        Weight eta of the pairs against the prior: ``S = M0^-1 + eta K``, with
        K the mean pair scatter (see Notes). 'auto' takes 0.9 times the largest
        eta for which S is positive definite with the given pairs (at most 1),
        so the problem always has a solution; 0.9 was chosen by measurement
        (kNN accuracy on seven bundled sets; 0.5 loses up to 0.12).
    sparsity_param : float, default=0.01
        Weight alpha of the L1 penalty on the off-diagonal entries of M.
    prior : {'covariance', 'identity'} or array-like of shape \
(n_features, n_features), default='covariance'
        The prior metric M0: the inverse covariance of the points (the paper's
        choice), the identity, or a symmetric positive definite matrix.
    max_iter : int, default=1000
        Most proximal gradient iterations.
    tol : float, default=1e-4
        Convergence when the duality gap of the graphical lasso (an upper bound
        on the distance of the objective to its minimum) is at most ``tol``."""

_NOTES = """
    Notes
    -----
    SDML solves the graphical lasso

    .. math::
        \\min_{M \\succ 0} \\mathrm{tr}(S M) - \\log\\det M
        + \\alpha \\sum_{i \\ne j} |M_{ij}|, \\qquad
        S = M_0^{-1} + \\eta K, \\quad
        K = \\frac{1}{m} \\sum_c y_c (x_i - x_j)(x_i - x_j)^T,

    with y = +1 for a similar pair and -1 for a dissimilar one. The paper's K
    is the sum over pairs; the mean used here is the same problem with
    :math:`\\eta` divided by the number of pairs, so that ``balance_param`` means
    the same whatever the number of pairs. With as many similar as dissimilar
    pairs drawn from labels and c classes of equal size, K is about
    :math:`-\\frac{c}{c - 1} \\Sigma_b` (:math:`\\Sigma_b` the between-class
    scatter), so with ``prior='covariance'`` S is about :math:`\\Sigma_w +
    (1 - \\eta \\frac{c}{c - 1}) \\Sigma_b`: positive definite only for
    :math:`\\eta < (c - 1) / c`, 1/2 for two classes. A fixed default
    (metric-learn's 0.5) therefore sits on the boundary for two classes and
    beyond it for pairs with more dissimilar than similar ones; the default
    'auto' takes 0.9 times the largest admissible eta instead.

    The problem has a unique solution when S is positive definite; skmetric
    requires it (a graphical lasso on an indefinite S may have no minimum:
    along a direction of negative curvature the objective decreases without
    bound). metric-learn's failures ("not positive definite", graphical-lasso
    errors) are these cases; here a ``ValueError`` states the largest
    ``balance_param`` that keeps S positive definite for the given pairs, and the
    other fixes. When the points do not span every direction (fewer points than
    features, constant or collinear features), ``prior='covariance'`` has no
    inverse; the problem is then solved in the span of the points (centred) and
    M gives zero length to the directions they do not take.

    Solver: scikit-learn's ``graphical_lasso`` (coordinate descent), which on
    a positive definite S does not fail, then, if its answer is not certified,
    proximal gradient steps with soft-thresholding of the off-diagonal entries
    (G-ISTA, Rolfs et al. 2012), Barzilai-Borwein step sizes and backtracking
    that keeps M positive definite. Convergence is certified by the duality
    gap (the dual point :math:`S + U`, U the off-diagonal part of
    :math:`M^{-1} - S` clipped to :math:`[-\\alpha, \\alpha]`), at most ``tol``;
    otherwise a ``ConvergenceWarning``. G-ISTA alone was measured first: on
    ill-conditioned S (condition number in the thousands) it stalls for
    thousands of iterations, where coordinate descent converges. Cost: O(m d^2)
    for K, then O(d^3) an iteration.

    References
    ----------
    .. [1] G.-J. Qi, J. Tang, Z.-J. Zha, T.-S. Chua and H.-J. Zhang. "An
       efficient sparse metric learning in high-dimensional space via
       l1-penalized log-determinant regularization". ICML 2009.
    .. [2] B. Rolfs, B. Rajaratnam, D. Guillot, I. Wong and A. Maleki.
       "Iterative thresholding algorithm for sparse inverse covariance
       estimation". NIPS 2012.
"""


def _prior_inverse(prior, Z, estimator_name):
    """``M0^-1`` in the coordinates of the centred, scaled points Z."""
    if isinstance(prior, str) and prior == "covariance":
        return Z.T @ Z / max(1, Z.shape[0] - 1)
    W = prior_whitener(prior, Z, estimator_name=estimator_name)
    inverse_root = np.linalg.inv(W)
    return inverse_root @ inverse_root.T


def fit_sdml(estimator, points, pairs, similar):
    """Shared fit of SDML and SDMLPairs on validated pairs of rows of points."""
    # Every step (set-up decompositions, solver, final factorisation) under
    # the thread policy: LAPACK on tiny matrices with idle BLAS threads
    # waiting costs more than the work on a busy machine.
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        return _fit_sdml(estimator, points, pairs, similar)


def _fit_sdml(estimator, points, pairs, similar):
    name = type(estimator).__name__
    n_features = points.shape[1]
    if estimator.n_components is not None and estimator.n_components > n_features:
        raise ValueError(
            f"n_components={estimator.n_components} must be at most the number of "
            f"features, {n_features}."
        )
    # Identical points are told by comparison: their mean may round away from
    # their value, which leaves rounding noise, not zeros, once centred.
    if not np.any(points != points[0]):
        raise ValueError(f"{name}: all points are identical; no metric can "
                         "separate them.")
    centred = points - points.mean(axis=0)
    scale = np.abs(centred).max()
    prior = estimator.prior
    if isinstance(prior, str) and prior == "identity":
        prior = np.eye(n_features)
    if not isinstance(prior, str):
        # M0 in the units of the scaled points centred / scale.
        prior = np.asarray(prior, dtype=np.float64) * scale**2
    basis = None
    if isinstance(prior, str) and prior == "covariance":
        basis = span_basis(centred / scale)
        if basis.shape[1] == n_features:
            basis = None
    Z = centred / scale if basis is None else (centred / scale) @ basis
    Z = np.ascontiguousarray(Z)
    # Scaled coordinates: S and alpha / scale^2 give M * scale^2 (see solver).
    prior_inverse = _prior_inverse(prior, Z, name)
    K = pair_scatter(Z, pairs, similar)
    limit = largest_balance(prior_inverse, K)
    if isinstance(estimator.balance_param, str):  # 'auto'
        eta = min(_AUTO_FRACTION * limit, 1.0)
    else:
        eta = float(estimator.balance_param)
    S = prior_inverse + eta * K
    S = (S + S.T) * 0.5
    if eta >= limit:
        raise ValueError(
            f"{name}: balance_param={eta!r} makes S = M0^-1 + balance_param * K "
            "indefinite (the dissimilar pairs outweigh the prior along some "
            "direction), so the graphical lasso has no minimum. With these pairs "
            f"S is positive definite for balance_param < {limit:.4g}; use a "
            "smaller balance_param, prior='covariance', or more similar pairs."
        )
    alpha = float(estimator.sparsity_param) / scale**2
    printer = VerbosePrinter(estimator, [("Iteration", "d"), ("Objective", ".6e"),
                                         ("Gap", ".2e"), ("Time(s)", ".2f")])
    printer.start(
        f"Fitting on {points.shape[0]} points, {n_features} features"
        f"{'' if basis is None else f' (span of dimension {basis.shape[1]})'}, "
        f"{int(similar.sum())} similar and {int((~similar).sum())} dissimilar "
        "pairs."
    )
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        theta, n_iter, converged, gap = solve_graphical_lasso(
            S, alpha, max_iter=estimator.max_iter, tol=estimator.tol,
            printer=printer,
        )
    printer.summary(
        f"{'Converged' if converged else 'Stopped'} after {n_iter} iterations, "
        f"duality gap {gap:.2e},"
    )
    factor = components_from_metric(theta)
    if basis is not None:
        factor = factor @ basis.T
    magnitude = np.abs(factor).max()
    components = components_from_factor(factor / magnitude,
                                        estimator.n_components) * (magnitude / scale)
    estimator.components_ = np.ascontiguousarray(components)
    estimator.balance_ = eta
    estimator.n_iter_ = n_iter
    if not converged:
        warn_not_converged(estimator, estimator.max_iter,
                           f"Duality gap {gap:.2e} > tol={estimator.tol}.")
    return estimator


class SDML(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Sparse determinant metric learning from class labels (Qi et al. 2009).

    Learns a sparse Mahalanobis matrix M close to a prior in LogDet divergence
    that shrinks similar pairs and stretches dissimilar ones: a graphical lasso
    on the prior's covariance corrected by the pair scatter. Pairs are sampled
    from the labels; :class:`SDMLPairs` learns from given pairs.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (leading eigen-directions of M); None keeps
        all ``n_features``.
{params}
    n_constraints : int, default=None
        Similar pairs sampled from the labels, and as many dissimilar ones.
        None uses ``20 * n_classes ** 2`` (as metric-learn), at least
        ``n_samples``, at most ``10**6``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration.
    n_jobs : int, default=None
        Threads of the fit (BLAS); the fitted model agrees to rounding whatever
        the count.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    balance_ : float
        The balance_param used.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    SDMLPairs : The same metric learned from labelled pairs.
    ITML : LogDet-regularised metric learning without sparsity.
{notes}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import SDML
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), SDML(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 2))
    0.96
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "n_constraints": [Interval(Integral, 1, _MAX_CONSTRAINTS, closed="both"),
                          None],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=None, *, balance_param="auto",
                 sparsity_param=0.01, prior="covariance", max_iter=1000, tol=1e-4,
                 n_constraints=None, random_state=None, verbose=0, n_jobs=None):
        self.n_components = n_components
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
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
        n_pairs = self.n_constraints or int(
            min(max(20 * n_classes**2, X.shape[0]), _MAX_CONSTRAINTS))
        similar_pairs, dissimilar_pairs = sample_label_pairs(y_encoded, n_pairs, rng)
        pairs = np.vstack((similar_pairs, dissimilar_pairs))
        similar = np.repeat([True, False], n_pairs)
        return fit_sdml(self, X, pairs, similar)


class SDMLPairs(PairLearnerMixin, MahalanobisMixin, BaseEstimator):
    """Sparse determinant metric learning from labelled pairs (Qi et al. 2009).

    The pair learner of :class:`SDML`: the same problem and solver, with the
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
        iteration.
    n_jobs : int, default=None
        Threads of the fit, as in :class:`SDML`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    threshold_ : float
        ``predict`` calls a pair similar when ``decision_function >=
        threshold_``; set by ``fit`` for accuracy on the training pairs and by
        :meth:`calibrate_threshold`.
    balance_ : float
        The balance_param used.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features of the points.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when the preprocessor is a DataFrame with string
        column names.

    See Also
    --------
    SDML : The same metric learned from class labels.
{notes}
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import SDMLPairs
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> pairs = np.random.default_rng(0).choice(len(X), size=(400, 2))
    >>> same = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    >>> model = SDMLPairs(preprocessor=X)
    >>> print(round(cross_val_score(model, pairs, same, cv=5).mean(), 2))
    0.9
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "preprocessor": ["array-like", callable, None],
    }

    def __init__(self, n_components=None, *, balance_param="auto",
                 sparsity_param=0.01, prior="covariance", max_iter=1000, tol=1e-4,
                 preprocessor=None, verbose=0, n_jobs=None):
        self.n_components = n_components
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
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
        fit_sdml(self, points, pairs, similar)
        self._calibrate_on_training_pairs(points, pairs, similar)
        return self


SDML.__doc__ = SDML.__doc__.format(params=_PARAMS, notes=_NOTES)
SDMLPairs.__doc__ = SDMLPairs.__doc__.format(params=_PARAMS, notes=_NOTES)
