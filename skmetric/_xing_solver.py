"""Solvers of Xing et al.'s metric learning problem, full and diagonal.

Both work on rows already centred and rescaled by the caller and on int64 pair
arrays indexing them. Each returns its solution in the coordinates it was given,
the objective reached, the number of iterations, and whether a first-order
optimality certificate holds.

Full M: the problem is invariant to any invertible linear map of the data, so it is
solved in whitened coordinates of the span of the similar-pair differences (where
the constraint reads ``|L|_F^2 <= 1``) through the equivalent unconstrained convex
form ``|L|_F^2 - log sum_D |L w_p|`` in a factor L (L-BFGS), certified by the
duality gap of the constrained form. Directions along which no similar pair varies
get no weight: along them the problem is unbounded (any dissimilar spread there
could be scaled up for free), so no finite M is optimal.

Diagonal M: the problem is invariant to a rescaling of each feature, so it is
solved with weights measured in units of each feature's similar-pair spread, by a
projected Newton method with Levenberg-Marquardt damping and an Armijo search along
the projection arc, certified by the projected gradient (the KKT conditions of
``w >= 0``). Features on which every similar pair agrees get weight zero, for the
same reason as above.
"""

import numpy as np
import scipy.linalg
import scipy.optimize

from ._init import components_from_eigh, components_from_factor  # noqa: F401
from ._kernels import pair_laplacian_matmul, pair_sq_diffs, pair_sq_dists, weighted_outer_sum

# Numerical rank of the data and of the similar-pair scatter: eigenvalues (squared
# spreads) below this fraction of the largest are rounding noise, so the directions
# they belong to carry no information. Both spreads are measured after every feature
# is scaled to unit spread, so the cut does not depend on the units of a feature.
_RANK_RTOL = 1e-10
# Newton's Levenberg-Marquardt damping grows by this factor after a failed search.
_DAMPING_GROW = 10.0
# Armijo constant and the smallest step of the diagonal line search.
_ARMIJO = 1e-4
# Up to this many features the diagonal Newton system is formed and factored;
# beyond, it is solved by conjugate gradients with Hessian-vector products.
_DENSE_MAX = 300

_NOTHING_TO_LEARN = (
    "no dissimilar pair differs along a direction in which some similar pair "
    "varies, so the problem has no finite solution; give similar pairs that vary "
    "where the dissimilar pairs differ."
)
_STEP_MIN = 1e-12


# ---------------------------------------------------------------------------------
# Spans and whitening
# ---------------------------------------------------------------------------------


def _pair_columns(pairs):
    """The two index columns of a pair array, each int64 and C-contiguous, so the
    kernels see one type per argument and compile once."""
    return (np.ascontiguousarray(pairs[:, 0], dtype=np.int64),
            np.ascontiguousarray(pairs[:, 1], dtype=np.int64))


def _orthonormal_span(X):
    """Orthonormal coordinates of the row span of X (n, d).

    Returns ``(Z, B)`` with ``Z = X @ B`` of shape (n, r) having orthonormal columns,
    r the numerical rank (eigenvalues of the Gram matrix above ``_RANK_RTOL`` times
    the largest). The smaller Gram matrix is decomposed: O(n d min(n, d)).
    """
    n, d = X.shape
    if n >= d:
        values, vectors = np.linalg.eigh(X.T @ X)
        keep = values > _RANK_RTOL * values[-1]
        B = vectors[:, keep] / np.sqrt(values[keep])
        return np.ascontiguousarray(X @ B), B
    values, vectors = np.linalg.eigh(X @ X.T)
    keep = values > _RANK_RTOL * values[-1]
    Z = np.ascontiguousarray(vectors[:, keep])
    return Z, X.T @ (Z / values[keep])


