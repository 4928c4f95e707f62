"""MahalanobisXing: Xing, Ng, Jordan & Russell (NIPS 2002)."""

from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._init import components_from_eigh, symmetric_eigh
from ._kernels import pair_sq_diffs, pair_sq_dists, weighted_outer_sum
from ._threads import N_JOBS_CONSTRAINT, thread_limits
from ._validation import (
    Interval,
    check_params,
    check_X_y_classes,
)

# Relative ridge added to the similar-pair scatter: it keeps the problem bounded
# when a direction has no spread within the similar pairs, and drives the weight of
# features that carry nothing at all to zero.
_RIDGE = 1e-8
# Ascent step of the full solver, relative to the norm of M: accepted steps grow it
# by _STEP_GROW, rejected ones halve it; below _STEP_MIN no ascent is left.
_STEP_INIT = 0.1
_STEP_GROW = 1.5
_STEP_MIN = 1e-10
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
        Learn a diagonal M (a weight per feature) with Newton's method instead of
        a full M with projected gradient ascent.
    n_constraints : int, default=None
        With class labels: the number of similar pairs sampled, and also the
        number of dissimilar pairs. None uses ``min(20 * n_classes ** 2,
        10**6)``; at most ``10**6``, since fit memory grows with it (about 220
        bytes a pair, plus ``24 * n_features`` with ``diagonal=True``).
    max_iter : int, default=1000
        Maximum number of ascent (full) or Newton (diagonal) iterations.
    tol : float, default=1e-5
        Convergence tolerance, relative to the objective. Full M: the fit stops
        when the duality gap (an upper bound on how far the objective is from
        its maximum) falls below ``tol`` times the objective. Diagonal M: when
        a Newton step improves the objective by less than ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of pairs from class labels.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration (objective, step, elapsed seconds).
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
    MahalanobisXingPairs : The same metric learned from labelled pairs.
    LMNN : Large margin nearest neighbour metric learning.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : NCA.

    Notes
    -----
    With similar pairs S and dissimilar pairs D, full M solves

    .. math::
        \\max_{M \\succeq 0} \\sum_{(i,j) \\in D} \\|x_i - x_j\\|_M
        \\quad \\text{s.t.} \\quad \\sum_{(i,j) \\in S} \\|x_i - x_j\\|_M^2 \\le 1

    by projected gradient ascent. In coordinates whitened by the Cholesky factor
    of the similar-pair scatter (where the constraint reads ``trace(M) <= 1``),
    the objective's gradient is projected orthogonally to the constraint's
    gradient, a step is taken, and the result is projected onto the
    intersection of the constraint's half-space and the PSD cone, exactly and in
    one eigen-decomposition: the eigenvalues are clipped at zero and projected
    onto the simplex, the point that iterated projections onto the two sets
    approach. The objective grows with the scale of M, so the optimum lies on the
    constraint's boundary and the iterates stay there. The step grows after an
    improving step and halves otherwise; the fit stops when the duality gap
    ``lambda_max(G) - <G, M>`` (G the gradient) certifies the objective within
    ``tol`` of its maximum. The diagonal form minimises the equivalent unconstrained convex problem
    :math:`\\sum_S \\|\\cdot\\|_w^2 - \\log \\sum_D \\|\\cdot\\|_w` over ``w >= 0``
    by projected Newton steps with an Armijo line search on that same objective.

    Distances use internally rescaled data (centred, divided by its largest
    magnitude), so the fit is the same for data of any scale; ``components_``
    applies to the data as given. Cost per iteration: O(m d + n_p d^2 + d^3) for
    m pairs over n_p distinct rows in d dimensions (one eigen-decomposition per
    trial step and one for the gap); diagonal: O(m d + d^3).

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
    0.98
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
        n_pairs = self.n_constraints or min(20 * n_classes**2, _MAX_CONSTRAINTS)
        similar_pairs, dissimilar_pairs = sample_label_pairs(y_encoded, n_pairs, rng)
        return fit_xing(self, X, similar_pairs, dissimilar_pairs)


