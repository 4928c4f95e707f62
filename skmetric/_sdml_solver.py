"""Solver of sparse determinant metric learning (Qi et al., ICML 2009).

SDML's metric is the solution of a graphical lasso,

    min_{Theta > 0}  tr(S Theta) - log det Theta + alpha sum_{i != j} |Theta_ij|,

on ``S = M0^-1 + eta K``, with M0 the prior metric and K the (mean) pair scatter
``(1/m) sum_c y_c v_c v_c^T`` (y = +1 similar, -1 dissimilar). It is solved by
scikit-learn's coordinate descent, then, if needed, proximal gradient steps
on Theta (G-ISTA, Rolfs et al., NIPS 2012) with Barzilai-Borwein step sizes and
backtracking that keeps Theta positive definite; the answer is certified by the
duality gap.
"""

import warnings

import numpy as np
from sklearn.covariance import graphical_lasso
from sklearn.exceptions import ConvergenceWarning

from ._kernels import weighted_outer_sum

_RANK_RTOL = 1e-10
_STEP_MIN = 1e-14


def _soft_threshold_offdiagonal(A, threshold):
    out = np.sign(A) * np.maximum(np.abs(A) - threshold, 0.0)
    np.fill_diagonal(out, np.diag(A))
    return out


def _chol_logdet(A):
    """``(cholesky factor, log det)`` of A, or ``(None, nan)`` if not PD."""
    try:
        factor = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None, np.nan
    return factor, 2.0 * float(np.sum(np.log(np.diag(factor))))


def smooth_objective_grad(S, theta):
    """``tr(S Theta) - log det Theta`` and its gradient ``S - Theta^-1``
    (inf and None when Theta is not positive definite)."""
    _, logdet = _chol_logdet(theta)
    if np.isnan(logdet):
        return np.inf, None
    inverse = np.linalg.inv(theta)
    return float(np.sum(S * theta)) - logdet, S - (inverse + inverse.T) * 0.5


def graphical_lasso_objective(S, theta, alpha):
    """``tr(S Theta) - log det Theta + alpha |Theta|_1,off``; inf if not PD."""
    _, logdet = _chol_logdet(theta)
    if np.isnan(logdet):
        return np.inf
    off = np.abs(theta).sum() - np.abs(np.diag(theta)).sum()
    return float(np.sum(S * theta) - logdet + alpha * off)


def duality_gap(S, theta, alpha):
    """Primal minus dual objective at Theta: the dual point is ``W = S + U`` with
    U the off-diagonal part of ``Theta^-1 - S`` clipped to ``[-alpha, alpha]``
    (dual objective ``log det W + d``). Zero exactly at the optimum; inf when W
    is not positive definite."""
    d = S.shape[0]
    inverse = np.linalg.inv(theta)
    U = np.clip(inverse - S, -alpha, alpha)
    np.fill_diagonal(U, 0.0)
    _, logdet_dual = _chol_logdet(S + U)
    if np.isnan(logdet_dual):
        return np.inf
    return graphical_lasso_objective(S, theta, alpha) - logdet_dual - d


def solve_graphical_lasso(S, alpha, *, max_iter, tol, printer):
    """The graphical lasso on positive definite S, certified by the duality gap.

    scikit-learn's coordinate descent (``graphical_lasso``, mode 'cd') first:
    on a positive definite S it is fast and robust to ill-conditioning; then,
    if the certified gap is above ``tol``, proximal gradient steps (G-ISTA)
    from its answer until it is not, within ``max_iter`` iterations in all.
    Returns ``(Theta, n_iter, converged, gap)``.
    """
    theta = np.linalg.inv(S)  # the solution without penalty
    theta = (theta + theta.T) * 0.5
    n_done = 0
    if alpha > 0.0 and S.shape[0] > 1:  # else S^-1 is the solution
        with warnings.catch_warnings():
            # Its own convergence is judged below by the certified gap.
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                _, precision, n_done = graphical_lasso(
                    S, alpha, mode="cd", tol=max(tol, 1e-12),
                    enet_tol=max(min(1e-4, tol), 1e-12),
                    max_iter=max_iter,
                    return_n_iter=True)
                if np.all(np.isfinite(precision)) and _chol_logdet(
                        (precision + precision.T) * 0.5)[0] is not None:
                    theta = (precision + precision.T) * 0.5
            except FloatingPointError:
                n_done = 0  # G-ISTA from S^-1 below
    gap = duality_gap(S, theta, alpha)
    printer.row(max(1, n_done), graphical_lasso_objective(S, theta, alpha), gap,
                printer.elapsed)
    if gap <= tol:
        return theta, max(1, n_done), True, gap
    theta, n_iter, converged, gap = _proximal_gradient(
        S, alpha, theta, max_iter=max(1, max_iter - n_done), tol=tol,
        printer=printer)
    return theta, n_done + n_iter, converged, gap