def similar_whitening(X, similar_pairs):
    """Map P (d, k) whitening the similar-pair scatter within its own span.

    With ``W = X @ P``, ``sum_S (w_i - w_j)(w_i - w_j)^T`` is the identity of size k,
    k the rank of the similar-pair scatter within the data's span. Ranks are
    measured with every feature scaled to unit spread, then in coordinates where
    the data have unit spread in every direction, so they do not depend on units.
    """
    spread = np.sqrt(np.einsum("ij,ij->j", X, X))
    spread[spread == 0.0] = 1.0  # a constant feature: its column is zero
    Z, B = _orthonormal_span(X / spread)
    B /= spread[:, None]
    left, right = _pair_columns(similar_pairs)
    scatter = weighted_outer_sum(Z, left, right, np.ones(left.shape[0]))
    values, vectors = np.linalg.eigh(scatter)
    keep = values > _RANK_RTOL * values[-1]
    P = B @ (vectors[:, keep] / np.sqrt(values[keep]))
    # Only X @ P is determined; among the maps giving it, keep the one inside the
    # row space of X (in the units of X), so M has no part along directions the
    # data never take, whatever the relative scales of collinear features.
    if B.shape[1] == B.shape[0]:
        return P  # the data span every direction
    rows, _ = np.linalg.qr(B * spread[:, None] ** 2)
    return rows @ (rows.T @ P)


# ---------------------------------------------------------------------------------
# Full M
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
    left, right = _pair_columns(dissimilar_pairs)
    dists = np.sqrt(pair_sq_dists(np.ascontiguousarray(X @ components.T), left, right))
    safe = np.where(dists > 0.0, dists, 1.0)
    weights = np.where(dists > 0.0, 0.5 / safe, 0.0)
    return dists.sum(), weighted_outer_sum(X, left, right, weights)


def factor_objective_grad(flat, W, left, right, n_rows):
    """``f(L) = |L|_F^2 - log sum_D |L (w_i - w_j)|`` and its gradient in L.

    The unconstrained form of the full problem in whitened coordinates W (n, k),
    L of shape (n_rows, k) given flat. f is convex in M = L^T L, and its minimisers
    are the maximisers of ``sum_D |.|_M`` on ``trace(M) = 1/2``. Gradient:
    ``2 L - (1/T) sum_D L w w^T / |L w|`` with T the sum of distances, computed as
    ``2 L - (1/T) (Lap(1/dist) Y)^T W`` for Y = W L^T. Cost O(m r + n k r).
    """
    k = W.shape[1]
    L = flat.reshape(n_rows, k)
    Y = np.ascontiguousarray(W @ L.T)
    dists = np.sqrt(pair_sq_dists(Y, left, right))
    total = dists.sum()
    if not total > 0.0:
        return np.inf, np.zeros_like(flat)
    inverse = np.where(dists > 0.0, 1.0 / np.where(dists > 0.0, dists, 1.0), 0.0)
    spread_grad = pair_laplacian_matmul(Y, left, right, inverse).T @ W
    value = np.sum(L * L) - np.log(total)
    return value, (2.0 * L - spread_grad / total).ravel()


def full_certificate(W, left, right, L):
    """Objective of the constrained form at M = L^T L / |L|_F^2 and its duality gap.

    The objective ``F(M) = sum_D |w|_M`` is concave, so for every feasible M'
    (PSD, trace one) ``F(M') <= F(M) + lambda_max(G) - <G, M>``, with G its gradient;
    ``<G, M> = F(M) / 2``. Returns ``(F, gap)``. The bound needs F differentiable:
    a pair at zero M-distance whose whitened difference is not zero (where F grows
    like a square root) leaves the gap infinite.
    """
    L = L / np.linalg.norm(L)
    Y = np.ascontiguousarray(W @ L.T)
    dists = np.sqrt(pair_sq_dists(Y, left, right))
    if np.any(dists <= 1e-12 * dists.max()):
        lengths = np.sqrt(pair_sq_dists(W, left, right))
        if np.any((dists <= 1e-12 * dists.max()) & (lengths > 1e-12 * lengths.max())):
            return dists.sum(), np.inf
    weights = np.where(dists > 0.0, 0.5 / np.where(dists > 0.0, dists, 1.0), 0.0)
    gradient = weighted_outer_sum(W, left, right, weights)
    k = gradient.shape[0]
    top = scipy.linalg.eigh(gradient, eigvals_only=True, subset_by_index=[k - 1, k - 1])
    objective = dists.sum()
    return objective, top[0] - 0.5 * objective


