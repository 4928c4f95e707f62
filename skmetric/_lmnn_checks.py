"""What an LMNN fit must pass, beyond L-BFGS's own tests, to claim convergence.

No larger scale of L may lower the objective (L-BFGS's tests are local and hold
near L = 0), and, when the impostor pairs are sampled, an independent sample
must confirm the objective estimated on the fitted one.
"""

import numpy as np

from ._kernels import pair_sq_dists
from ._lmnn_objective import _rows_matmul, _triplet_deltas


def best_scale_on_ray(problem, target_dists, impostor_anchor, impostor_dists,
                      sample_fraction=1.0):
    """Minimum of the objective at ``sqrt(s) L`` over s >= 1, from the distances at L.

    With P the pull sum, and ``delta = d_ij - d_il`` for the triplets of positive
    margin at L (the others stay inactive for s >= 1), the objective is
    ``phi(s) = ((1 - mu) s P + mu / f sum h(1 + s delta)) / n``: convex in s.

    Returns
    -------
    best : float
        The minimising s (1.0 when the derivative at 1 is not negative).
    loss, best_loss : float
        ``phi(1)`` and ``phi(best)``.
    """
    _, delta = _triplet_deltas(problem.target_ptr, impostor_anchor, target_dists,
                               impostor_dists)
    delta = delta[delta > -1.0]
    mu = problem.push_weight
    pull = (1.0 - mu) * target_dists.sum()
    push_weight = mu / sample_fraction
    n_samples = problem.X.shape[0]

    def phi(s):
        margin = np.maximum(1.0 + s * delta, 0.0)
        push = (margin * margin).sum() if problem.squared else margin.sum()
        return (s * pull + push_weight * push) / n_samples

    def slope(s):
        margin = 1.0 + s * delta
        active = margin > 0.0
        if problem.squared:
            push = 2.0 * (margin[active] * delta[active]).sum()
        else:
            push = delta[active].sum()
        return pull + push_weight * push

    loss = phi(1.0)
    if slope(1.0) >= 0.0:
        return 1.0, loss, loss
    low, high = 1.0, 2.0
    while slope(high) < 0.0 and high < 2.0**200:
        low, high = high, 2.0 * high
    for _ in range(100):
        if high - low <= 1e-9 * high:
            break
        middle = 0.5 * (low + high)
        if slope(middle) < 0.0:
            low = middle
        else:
            high = middle
    best = high
    return best, loss, phi(best)


def better_scale(problem, active, x, tol, pool=None):
    """``sqrt(s) x`` at the best scale s >= 1 of x, or None when s = 1 is best.

    The stopping tests of L-BFGS are local: near L = 0 (a stationary point
    of every LMNN objective, each term being quadratic in L) the gradient and
    the decrease per iteration are both tiny, though the objective is far
    from its minimum. Along the ray ``s -> sqrt(s) L`` every squared distance
    is multiplied by s, so the objective is a convex function of s (the pull
    term is linear in it, each hinge convex of an affine function), and the
    set ``active``, complete at x, stays complete for every s >= 1 (a pair
    left out has margins <= 0 there, which scaling up only lowers). Its
    minimum on ``s >= 1`` is found by bisection on the derivative; a gain of
    more than ``tol`` relative to the objective means x is not a minimum.
    """
    components = x.reshape(-1, problem.X.shape[1])
    embedded = _rows_matmul(problem.X, components.T, pool)
    target_dists = pair_sq_dists(embedded, problem.target_anchor,
                                 problem.target_index)
    impostor_dists = pair_sq_dists(embedded, active.anchor, active.index)
    best, loss, best_loss = best_scale_on_ray(
        problem, target_dists, active.anchor, impostor_dists, active.fraction)
    if not loss - best_loss > tol * abs(loss):
        return None
    return np.sqrt(best) * x


def sample_estimate(problem, active, x, pool=None):
    """Objective over a sampled set at x, and the standard error of its push.

    The error treats the sampled pairs as drawn independently, each with
    probability f: ``Var = (1 - f) / f^2 sum_p c_p^2`` over the pairs held,
    ``c_p`` the hinge terms of pair p.
    """
    components = x.reshape(-1, problem.X.shape[1])
    embedded = _rows_matmul(problem.X, components.T, pool)
    target_dists = pair_sq_dists(embedded, problem.target_anchor,
                                 problem.target_index)
    impostor_dists = pair_sq_dists(embedded, active.anchor, active.index)
    pair, delta = _triplet_deltas(problem.target_ptr, active.anchor,
                                  target_dists, impostor_dists)
    margin = np.maximum(1.0 + delta, 0.0)
    terms = margin * margin if problem.squared else margin
    per_pair = np.bincount(pair, terms, minlength=active.anchor.shape[0])
    f = active.fraction
    n_samples = problem.X.shape[0]
    mu = problem.push_weight
    loss = ((1.0 - mu) * target_dists.sum() + mu / f * per_pair.sum()) / n_samples
    error = mu / n_samples * np.sqrt((1.0 - f) / f**2 * np.sum(per_pair**2))
    return loss, error