def _proximal_gradient(S, alpha, theta, *, max_iter, tol, printer):
    """G-ISTA from Theta: ``(Theta, n_iter, converged, gap)``."""
    inverse = np.linalg.inv(theta)
    inverse = (inverse + inverse.T) * 0.5
    # A safe first step: the gradient of -log det is 1/lambda_min(Theta)^2
    # Lipschitz near Theta.
    step = np.linalg.eigvalsh(theta)[0] ** 2
    gap = duality_gap(S, theta, alpha)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if gap <= tol:
            # The check of the start counts as an iteration: n_iter >= 1.
            return theta, max(1, n_iter - 1), True, gap
        grad = S - inverse
        smooth = float(np.sum(S * theta)) - _chol_logdet(theta)[1]
        while True:
            candidate = _soft_threshold_offdiagonal(theta - step * grad,
                                                    step * alpha)
            candidate = (candidate + candidate.T) * 0.5
            factor, logdet = _chol_logdet(candidate)
            if factor is not None:
                diff = candidate - theta
                smooth_new = float(np.sum(S * candidate)) - logdet
                bound = smooth + float(np.sum(grad * diff)) + np.sum(diff * diff) / (
                    2.0 * step)
                if smooth_new <= bound + 1e-12 * abs(bound):
                    break
            step *= 0.5
            if step < _STEP_MIN:
                return theta, n_iter, False, gap
        new_inverse = np.linalg.inv(candidate)
        new_inverse = (new_inverse + new_inverse.T) * 0.5
        diff = candidate - theta
        curvature = -float(np.sum(diff * (new_inverse - inverse)))
        # Barzilai-Borwein step for the next iteration (the smooth part's
        # gradient changes by -(Theta^-1 change)).
        step = float(np.sum(diff * diff)) / curvature if curvature > 0.0 else step
        theta, inverse = candidate, new_inverse
        value = graphical_lasso_objective(S, theta, alpha)
        gap = duality_gap(S, theta, alpha)
        printer.row(n_iter, value, gap, printer.elapsed)
    return theta, n_iter, gap <= tol, gap


def span_basis(points):
    """Orthonormal basis (d, r) of the span of the centred points (r its
    numerical rank after scaling every feature to unit spread)."""
    centred = points - points.mean(axis=0)
    spread = np.sqrt(np.einsum("ij,ij->j", centred, centred))
    # A constant feature centres to rounding noise, not to zero: a spread that
    # small next to the others' counts as none, and its column as zero.
    flat = spread <= 1e-12 * max(spread.max(), 0.0)
    spread[flat] = 1.0
    scaled = centred / spread
    scaled[:, flat] = 0.0
    _, singular, vt = np.linalg.svd(scaled, full_matrices=False)
    keep = singular > np.sqrt(_RANK_RTOL) * max(singular[0], 0.0) if singular.size \
        else np.zeros(0, dtype=bool)
    # A direction v of the scaled points is spread * v in the units of the data.
    directions = (vt[keep] * spread).T
    q, _ = np.linalg.qr(directions)
    return q


def pair_scatter(Z, pairs, similar):
    """``K = (1/m) sum_c y_c v_c v_c^T`` (y = +1 similar, -1 dissimilar)."""
    left = np.ascontiguousarray(pairs[:, 0], dtype=np.int64)
    right = np.ascontiguousarray(pairs[:, 1], dtype=np.int64)
    weights = np.where(similar, 1.0, -1.0) / pairs.shape[0]
    return weighted_outer_sum(np.ascontiguousarray(Z), left, right, weights)


def largest_balance(prior_inverse, K):
    """The supremum of eta with ``prior_inverse + eta K`` positive definite
    (inf when K is positive semi-definite)."""
    values, vectors = np.linalg.eigh(prior_inverse)
    root = vectors / np.sqrt(values)
    most_negative = np.linalg.eigvalsh(root.T @ K @ root)[0]
    return np.inf if most_negative >= 0.0 else -1.0 / most_negative