def solve_full(X, similar_pairs, dissimilar_pairs, *, max_iter, tol, printer):
    """Full M: maximise ``sum_D |.|_M`` subject to ``sum_S |.|_M^2 <= 1``.

    Returns
    -------
    factor : ndarray of shape (k, d)
        C with ``M = C^T C`` in the coordinates of X (rank at most k, the rank of the
        similar-pair scatter).
    objective : float
        ``sum_D |.|_M`` at the returned M, which satisfies the constraint with
        equality.
    n_iter : int
        L-BFGS iterations.
    converged : bool
        True when the duality gap is at most ``tol`` times the objective.
    """
    P = similar_whitening(X, similar_pairs)
    W = np.ascontiguousarray(X @ P)
    k = W.shape[1]
    left, right = _pair_columns(dissimilar_pairs)
    if not np.any(pair_sq_dists(W, left, right) > 0.0):
        raise ValueError(_NOTHING_TO_LEARN)
    L = np.eye(k) / np.sqrt(2.0 * k)  # the identity at its best scale
    state = {"n_iter": 0, "value": np.nan}

    def fun(flat):
        value, grad = factor_objective_grad(flat, W, left, right, k)
        state["value"], state["grad"] = value, np.abs(grad).max()
        return value, grad

    def callback(flat):
        state["n_iter"] += 1
        printer.row(state["n_iter"], state["value"], state["grad"], printer.elapsed)

    # L-BFGS stops on small relative decreases of f; the certificate decides. While
    # it fails, L-BFGS restarts from where it stopped with tolerances 100 times
    # tighter, until max_iter iterations in all.
    inner_tol = max(tol, 1e-12) * 1e-2
    objective, gap = full_certificate(W, left, right, L)
    converged = gap <= tol * objective
    while not converged and state["n_iter"] < max_iter and inner_tol > 1e-18:
        result = scipy.optimize.minimize(
            fun, L.ravel(), jac=True, method="L-BFGS-B", callback=callback,
            options={"maxiter": max_iter - state["n_iter"], "ftol": inner_tol,
                     "gtol": inner_tol / np.sqrt(k), "maxcor": 20},
        )
        if np.all(np.isfinite(result.x)):
            L = result.x.reshape(k, k)
        objective, gap = full_certificate(W, left, right, L)
        converged = gap <= tol * objective
        inner_tol *= 1e-2
    L = L / np.linalg.norm(L)
    return L @ P.T, objective, state["n_iter"], bool(converged)


# ---------------------------------------------------------------------------------
# Diagonal M
# ---------------------------------------------------------------------------------


def diagonal_objective(similar_sq, dissimilar_sq_diffs, weights):
    """``h(w) = s.w - log sum_D sqrt(D_p . w)`` alone, for the line search."""
    total = np.sqrt(np.maximum(dissimilar_sq_diffs @ weights, 0.0)).sum()
    return similar_sq @ weights - np.log(total) if total > 0.0 else np.inf


def diagonal_terms(similar_sq, dissimilar_sq_diffs, weights):
    """``h(w) = s.w - log sum_D sqrt(D_p . w)``, its gradient, and the pieces of
    its Hessian ``(1/T) R^T diag(c) R + u u^T / T^2``.

    Returns ``(objective, gradient, (R, c, u, T))`` with R the rows of the pairs at
    non-zero distance, ``c = 1 / (4 dist^3)``, ``u = sum_p D_p / (2 dist_p)`` and T
    the sum of distances; objective ``+inf`` (and pieces None) where every
    dissimilar distance is zero.
    """
    dists = np.sqrt(np.maximum(dissimilar_sq_diffs @ weights, 0.0))
    total = dists.sum()
    if not total > 0.0:
        return np.inf, np.zeros(weights.shape[0]), None
    active = dists > 0.0
    rows = dissimilar_sq_diffs[active] if not np.all(active) else dissimilar_sq_diffs
    inv = 1.0 / dists[active]
    spread_grad = rows.T @ (0.5 * inv)
    objective = similar_sq @ weights - np.log(total)
    gradient = similar_sq - spread_grad / total
    return objective, gradient, (rows, 0.25 * inv**3, spread_grad, total)


