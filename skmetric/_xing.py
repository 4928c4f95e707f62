"""MahalanobisXing: Xing, Ng, Jordan & Russell (NIPS 2002)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._kernels import pair_sq_dists
from ._threads import N_JOBS_CONSTRAINT, thread_limits
from ._tuples import sample_label_pairs  # noqa: F401  (also imported from here)
from ._validation import (
    Interval,
    check_params,
    check_X_y_classes,
)
from ._xing_solver import (
    _pair_columns,
    components_from_factor,
    components_from_weights,
    solve_diagonal,
    solve_full,
)

# Upper bound on the number of pairs of each kind: fit memory grows by about 220
# bytes a pair (24 * n_features more for the diagonal form), so that a huge
# n_constraints, or the default with thousands of classes, cannot exhaust memory.
_MAX_CONSTRAINTS = 10**6


class MahalanobisXing(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Mahalanobis metric learning with side information (Xing et al. 2002).

    Learns a positive semi-definite matrix M that spreads dissimilar pairs as far
    apart as possible while similar pairs stay close: it maximises the sum of the
    (non-squared) M-distances of dissimilar pairs subject to the sum of the squared
    M-distances of similar pairs being at most one. The pairs are sampled from
    class labels, within and across classes. When only side information is known
    ("these two are alike / unlike", the clustering setting),
    :class:`MahalanobisXingPairs` learns the same metric from the pairs
    themselves.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding: ``components_`` keeps the leading
        ``n_components`` eigen-directions of M. None keeps all ``n_features``.
    diagonal : bool, default=False
        Learn a diagonal M (a weight per feature) instead of a full M.
    n_constraints : int, default=None
        With class labels: the number of similar pairs sampled, and also the
        number of dissimilar pairs. None uses ``max(20 * n_classes ** 2,
        2 * n_features, 2 * n_samples)``, at most ``10**6``: it grows with the
        problem so that the similar pairs span the within-class spread of the
        data and the default fit is well posed. At most ``10**6``, since fit
        memory grows with it (about 220 bytes a pair, plus ``24 * n_features``
        with ``diagonal=True``).
    max_iter : int, default=1000
        Maximum number of L-BFGS (full) or Newton (diagonal) iterations.
    tol : float, default=1e-5
        Convergence tolerance of a first-order optimality certificate, relative
        in both forms. Full M: the duality gap (an upper bound on how far the
        objective is from its maximum) at most ``tol`` times the objective.
        Diagonal M: every entry of the projected gradient (the KKT residual of
        ``w >= 0``) at most ``tol`` in units of the gradient of the similar-pair
        term, that is with each weight measured against its feature's
        similar-pair spread. Otherwise a ``ConvergenceWarning`` is emitted.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs from class labels.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration (objective, largest gradient entry or KKT residual, elapsed
        seconds).
    n_jobs : int, default=None
        Threads of the fit (BLAS and skmetric's own parallel loops together).
        None uses every core the surroundings allow: the cores of the machine,
        capped by any limit already in place (a ``threadpoolctl`` limit, the
        one-thread limit of a joblib worker inside ``GridSearchCV(n_jobs=k)``,
        ``OMP_NUM_THREADS``, ``numba.set_num_threads``). -1 means every core,
        -2 all but one, and so on; a positive value is capped the same way.
        The fitted model agrees to rounding (BLAS sums in another order with
        another number of threads).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M`` (leading eigen-directions of M).
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    LMNN : Large margin nearest neighbour metric learning.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : NCA.

    Notes
    -----
    With similar pairs S and dissimilar pairs D, full M solves

    .. math::
        \\max_{M \\succeq 0} \\sum_{(i,j) \\in D} \\|x_i - x_j\\|_M
        \\quad \\text{s.t.} \\quad \\sum_{(i,j) \\in S} \\|x_i - x_j\\|_M^2 \\le 1.

    The problem does not change under an invertible linear map of the data
    (M absorbs it), so the solution does not depend on the units or the scaling
    of the features. It is solved in whitened coordinates, where the
    similar-pair scatter is the identity, through the equivalent form
    :math:`\\min \\|L\\|_F^2 - \\log \\sum_D \\|L (x_i - x_j)\\|`, convex in
    M = L^T L, minimised over a square factor L by L-BFGS; convergence is claimed when the duality gap
    ``lambda_max(G) - <G, M>`` (G the gradient of the objective) certifies the
    objective within ``tol`` of its maximum.

    When the similar pairs do not vary along some direction of the data (fewer
    similar pairs than features, or fewer samples than features), the problem
    is unbounded along it: no finite M is optimal, and a small ridge would set
    the answer. Both forms then learn M in the span of the similar-pair
    differences, measured in the data's own coordinates (the rows the pairs use,
    whitened): a difference orthogonal to that span, in the data's inner
    product, has length zero; a feature on which every similar pair agrees gets
    weight zero in the diagonal form. When n_samples < n_features, all the work
    happens in that span, of dimension below n_samples, so wide data cost about
    as much as square data.

    The diagonal form minimises the equivalent convex problem
    :math:`\\sum_S \\|\\cdot\\|_w^2 - \\log \\sum_D \\|\\cdot\\|_w` over ``w >= 0``,
    invariant to a rescaling of each feature, by projected Newton steps with
    Levenberg-Marquardt damping (the Hessian is singular when there are fewer
    dissimilar pairs than features) and an Armijo search along the projection
    arc; beyond 300 features the Newton system is solved by conjugate gradients.

    Cost: O(n_p d min(n_p, d)) once, for n_p distinct rows in the pairs and d
    features, then per iteration O(m k r + n_p k r) for m pairs, the span's
    dimension k and the rank r of M (full), or O(m d + d^3) (diagonal; O(m d)
    per conjugate-gradient step beyond 300 features).

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan and S. Russell. "Distance metric
       learning, with application to clustering with side-information". NIPS 2002.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import MahalanobisXing
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), MahalanobisXing(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 3))
    0.973
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "diagonal": ["boolean"],
        "n_constraints": [Interval(Integral, 1, _MAX_CONSTRAINTS, closed="both"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(
        self,
        n_components=None,
        *,
        diagonal=False,
        n_constraints=None,
        max_iter=1000,
        tol=1e-5,
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.diagonal = diagonal
        self.n_constraints = n_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y=None):
        """Learn the metric from class labels.

        Similar pairs are sampled within classes and dissimilar pairs across
        them. To learn from explicit pairs, use :class:`MahalanobisXingPairs`.

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
        rng = check_random_state(self.random_state)
        X, y_encoded, _ = check_X_y_classes(self, X, y)
        n_classes = int(y_encoded.max()) + 1
        n_pairs = self.n_constraints or default_n_constraints(*X.shape, n_classes)
        similar_pairs, dissimilar_pairs = sample_label_pairs(y_encoded, n_pairs, rng)
        return fit_xing(self, X, similar_pairs, dissimilar_pairs)