def fit_xing(estimator, X, similar_pairs, dissimilar_pairs):
    """Fit ``estimator`` (with Xing's parameters) on pairs of rows of checked X.

    Shared by :class:`MahalanobisXing` and :class:`MahalanobisXingPairs`: checks
    ``n_components``, prints, solves, sets ``components_`` and ``n_iter_`` and
    warns when the solver did not converge. Returns the estimator.
    """
    n_features = X.shape[1]
    if estimator.n_components is not None and estimator.n_components > n_features:
        raise ValueError(
            f"n_components={estimator.n_components} must be at most the number of "
            f"features, {n_features}."
        )
    printer = VerbosePrinter(
        estimator, [("Iteration", "d"), ("Objective", ".6e"), ("Step", ".2e"),
                    ("Time(s)", ".2f")]
    )
    printer.start(
        f"Fitting a {'diagonal' if estimator.diagonal else 'full'} metric on "
        f"{X.shape[0]} samples, {n_features} features, "
        f"{len(similar_pairs)} similar and {len(dissimilar_pairs)} dissimilar pairs."
    )
    with thread_limits(estimator.n_jobs):
        components, objective, n_iter, converged = solve_xing(
            X, similar_pairs, dissimilar_pairs, diagonal=estimator.diagonal,
            n_components=estimator.n_components, max_iter=estimator.max_iter,
            tol=estimator.tol, printer=printer,
        )
    estimator.components_ = components
    estimator.n_iter_ = n_iter
    printer.summary(
        f"{'Converged' if converged else 'Stopped'} after {n_iter} iterations, "
        f"objective {objective:.6e},"
    )
    if not converged:
        warn_not_converged(estimator, estimator.max_iter)
    return estimator


def solve_xing(X, similar_pairs, dissimilar_pairs, *, diagonal, n_components,
               max_iter, tol, printer):
    """Xing's metric from pairs of rows of X: the one solver of both estimators.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    similar_pairs, dissimilar_pairs : ndarray of shape (n_pairs, 2), int64
        Row indices into X.
    diagonal : bool
    n_components : int or None
    max_iter : int
    tol : float
    printer : VerbosePrinter

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
        L with ``L^T L = M``, for X as given.
    objective : float
    n_iter : int
    converged : bool
    """
    X_used, similar_pairs, dissimilar_pairs, scale = _rescaled_rows(
        X, similar_pairs, dissimilar_pairs
    )
    _check_pairs_informative(X_used, similar_pairs, dissimilar_pairs)
    solver = _solve_diagonal if diagonal else _solve_full
    params = SimpleNamespace(max_iter=max_iter, tol=tol)
    metric_matrix, objective, n_iter, converged = solver(
        X_used, similar_pairs, dissimilar_pairs, params, printer
    )
    values, vectors = symmetric_eigh(metric_matrix)
    components = components_from_eigh(values, vectors, n_components)
    components /= scale
    return components, objective, n_iter, converged


def sample_label_pairs(y, n_pairs, rng):
    """Sample similar (same class) and dissimilar (other class) pairs of rows.

    The first point of a pair is drawn uniformly among the rows whose class has a
    second member (similar pairs) or among all rows (dissimilar pairs); the second
    uniformly among its class-mates, itself excluded, or among the rows of other
    classes. Pairs are drawn with replacement.

    Parameters
    ----------
    y : ndarray of shape (n_samples,), int64 labels ``0..n_classes-1``
    n_pairs : int
        Number of pairs of each kind.
    rng : numpy.random.RandomState

    Returns
    -------
    similar, dissimilar : ndarray of shape (n_pairs, 2), int64
    """
    order = np.argsort(y, kind="stable")
    counts = np.bincount(y)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    n_samples = y.shape[0]

    anchors = rng.choice(np.flatnonzero(counts[y] >= 2), size=n_pairs)
    cls = y[anchors]
    own_rank = np.empty(n_samples, dtype=np.int64)
    own_rank[order] = np.arange(n_samples) - starts[y[order]]
    offset = rng.randint(0, counts[cls] - 1)
    offset += offset >= own_rank[anchors]
    similar = np.column_stack((anchors, order[starts[cls] + offset]))

    anchors = rng.randint(0, n_samples, size=n_pairs)
    cls = y[anchors]
    position = rng.randint(0, n_samples - counts[cls])
    position += (position >= starts[cls]) * counts[cls]
    dissimilar = np.column_stack((anchors, order[position]))
    return similar.astype(np.int64), dissimilar.astype(np.int64)


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
        if not np.any(pair_sq_dists(X, pairs[:, 0], pairs[:, 1]) > 0.0):
            raise ValueError(
                f"every {kind} pair joins two identical rows, so the problem has no "
                "solution; give pairs of distinct points."
            )


# ---------------------------------------------------------------------------------
# Full M: projected gradient ascent
# ---------------------------------------------------------------------------------


def full_objective_grad(X, dissimilar_pairs, components):
    """Objective ``g = sum_D |L (x_i - x_j)|`` and its gradient in M = L^T L.

    ``dg/dM = sum_D (x_i - x_j)(x_i - x_j)^T / (2 |L (x_i - x_j)|)``; pairs at zero
    distance contribute the zero subgradient.

    Returns
    -------
    objective : float
    gradient : ndarray of shape (d, d)
    """
    left, right = dissimilar_pairs[:, 0], dissimilar_pairs[:, 1]
    dists = np.sqrt(pair_sq_dists(np.ascontiguousarray(X @ components.T), left, right))
    safe = np.where(dists > 0.0, dists, 1.0)
    weights = np.where(dists > 0.0, 0.5 / safe, 0.0)
    return dists.sum(), weighted_outer_sum(X, left, right, weights)