def diagonal_hessian(pieces, free):
    """The Hessian restricted to the free weights, as a dense matrix: O(m f^2)."""
    rows, curvature, spread_grad, total = pieces
    sub, u = rows[:, free], spread_grad[free]
    return (sub.T * curvature) @ sub / total + np.outer(u, u) / total**2


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
    objective, gradient, pieces = diagonal_terms(similar_sq, dissimilar_sq_diffs,
                                                 weights)
    d = weights.shape[0]
    if pieces is None:
        return objective, gradient, np.zeros((d, d))
    return objective, gradient, diagonal_hessian(pieces, np.ones(d, dtype=bool))


def projected_gradient(weights, gradient):
    """KKT residual of ``min h(w), w >= 0``: the gradient, except that at a zero
    weight only its negative part counts (a positive one pushes into the bound)."""
    return np.where(weights > 0.0, gradient, np.minimum(gradient, 0.0))


def _newton_direction(gradient, hessian, free, damping=0.0):
    """Damped Newton step on the free coordinates, steepest descent on the others.

    Solves ``(H_ff + damping I) p_f = -g_f``; H is positive semi-definite, so any
    positive damping makes the system definite (H is singular whenever there are
    fewer dissimilar pairs than free weights).
    """
    direction = -gradient.copy()
    if np.any(free):
        sub = hessian[np.ix_(free, free)] + damping * np.eye(int(free.sum()))
        try:
            factor = scipy.linalg.cho_factor(sub)
            direction[free] = -scipy.linalg.cho_solve(factor, gradient[free])
        except np.linalg.LinAlgError:
            direction[free] = -np.linalg.lstsq(sub, gradient[free], rcond=None)[0]
    return direction


def _newton_direction_cg(gradient, pieces, free, damping, forcing):
    """The damped Newton step of :func:`_newton_direction` by conjugate gradients.

    Matrix-free: each product with the Hessian costs O(m f) instead of the
    O(m f^2) of forming it, for f free weights. The system is solved to a relative
    residual ``forcing`` (an inexact Newton step), in at most ``f`` iterations.
    """
    rows, curvature, spread_grad, total = pieces
    sub, u = np.ascontiguousarray(rows[:, free]), spread_grad[free]

    def product(v):
        return sub.T @ (curvature * (sub @ v)) / total + u * (u @ v) / total**2 \
            + damping * v

    rhs = -gradient[free]
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    search = residual.copy()
    norm_sq = residual @ residual
    target = (forcing**2) * norm_sq
    for _ in range(rhs.shape[0]):
        if norm_sq <= target:
            break
        image = product(search)
        alpha = norm_sq / (search @ image)
        x += alpha * search
        residual -= alpha * image
        new_norm_sq = residual @ residual
        search = residual + (new_norm_sq / norm_sq) * search
        norm_sq = new_norm_sq
    direction = -gradient.copy()
    direction[free] = x
    return direction


def _projected_search(similar_sq, sq_diffs, weights, objective, gradient, direction):
    """Armijo backtracking along the projection arc ``max(w + t p, 0)``.

    Returns ``(trial, trial_objective)``, or None when no step down to
    ``_STEP_MIN`` gives the sufficient decrease.
    """
    step = 1.0
    while step >= _STEP_MIN:
        trial = np.maximum(weights + step * direction, 0.0)
        trial_objective = diagonal_objective(similar_sq, sq_diffs, trial)
        if trial_objective <= objective + _ARMIJO * np.dot(gradient, trial - weights):
            if trial_objective < objective:
                return trial, trial_objective
        step *= 0.5
    return None