def fit_xing(estimator, X, similar_pairs, dissimilar_pairs):
    """Fit ``estimator`` (with Xing's parameters) on pairs of rows of checked X.

    Shared by :class:`MahalanobisXing` and :class:`MahalanobisXingPairs`: checks
    ``n_components``, solves under the thread policy, sets ``components_`` and
    ``n_iter_`` and warns when the solver did not converge. Returns the
    estimator.
    """
    n_features = X.shape[1]
    if estimator.n_components is not None and estimator.n_components > n_features:
        raise ValueError(
            f"n_components={estimator.n_components} must be at most the number of "
            f"features, {n_features}."
        )
    printer = VerbosePrinter(
        estimator, [("Iteration", "d"), ("Objective", ".6e"), ("Residual", ".2e"),
                    ("Time(s)", ".2f")]
    )
    with thread_limits(estimator.n_jobs):
        components, _, n_iter, converged = solve_xing(
            X, similar_pairs, dissimilar_pairs, diagonal=estimator.diagonal,
            n_components=estimator.n_components, max_iter=estimator.max_iter,
            tol=estimator.tol, printer=printer,
        )
    estimator.components_ = components
    estimator.n_iter_ = n_iter
    if not converged:
        warn_not_converged(estimator, estimator.max_iter)
    return estimator


