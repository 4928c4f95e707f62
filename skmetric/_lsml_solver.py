"""Solver of LSML: metric learning from relative comparisons by minimising
squared residuals (Liu et al., ICDM 2012).

Over M = L^T L (L square, in coordinates where the prior M0 is the identity):

    f(L) = (1/m) sum_c H(|L v_ab| - |L v_cd|) + tr(M) - log det M,

H(r) = r^2 for r > 0 and 0 otherwise, v_ab = x_a - x_b and v_cd = x_c - x_d for
each quadruplet c = (a, b, c, d); the last two terms are the LogDet divergence
to the prior up to a constant. f is continuously differentiable and, being a
difference of distances, not convex in M; it is minimised by L-BFGS from M = M0.
"""

import numpy as np
import scipy.optimize

from ._init import components_from_factor
from ._kernels import pair_laplacian_matmul, pair_sq_dists


def _columns(tuples, k):
    return np.ascontiguousarray(tuples[:, k], dtype=np.int64)


def residual_weights(Z, quadruplets, components):
    """Per quadruplet: the residual ``r = [d_ab - d_cd]_+`` and the weights
    ``r / d_ab``, ``r / d_cd`` (0 where a distance is 0) of the gradient."""
    embedded = np.ascontiguousarray(Z @ components.T)
    d_ab = np.sqrt(pair_sq_dists(embedded, _columns(quadruplets, 0),
                                 _columns(quadruplets, 1)))
    d_cd = np.sqrt(pair_sq_dists(embedded, _columns(quadruplets, 2),
                                 _columns(quadruplets, 3)))
    residual = np.maximum(d_ab - d_cd, 0.0)
    w_ab = np.where(d_ab > 0.0, residual / np.where(d_ab > 0.0, d_ab, 1.0), 0.0)
    w_cd = np.where(d_cd > 0.0, residual / np.where(d_cd > 0.0, d_cd, 1.0), 0.0)
    return residual, w_ab, w_cd


def loss_metric_gradient(Z, quadruplets, components):
    """The comparison loss ``(1/m) sum H`` and its gradient in M (d, d)."""
    residual, w_ab, w_cd = residual_weights(Z, quadruplets, components)
    m = quadruplets.shape[0]
    # sum w_ab (z_a - z_b)(z_a - z_b)^T - sum w_cd (z_c - z_d)(z_c - z_d)^T as
    # one weighted sum over both pairs of every quadruplet: one Laplacian
    # product and one (d, n) x (n, d) product instead of two of each.
    left = np.concatenate((_columns(quadruplets, 0), _columns(quadruplets, 2)))
    right = np.concatenate((_columns(quadruplets, 1), _columns(quadruplets, 3)))
    gram = Z.T @ pair_laplacian_matmul(Z, left, right, np.concatenate((w_ab, -w_cd)))
    return float(residual @ residual) / m, (gram + gram.T) * (0.5 / m)


def lsml_objective_grad(flat, Z, quadruplets):
    """``f(L)`` (module docstring) and its gradient in L, for flat square L.

    ``df/dL = 2 L (G + I) - 2 L^-T`` with G the loss gradient in M. Returns
    ``(inf, 0)`` for a singular L (outside the domain of log det).
    """
    d = Z.shape[1]
    L = flat.reshape(d, d)
    sign, logdet = np.linalg.slogdet(L)
    if sign == 0.0 or not np.isfinite(logdet):
        return np.inf, np.zeros_like(flat)
    loss, grad_metric = loss_metric_gradient(Z, quadruplets, L)
    value = loss + float(np.sum(L * L)) - 2.0 * logdet
    grad = 2.0 * L @ (grad_metric + np.eye(d)) - 2.0 * np.linalg.inv(L).T
    return value, grad.ravel()


def stationarity(Z, quadruplets, L):
    """Largest entry of ``L (dF/dM) L^T = L G L^T + L L^T - I``: the gradient in
    M measured in the learned metric's own units (zero at a stationary point,
    and the same number in any coordinates)."""
    _, grad_metric = loss_metric_gradient(Z, quadruplets, L)
    scaled = L @ grad_metric @ L.T + L @ L.T - np.eye(L.shape[0])
    return float(np.abs(scaled).max())


def solve_lsml(Z, quadruplets, *, max_iter, tol, printer):
    """Minimise f over square L from L = I by L-BFGS; certify stationarity.

    L-BFGS stops at the first iterate where the stationarity (read off the
    gradient it has just computed there) is at most ``tol``, or on its own
    rules; the certificate is then recomputed at the returned L.

    Returns ``(L, objective, n_iter, converged)``; converged when
    :func:`stationarity` is at most ``tol``.
    """
    d = Z.shape[1]
    history = []
    last = {}

    def objective(flat):
        value, grad = lsml_objective_grad(flat, Z, quadruplets)
        last["x"], last["grad"] = flat.copy(), grad
        return value, grad

    def callback(intermediate_result):
        history.append(intermediate_result.fun)
        printer.row(len(history), intermediate_result.fun, printer.elapsed)
        # df/dL L^T = 2 (L G L^T + L L^T - I): the stationarity of
        # :func:`stationarity` from the gradient just computed at this point,
        # so L-BFGS stops as soon as the certificate holds.
        x = intermediate_result.x
        if "x" in last and np.array_equal(last["x"], x):
            L = x.reshape(d, d)
            scaled = 0.5 * last["grad"].reshape(d, d) @ L.T
            if float(np.abs(scaled).max()) <= tol:
                raise StopIteration

    result = scipy.optimize.minimize(
        objective, np.eye(d).ravel(), jac=True,
        method="L-BFGS-B", callback=callback,
        options={"maxiter": max_iter, "gtol": tol * 1e-3, "ftol": 0.0,
                 "maxcor": 20},
    )
    L = result.x.reshape(d, d)
    residual = stationarity(Z, quadruplets, L)
    # The check of the start counts as an iteration, so n_iter >= 1.
    return L, float(result.fun), max(1, int(result.nit)), residual <= tol, residual


def components_in_units(L, W, n_components):
    """Components for the original points: the leading directions of
    ``(L W)^T (L W)``, with W the prior's whitener."""
    factor = L @ W
    magnitude = np.abs(factor).max()
    if magnitude == 0.0 or not np.isfinite(magnitude):
        magnitude = 1.0
    return components_from_factor(factor / magnitude, n_components) * magnitude