def _diagonal_iterations(sq_diffs, start, max_iter, tol, printer):
    """Projected Newton on ``h(v) = sum(v) - log sum_D sqrt(E_p . v)``, v >= 0.

    The similar-pair spread of every feature is 1 in these units, so the gradient
    of the first term is 1 and ``tol`` bounds the KKT residual relative to it.
    Iterations start from the best multiple of ``start`` (positive).
    """
    d = sq_diffs.shape[1]
    ones = np.ones(d)
    weights = start / (2.0 * start.sum())  # best multiple of the start
    dense = d <= _DENSE_MAX
    objective, gradient, pieces = diagonal_terms(ones, sq_diffs, weights)
    residual = np.abs(projected_gradient(weights, gradient)).max()
    n_iter, damping = 0, residual
    while residual > tol and n_iter < max_iter:
        n_iter += 1
        # Bertsekas' projected Newton: weights within epsilon of the bound, with
        # a gradient pushing into it, move by steepest descent; the others by Newton.
        epsilon = min(residual, 1e-3 * weights.max())
        bound = (weights <= epsilon) & (gradient > 0.0)
        # Levenberg-Marquardt damping, proportional to the residual (so the local
        # rate stays fast) and raised until the step gives sufficient decrease.
        damping = max(min(damping, residual), 1e-14)
        found = None
        if dense:
            hessian = np.zeros((d, d))
            hessian[np.ix_(~bound, ~bound)] = diagonal_hessian(pieces, ~bound)
        while found is None and damping < 1e14:
            if dense:
                direction = _newton_direction(gradient, hessian, ~bound, damping)
            else:
                direction = _newton_direction_cg(gradient, pieces, ~bound, damping,
                                                 min(0.1, np.sqrt(residual)))
            found = _projected_search(ones, sq_diffs, weights, objective, gradient,
                                      direction)
            if found is None:
                damping *= _DAMPING_GROW
        if found is None:
            break  # no descent left at this precision: not certified
        weights, objective = found
        objective, gradient, pieces = diagonal_terms(ones, sq_diffs, weights)
        residual = np.abs(projected_gradient(weights, gradient)).max()
        printer.row(n_iter, objective, residual, printer.elapsed)
        damping *= 0.5
    return weights, objective, n_iter, residual <= tol


def solve_diagonal(X, similar_pairs, dissimilar_pairs, *, max_iter, tol, printer):
    """Diagonal M: minimise ``sum_S |.|_w^2 - log sum_D |.|_w`` over ``w >= 0``.

    Returns
    -------
    weights : ndarray of shape (d,)
        The diagonal of M in the coordinates of X.
    objective : float
        The minimum reached (invariant to a rescaling of the features).
    n_iter : int
    converged : bool
        True when the projected gradient, in units of each feature's similar-pair
        spread, is at most ``tol`` in every coordinate.
    """
    similar_sq = pair_sq_diffs(X, *_pair_columns(similar_pairs)).sum(axis=0)
    dissimilar = pair_sq_diffs(X, *_pair_columns(dissimilar_pairs))
    # Features on which every similar pair agrees: no finite weight is optimal if a
    # dissimilar pair differs there; they get weight zero.
    free = similar_sq > 0.0
    weights = np.zeros(X.shape[1])
    sq_diffs = np.ascontiguousarray(dissimilar[:, free] / similar_sq[free])
    if not np.any(sq_diffs > 0.0):
        raise ValueError(_NOTHING_TO_LEARN)
    # Start from the identity in the units of X: where the optimum is not unique
    # (features that are multiples of each other), the weights stay split as
    # they start, instead of favouring the feature of smallest units.
    scaled, objective, n_iter, converged = _diagonal_iterations(
        sq_diffs, similar_sq[free], max_iter, tol, printer
    )
    weights[free] = scaled / similar_sq[free]
    return weights, objective, n_iter, converged


# ---------------------------------------------------------------------------------
# From a solution to components
# ---------------------------------------------------------------------------------


def components_from_weights(weights, n_components):
    """Rows ``sqrt(w_k) e_k`` for the largest weights of a diagonal M."""
    d = weights.shape[0]
    n_components = d if n_components is None else n_components
    order = np.argsort(-weights, kind="stable")[:n_components]
    components = np.zeros((n_components, d))
    components[np.arange(n_components), order] = np.sqrt(weights[order])
    return components