def default_n_constraints(n_samples, n_features, n_classes):
    """Pairs of each kind sampled from labels when ``n_constraints=None``.

    ``max(20 n_classes^2, 2 n_features, 2 n_samples)``, at most ``10**6``: enough
    similar pairs for their scatter to reach the rank of the within-class spread
    (at most ``min(n_features, n_samples - n_classes)``), and every sample in a few
    pairs of each kind on average.
    """
    wanted = max(20 * n_classes**2, 2 * n_features, 2 * n_samples)
    return min(wanted, _MAX_CONSTRAINTS)


def solve_xing(X, similar_pairs, dissimilar_pairs, *, diagonal, n_components,
               max_iter, tol, printer):
    """Solve Xing's problem on explicit pairs of rows of X.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64 C-contiguous
    similar_pairs, dissimilar_pairs : ndarray of shape (m, 2), int64 C-contiguous
        Row indices into X, already validated.
    diagonal : bool
        Learn a diagonal M instead of a full one.
    n_components : int or None
        Rows of the returned components (leading directions of M); None keeps
        ``n_features``.
    max_iter : int
    tol : float
        Relative tolerance of the optimality certificate (see MahalanobisXing).
    printer : VerbosePrinter
        Prints the start line, one line per iteration and the summary.

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
        L with ``M = L^T L``, for X as given.
    objective : float
        Full M: ``sum_D |.|_M`` with ``sum_S |.|_M^2 = 1`` (higher is better).
        Diagonal M: the minimum of ``sum_S |.|_w^2 - log sum_D |.|_w``.
        Both are invariant to the scale of X.
    n_iter : int
    converged : bool
        Whether the first-order optimality certificate holds within ``tol``.
    """
    n_samples, n_features = X.shape
    X_used, similar_pairs, dissimilar_pairs, scale = _rescaled_rows(
        X, similar_pairs, dissimilar_pairs
    )
    _check_pairs_informative(X_used, similar_pairs, dissimilar_pairs)
    printer.start(
        f"Fitting a {'diagonal' if diagonal else 'full'} metric on "
        f"{n_samples} samples, {n_features} features, "
        f"{len(similar_pairs)} similar and {len(dissimilar_pairs)} dissimilar pairs."
    )
    solver = solve_diagonal if diagonal else solve_full
    solution, objective, n_iter, converged = solver(
        X_used, similar_pairs, dissimilar_pairs, max_iter=max_iter, tol=tol,
        printer=printer,
    )
    if diagonal:
        components = components_from_weights(solution, n_components)
    else:
        components = components_from_factor(solution, n_components)
    printer.summary(
        f"{'Converged' if converged else 'Stopped'} after {n_iter} iterations, "
        f"objective {objective:.6e},"
    )
    return components / scale, objective, n_iter, converged


def _rescaled_rows(X, similar_pairs, dissimilar_pairs):
    """Keep only the rows the pairs use, centred and divided by their largest value.

    Returns the rescaled rows, both pair arrays re-indexed into them, and the scale
    (so that ``components / scale`` applies to X as given).
    """
    used, inverse = np.unique(
        np.concatenate((similar_pairs.ravel(), dissimilar_pairs.ravel())),
        return_inverse=True,
    )
    X_used = X[used] - X[used].mean(axis=0)
    scale = np.abs(X_used).max()
    if scale == 0.0:
        raise ValueError(
            "all rows used by the pairs are identical; no metric can separate them."
        )
    X_used = np.ascontiguousarray(X_used / scale)
    n_similar = similar_pairs.size
    similar = inverse[:n_similar].reshape(-1, 2).astype(np.int64)
    dissimilar = inverse[n_similar:].reshape(-1, 2).astype(np.int64)
    return X_used, similar, dissimilar, scale


def _check_pairs_informative(X, similar_pairs, dissimilar_pairs):
    for kind, pairs in (("dissimilar", dissimilar_pairs), ("similar", similar_pairs)):
        if not np.any(pair_sq_dists(X, *_pair_columns(pairs)) > 0.0):
            raise ValueError(
                f"every {kind} pair joins two identical rows, so the problem has no "
                "solution; give pairs of distinct points."
            )