def similar_scatter(X, similar_pairs):
    """Constraint matrix ``S = sum_S (x_i - x_j)(x_i - x_j)^T`` plus a tiny ridge."""
    n_similar = similar_pairs.shape[0]
    scatter = weighted_outer_sum(
        X, similar_pairs[:, 0], similar_pairs[:, 1], np.ones(n_similar)
    )
    ridge = _RIDGE * np.trace(scatter) / scatter.shape[0]
    return scatter + ridge * np.eye(scatter.shape[0])


def whitening_factor(scatter):
    """Lower Cholesky factor C of the (positive definite) similar-pair scatter.

    With ``X_w = X C^{-T}`` the similar-pair scatter of X_w is the identity, and
    ``<S, M> = trace(C^T M C)``. The ridge is raised if rounding makes S
    indefinite.
    """
    ridge = _RIDGE * max(np.trace(scatter), 1e-300) / scatter.shape[0]
    for _ in range(20):
        try:
            return np.linalg.cholesky(scatter)
        except np.linalg.LinAlgError:
            scatter = scatter + ridge * np.eye(scatter.shape[0])
            ridge *= 10.0
    raise FloatingPointError("the similar-pair scatter is not positive definite")


def project_simplex(values):
    """Euclidean projection of a vector onto ``{v >= 0, sum(v) = 1}``.

    Sort-based: the projection is ``max(values - theta, 0)`` with the threshold
    theta that makes the positive part sum to one.
    """
    ordered = np.sort(values)[::-1]
    excess = np.cumsum(ordered) - 1.0
    ranks = np.arange(1, values.shape[0] + 1)
    last = np.flatnonzero(ordered - excess / ranks > 0.0)[-1]
    theta = excess[last] / (last + 1)
    return np.maximum(values - theta, 0.0)


def project_spectraplex(M):
    """Projection onto ``{M PSD, trace(M) = 1}``: eigenvalues onto the simplex.

    In whitened coordinates this is the projection onto the boundary of the
    constraint's half-space intersected with the PSD cone.

    Returns
    -------
    M : ndarray of shape (d, d)
    eigenvalues : ndarray of shape (d,), descending, non-negative, summing to one
    eigenvectors : ndarray of shape (d, d)
    """
    values, vectors = symmetric_eigh(M)
    values = project_simplex(values)
    projected = (vectors * values) @ vectors.T
    return (projected + projected.T) * 0.5, values, vectors


def _nonzero_components(values, vectors):
    """L of the directions with a positive eigenvalue: the simplex projection zeroes
    most of them near the (low-rank) optimum, and the distances cost O(n d r)."""
    return components_from_eigh(values, vectors, max(1, int(np.sum(values > 0.0))))


def _solve_full(X, similar_pairs, dissimilar_pairs, params, printer):
    chol = whitening_factor(similar_scatter(X, similar_pairs))
    X_white = np.ascontiguousarray(
        scipy.linalg.solve_triangular(chol, X.T, lower=True).T
    )
    d = X.shape[1]
    M, values, vectors = np.eye(d) / d, np.full(d, 1.0 / d), np.eye(d)
    objective, gradient = full_objective_grad(
        X_white, dissimilar_pairs, _nonzero_components(values, vectors)
    )
    step = _STEP_INIT
    converged = False
    n_iter = 0
    while n_iter < params.max_iter:
        # Concave objective over a convex set: lambda_max(G) - <G, M> bounds the
        # distance of the objective to its maximum.
        gap = np.linalg.eigvalsh(gradient)[-1] - np.sum(gradient * M)
        if gap <= params.tol * abs(objective):
            converged = True
            break
        n_iter += 1
        # The constraint's gradient is the identity here: remove the objective
        # gradient's part along it (the simplex projection ignores it anyway).
        direction = gradient - (np.trace(gradient) / d) * np.eye(d)
        direction *= np.linalg.norm(M) / max(np.linalg.norm(direction), 1e-300)
        while step >= _STEP_MIN:
            trial = project_spectraplex(M + step * direction)
            trial_objective, trial_gradient = full_objective_grad(
                X_white, dissimilar_pairs, _nonzero_components(trial[1], trial[2])
            )
            if np.isfinite(trial_objective) and trial_objective > objective:
                break
            step *= 0.5
        if step < _STEP_MIN:
            converged = True  # no ascent direction left: a stationary point
            break
        (M, values, vectors), objective = trial, trial_objective
        gradient = trial_gradient
        printer.row(n_iter, objective, step, printer.elapsed)
        step *= _STEP_GROW
    # Back to the input coordinates: M_input = C^{-T} M C^{-1}.
    inverse_chol = scipy.linalg.solve_triangular(chol, np.eye(d), lower=True)
    return inverse_chol.T @ M @ inverse_chol, objective, n_iter, converged


# ---------------------------------------------------------------------------------
# Diagonal M: projected Newton on the unconstrained convex form
# ---------------------------------------------------------------------------------


def diagonal_objective(similar_sq, dissimilar_sq_diffs, weights):
    """``h(w) = s.w - log sum_D sqrt(D_p . w)`` alone, for the line search."""
    total = np.sqrt(np.maximum(dissimilar_sq_diffs @ weights, 0.0)).sum()
    return similar_sq @ weights - np.log(total) if total > 0.0 else np.inf


def diagonal_objective_grad_hess(similar_sq, dissimilar_sq_diffs, weights):
    """``h(w) = s.w - log sum_D sqrt(D_p . w)``, its gradient and Hessian.

    Parameters
    ----------
    similar_sq : ndarray of shape (d,)
        ``s = sum_S (x_i - x_j)^2`` (element-wise), so that the first term is
        ``sum_S |x_i - x_j|_w^2``.
    dissimilar_sq_diffs : ndarray of shape (m, d)
        Row p holds ``(x_i - x_j)^2`` of dissimilar pair p.
    weights : ndarray of shape (d,), non-negative

    Returns
    -------
    objective : float
        ``+inf`` where every dissimilar distance is zero.
    gradient : ndarray of shape (d,)
    hessian : ndarray of shape (d, d)
        ``(1/G) sum_p D_p D_p^T / (4 dist_p^3) + g g^T / G^2`` with
        ``G = sum_p dist_p`` and ``g = sum_p D_p / (2 dist_p)``; positive
        semi-definite, so h is convex.
    """
    dists = np.sqrt(np.maximum(dissimilar_sq_diffs @ weights, 0.0))
    total = dists.sum()
    if not total > 0.0:
        d = weights.shape[0]
        return np.inf, np.zeros(d), np.zeros((d, d))
    active = dists > 0.0
    rows = dissimilar_sq_diffs[active]
    inv = 1.0 / dists[active]
    spread_grad = rows.T @ (0.5 * inv)
    objective = similar_sq @ weights - np.log(total)
    gradient = similar_sq - spread_grad / total
    hessian = (rows.T * (0.25 * inv**3)) @ rows / total
    hessian += np.outer(spread_grad, spread_grad) / total**2
    return objective, gradient, hessian


def _newton_direction(gradient, hessian, free):
    """Newton step on the free coordinates, steepest descent on the bound ones."""
    direction = -gradient.copy()
    if np.any(free):
        sub = hessian[np.ix_(free, free)]
        sub = sub + (1e-12 * max(np.trace(sub), 1e-300)) * np.eye(sub.shape[0])
        try:
            direction[free] = -np.linalg.solve(sub, gradient[free])
        except np.linalg.LinAlgError:
            direction[free] = -np.linalg.lstsq(sub, gradient[free], rcond=None)[0]
    return direction


def _solve_diagonal(X, similar_pairs, dissimilar_pairs, params, printer):
    similar_sq = pair_sq_diffs(X, similar_pairs[:, 0], similar_pairs[:, 1]).sum(0)
    similar_sq += _RIDGE * similar_sq.sum() / similar_sq.shape[0]
    dissimilar_sq_diffs = pair_sq_diffs(X, dissimilar_pairs[:, 0], dissimilar_pairs[:, 1])
    # Start from the identity at its best scale: h(c 1) is least at c = 1 / (2 s.1).
    weights = np.full(X.shape[1], 0.5 / similar_sq.sum())
    objective, gradient, hessian = diagonal_objective_grad_hess(
        similar_sq, dissimilar_sq_diffs, weights
    )
    converged = False
    n_iter = 0
    while n_iter < params.max_iter and not converged:
        n_iter += 1
        bound = (weights <= 0.0) & (gradient > 0.0)
        direction = _newton_direction(gradient, hessian, ~bound)
        if np.dot(gradient, direction) >= 0.0:
            direction = -gradient
        step = 1.0
        while True:
            trial = np.maximum(weights + step * direction, 0.0)
            trial_objective = diagonal_objective(similar_sq, dissimilar_sq_diffs, trial)
            decrease = 1e-4 * np.dot(gradient, trial - weights)
            if trial_objective <= objective + decrease or step < _STEP_MIN:
                break
            step *= 0.5
        change = objective - trial_objective
        if not change >= 0.0:  # no decrease possible (or a non-finite trial)
            converged = True
            break
        weights = trial
        objective, gradient, hessian = diagonal_objective_grad_hess(
            similar_sq, dissimilar_sq_diffs, weights
        )
        printer.row(n_iter, objective, step, printer.elapsed)
        converged = change <= params.tol * max(1.0, abs(objective))
    return np.diag(weights), objective, n_iter, converged
