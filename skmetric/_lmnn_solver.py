"""LMNN's objective and its solver: L-BFGS over an active set of impostors."""

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from scipy.optimize import minimize

from ._kernels import (
    lmnn_push_loss_weights,
    pair_laplacian_matmul,
    pair_sq_dists,
)
from ._lmnn_neighbors import find_impostors

# The active set of impostor pairs holds every pair within (1 + slack) times the
# anchor's margin radius at the iterate of its search, so that most pairs that
# become impostors before the next check are already in it: _SEARCH_SLACK while
# every pair fits in the set, _SAMPLED_SLACK once the pairs have to be sampled
# (a wider ball would leave a smaller fraction of the active pairs in the sample),
# and from the start above _SAMPLED_ABOVE samples. It is
# checked first after _REFRESH_EVERY iterations; the interval grows by
# _REFRESH_GROWTH (up to _REFRESH_MAX) after a check that found the set complete
# and is halved after one that found it incomplete.
_REFRESH_EVERY = 10
_SEARCH_SLACK = 1.0
_SAMPLED_SLACK = 0.2
_SAMPLED_ABOVE = 20_000
_REFRESH_GROWTH = 1.5
_REFRESH_MAX = 50
# With sampled impostor pairs, a fit that over-fits its sample (as an independent
# sample shows) goes on with twice the pairs, a superset of its sample, up to
# _MAX_GROWTH times max_impostors; it ends unconverged when the check still fails
# there.
_MAX_GROWTH = 8
# Products over all samples go in chunks fixed by the number of rows only (so that
# the sums do not depend on the number of threads): _CHUNKS_PER_BLOCK chunks per
# _BLOCK_ROWS rows begun, of at least _MIN_CHUNK_ROWS rows.
_CHUNKS_PER_BLOCK = 8
_BLOCK_ROWS = 32_768
_MIN_CHUNK_ROWS = 256


# ---------------------------------------------------------------------------------
# Objective
# ---------------------------------------------------------------------------------


class LMNNProblem(NamedTuple):
    """What the LMNN objective depends on besides L and the impostor pairs."""

    X: np.ndarray  # (n_samples, n_features) float64 C
    target_anchor: np.ndarray  # (n_targets,) int64, non-decreasing
    target_index: np.ndarray  # (n_targets,) int64
    target_ptr: np.ndarray  # (n_samples + 1,) int64, CSR of the targets by anchor
    pull_scatter: np.ndarray  # (n_features, n_features), see _pull_scatter
    push_weight: float  # mu
    squared: bool  # squared hinge
    labels: np.ndarray = None  # (n_samples,) int64 class labels, for the searches


def lmnn_loss_grad(
    flat_components, problem, impostor_anchor, impostor_index, sample_fraction=1.0
):
    """LMNN objective and its gradient in L, over the given impostor pairs.

    The triplets are ``(i, j, l)`` for every pair ``(i, l)`` of the impostor
    arrays and every target neighbour j of i; with all pairs of different classes
    (or all those within the margin radius) this is the full LMNN objective.
    When the pairs are a random sample of a fraction of them, the push term is
    divided by that fraction, which makes it an unbiased estimate.

    Parameters
    ----------
    flat_components : ndarray of shape (n_components * n_features,)
        L, flattened row by row.
    problem : LMNNProblem
    impostor_anchor, impostor_index : ndarray of shape (m,), int64
        The pairs (i, l), l of another class than i.
    sample_fraction : float, default=1.0
        The fraction of the pairs the arrays were sampled from.

    Returns
    -------
    loss : float
    grad : ndarray of shape (n_components * n_features,)
    """
    loss, grad, _ = _loss_grad_active(
        flat_components, problem, impostor_anchor, impostor_index, sample_fraction
    )
    return loss, grad


def _loss_grad_active(
    flat_components, problem, impostor_anchor, impostor_index, sample_fraction=1.0,
    pool=None,
):
    """:func:`lmnn_loss_grad` plus the number of active triplets.

    The two products over all samples go by chunks of rows fixed by the number
    of samples, shared out to the threads of ``pool`` if given: the result is the
    same, to the last bit, with any number of threads.
    """
    X = problem.X
    components = flat_components.reshape(-1, X.shape[1])
    embedded = _rows_matmul(X, components.T, pool)
    target_dists = pair_sq_dists(embedded, problem.target_anchor, problem.target_index)
    return _loss_grad_embedded(problem, components, embedded, target_dists,
                               impostor_anchor, impostor_index, sample_fraction, pool)


def _loss_grad_embedded(problem, components, embedded, target_dists, impostor_anchor,
                        impostor_index, sample_fraction, pool):
    """:func:`_loss_grad_active` from the embedding and the target distances."""
    X = problem.X
    n_samples = X.shape[0]
    impostor_dists = pair_sq_dists(embedded, impostor_anchor, impostor_index)
    push, target_weights, impostor_weights, n_active = lmnn_push_loss_weights(
        target_dists, problem.target_ptr, impostor_anchor, impostor_dists,
        problem.squared,
    )
    mu = problem.push_weight
    mu_push = mu / sample_fraction
    loss = ((1.0 - mu) * target_dists.sum() + mu_push * push) / n_samples
    laplacian_embedded = pair_laplacian_matmul(
        embedded,
        np.concatenate((problem.target_anchor, impostor_anchor)),
        np.concatenate((problem.target_index, impostor_index)),
        mu_push * np.concatenate((target_weights, impostor_weights)),
    )
    grad = (1.0 - mu) * _rows_matmul(components, problem.pull_scatter, pool)
    grad += _inner_matmul(laplacian_embedded, X, pool)
    grad *= 2.0 / n_samples
    return loss, grad.ravel(), n_active


def _triplet_deltas(target_ptr, impostor_anchor, target_dists, impostor_dists):
    """``(pair, d_ij - d_il)`` for every triplet of the pairs: pair p, target j of i."""
    counts = target_ptr[impostor_anchor + 1] - target_ptr[impostor_anchor]
    pair = np.repeat(np.arange(impostor_anchor.shape[0]), counts)
    first = np.repeat(target_ptr[impostor_anchor] - np.cumsum(counts) + counts, counts)
    delta = target_dists[first + np.arange(pair.shape[0])] - impostor_dists[pair]
    return pair, delta


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


class _ThreadPool(ThreadPoolExecutor):
    """A thread pool that knows its size; its threads run numba on one thread."""

    def __init__(self, n_threads):
        super().__init__(n_threads, initializer=numba.set_num_threads, initargs=(1,))
        self.n_threads = n_threads


def _chunk_bounds(n_rows):
    """Row ranges of the chunks: fixed by ``n_rows`` alone."""
    n_blocks = -(-n_rows // _BLOCK_ROWS)
    n_chunks = max(1, min(_CHUNKS_PER_BLOCK * n_blocks, n_rows // _MIN_CHUNK_ROWS))
    bounds = np.linspace(0, n_rows, n_chunks + 1).astype(np.int64)
    return list(zip(bounds[:-1], bounds[1:]))


def _rows_matmul(A, B, pool):
    """``A @ B`` by chunks of rows of A, on the threads of ``pool`` (if any)."""
    out = np.empty((A.shape[0], B.shape[1]))

    def part(bounds):
        start, stop = bounds
        np.matmul(A[start:stop], B, out=out[start:stop])

    list((pool.map if pool is not None else map)(part, _chunk_bounds(A.shape[0])))
    return out


def _inner_matmul(A, B, pool):
    """``A.T @ B``: products of chunks of rows, summed in chunk order."""
    def part(bounds):
        start, stop = bounds
        return A[start:stop].T @ B[start:stop]

    parts = list((pool.map if pool is not None else map)(
        part, _chunk_bounds(A.shape[0])))
    total = parts[0]
    for other in parts[1:]:
        total += other
    return total


# ---------------------------------------------------------------------------------
# Solver: L-BFGS on the exact objective, over certified active sets of impostors
# ---------------------------------------------------------------------------------


class _ActiveSet(NamedTuple):
    """Impostor pairs of an exact search at ``reference`` and what certifies them."""

    anchor: np.ndarray  # (m,) int64, sorted
    index: np.ndarray  # (m,) int64
    fraction: float  # sampled fraction of all pairs
    halvings: int  # its level, fraction = 2**-halvings
    reference: np.ndarray  # (q, p) the L of the search
    radius: np.ndarray  # (n,) squared search radius of every anchor
    pinv: np.ndarray  # (p, q) pseudo-inverse of reference
    null_norms: np.ndarray  # (n,) |N x_i|, N the projector off its row space
    null_max: float
    embedded: np.ndarray  # (n, q) the embedding at reference

    @classmethod
    def searched(cls, problem, components, embedded, farthest, max_impostors, seed,
                 halvings, n_threads, slack):
        radius = (1.0 + slack) * (farthest + 1.0)
        anchor, index, fraction, _ = find_impostors(
            embedded, problem.labels, radius, max_impostors, seed,
            halvings=halvings, n_threads=n_threads,
        )
        left, singular, right = np.linalg.svd(components, full_matrices=False)
        rank = int(np.sum(singular > singular.max(initial=0.0) * 1e-12))
        pinv = (right[:rank].T / singular[:rank]) @ left[:, :rank].T
        if rank < problem.X.shape[1]:
            rows = right[:rank]
            off = problem.X - (problem.X @ rows.T) @ rows
            null_norms = np.sqrt(np.einsum("ij,ij->i", off, off))
        else:
            null_norms = np.zeros(problem.X.shape[0])
        return cls(anchor, index, fraction, int(round(-np.log2(fraction))),
                   components.copy(), radius, pinv, null_norms,
                   float(null_norms.max(initial=0.0)), embedded)

    def certifies_by_movement(self, embedded, farthest):
        """Whether no point moved enough for a left-out pair to become active.

        With ``a_j = |z_j - z0_j|`` the displacement of point j since the
        reference, a pair (i, l) left out (``|z0_i - z0_l|^2 >= r_i``) has
        ``|z_i - z_l| >= sqrt(r_i) - a_i - a_l``; at least ``sqrt(f_i + 1)`` for
        every i means every triplet of every left-out pair has a margin <= 0.
        """
        moved = embedded - self.embedded
        shift = np.sqrt(np.einsum("ij,ij->i", moved, moved))
        reach = np.sqrt(self.radius * (1.0 - 1e-9)) - shift - shift.max(initial=0.0)
        return bool(np.all((reach > 0.0) & (reach * reach >= farthest + 1.0)))

    def certifies(self, components, farthest):
        """Whether the set holds every active triplet at ``components``.

        A pair (i, l) left out has ``|R0 d| >= sqrt(r_i)`` at the reference R0
        (``d = x_i - x_l``). Splitting d on the row space of R0 (where ``(R -
        R0) d = (R - R0) R0^+ R0 d``) and off it (projector N), ``|R d| >= (1 -
        rho) |R0 d| - eta (|N x_i| + max_l |N x_l|)`` with ``rho = |(R - R0)
        R0^+|_2`` and ``eta = |R - R0|_F``. When that bound squared is at least
        ``f_i + 1`` (f_i the farthest target neighbour's squared distance at R),
        every triplet of the pair has a margin <= 0: the objective over the set
        is the exact one. rho is bounded by the Frobenius norm first, then by
        ``sqrt(|A|_1 |A|_inf)``, and computed exactly only when neither is
        enough.
        """
        step = components - self.reference
        eta = float(np.linalg.norm(step))
        if eta == 0.0:
            return True
        need = np.sqrt((farthest + 1.0) / (self.radius * (1.0 - 1e-9)))
        relative = step @ self.pinv
        # Upper bounds of the spectral norm, cheapest first, then the norm itself
        # (an SVD): a bound that certifies spares the rest.
        bounds = (lambda: np.linalg.norm(relative),
                  lambda: np.sqrt(np.linalg.norm(relative, 1)
                                  * np.linalg.norm(relative, np.inf)),
                  lambda: np.linalg.norm(relative, 2))
        for bound in bounds:
            rho = bound()
            if rho >= 1.0:
                continue
            reach = (1.0 - rho) - eta * (self.null_norms + self.null_max) / np.sqrt(
                self.radius)
            if np.all(reach >= need):
                return True
        return False


class _ActiveSetSolver:
    """L-BFGS on the objective restricted to an active set of impostor pairs.

    The set comes from an exact search (every pair within ``1 + slack``
    times its anchor's margin radius) and is checked every ``_REFRESH_EVERY``
    iterations at first, and when L-BFGS stops. A check first tries the
    certificates of :class:`_ActiveSet` (no search needed when they hold), else
    searches again. A new set that changes the objective at the current iterate
    (the old one missed an active triplet) restarts L-BFGS there; one that does
    not, after L-BFGS has converged, ends the fit. The checks become rarer by
    ``_REFRESH_GROWTH`` after a check that found the set complete, and twice as
    frequent after one that did not.
    """

    def __init__(self, problem, params, expand, printer, seed, n_threads):
        self.problem = problem
        self.params = params
        self.expand = expand
        self.printer = printer
        self.seed = seed
        self.n_threads = n_threads
        self.n_iter = 0
        self.n_searches = 0
        self.n_resamples = 0
        self.max_pairs = params.max_impostors  # the cap, doubled as the set grows
        self._check_seed = seed  # seeds of the independent samples: seed + 1, ...
        # Relative excess of a new sample's estimate over the fitted one, when the
        # last such check failed (else None).
        self.sample_gap = None
        self.loss = np.inf
        self.active = None
        self._pool = None
        self._last = None  # (x, loss, n_active) of the last evaluation
        self._last_refresh = 0
        self._refresh_every = float(_REFRESH_EVERY)
        self._restart = False
        self._changed = False  # the set changed during the current L-BFGS run
        # (estimate, x) of iterates evaluated on a sample they were not fitted to
        self._held_out = []

    def run(self, components):
        """Minimise from ``components``; return the final R and whether it converged."""
        if self.n_threads > 1:
            self._pool = _ThreadPool(self.n_threads)
        try:
            return self._run(components)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def _run(self, components):
        x = np.ascontiguousarray(components, dtype=np.float64).ravel()
        self._search(x)
        if self.active.fraction < 1.0:  # not yet fitted to it: a fair estimate
            self._held_out.append((self._estimate_at(x)[0], x))
        stalled_at = None
        while True:
            x_start = x
            self._restart = self._changed = False
            result = minimize(
                self._loss_grad, x, method="L-BFGS-B", jac=True,
                tol=self.params.tol, callback=self._on_iteration,
                options={"maxiter": self.params.max_iter - self.n_iter},
            )
            x = result.x
            self.loss = float(result.fun)
            if self.n_iter >= self.params.max_iter:
                return self._best_held_out(x).reshape(components.shape), False
            if self._restart:
                continue
            if not result.success:
                # The line search failed (the set changed under it, or rounding):
                # restart L-BFGS once from here; twice at one iterate is a stall.
                if stalled_at == self.n_iter:
                    return self._best_held_out(x).reshape(components.shape), False
                stalled_at = self.n_iter
                continue
            if self._changed:
                # Its stopping test may have compared values of two functions:
                # run L-BFGS again from here, on the one function of the set.
                continue
            if self._check_keeps_objective(x):
                scaled = self._better_scale(x)
                if scaled is not None:
                    x = scaled
                    continue
                if self.active.fraction < 1.0 and not self._holds_on_new_sample(x):
                    if not self._grow(x):
                        # Over-fitted even with the largest set allowed: the cap
                        # is too small for the objective; stop, and warn.
                        return self._best_held_out(x).reshape(components.shape), False
                    continue  # go on with the larger set
                return x.reshape(components.shape), True
            x = self._lower_of(x_start, x)

    def _lower_of(self, x_start, x):
        """Where to go on after the final check found new active triplets.

        A run on a set that missed impostors can end where the complete objective
        is higher than where the run began: with no impostor in the set, the pull
        term alone drives L to 0, a stationary point of every LMNN objective
        (each term is quadratic in L), which L-BFGS cannot leave. Of the run's
        start and end, the one with the lower objective under the new set is
        where the next run starts.
        """
        loss_end, _ = self._evaluation_at(x)
        loss_start, _ = self._evaluation_at(x_start)
        return x_start if loss_start < loss_end else x

    def _better_scale(self, x):
        """``sqrt(s) x`` at the best scale s >= 1 of x, or None when s = 1 is best.

        The stopping tests of L-BFGS are local: near L = 0 (a stationary point
        of every LMNN objective, each term being quadratic in L) the gradient and
        the decrease per iteration are both tiny, though the objective is far
        from its minimum. Along the ray ``s -> sqrt(s) L`` every squared distance
        is multiplied by s, so the objective is a convex function of s (the pull
        term is linear in it, each hinge convex of an affine function), and the
        set, complete at x, stays complete for every s >= 1 (a pair left out has
        margins <= 0 there, which scaling up only lowers). Its minimum on
        ``s >= 1`` is found by bisection on the derivative; a gain of more than
        ``tol`` relative to the objective means x is not a minimum, and the fit
        goes on from there.
        """
        problem, active = self.problem, self.active
        components = x.reshape(-1, problem.X.shape[1])
        embedded = _rows_matmul(problem.X, components.T, self._pool)
        target_dists = pair_sq_dists(embedded, problem.target_anchor,
                                     problem.target_index)
        impostor_dists = pair_sq_dists(embedded, active.anchor, active.index)
        best, loss, best_loss = best_scale_on_ray(
            problem, target_dists, active.anchor, impostor_dists, active.fraction)
        if not loss - best_loss > self.params.tol * abs(loss):
            return None
        return np.sqrt(best) * x

    def _holds_on_new_sample(self, x):
        """Whether x fits an independent sample of the pairs as well as its own.

        With sampled pairs (``max_impostors``) L-BFGS minimises an estimate of
        the objective over one fixed sample, which a small sample lets it
        over-fit: the estimate at x is then far below the objective. A new sample
        (another seed of the pair hash) gives an independent, unbiased estimate
        at x. When it exceeds the fitted one by more than ``tol`` relative plus
        three standard errors of their difference, x does not minimise the
        objective (:meth:`_grow` then enlarges the set). The new sample is drawn
        at the level of the fitted one, under the same cap, and is only used for
        this estimate.
        """
        fitted, fitted_error = self._estimate_at(x)
        self.n_resamples += 1
        fresh_set = self._independent_sample(x)
        fresh, fresh_error = self._estimate_at(x, fresh_set)
        self._held_out.append((fresh, x))
        allowed = self.params.tol * abs(fresh) + 3.0 * np.hypot(fitted_error,
                                                                fresh_error)
        holds = fresh - fitted <= allowed
        self.sample_gap = None if holds else (fresh - fitted) / fresh
        return holds

    def _grow(self, x):
        """Go on with twice the pairs, a superset of the fitted sample, if allowed.

        The samples are nested: with one seed, the sample of level j - 1 holds
        that of level j and as many pairs again, none fitted yet. The cap
        doubles with it, up to ``_MAX_GROWTH`` times ``max_impostors``; at
        level 0 the set holds every pair within the margins, the objective is
        exact and needs no further check. Returns False when the cap may not
        grow any more.
        """
        if self.max_pairs * 2 > _MAX_GROWTH * self.params.max_impostors:
            return False
        self.max_pairs *= 2
        self._search(x, halvings=self.active.halvings - 1)
        return True

    def _independent_sample(self, x):
        """A sample of pairs at x by a seed never used for fitting."""
        self._check_seed = (self._check_seed + 1) % np.iinfo(np.int32).max
        problem = self.problem
        components = x.reshape(-1, problem.X.shape[1])
        embedded = _rows_matmul(problem.X, components.T, self._pool)
        self.n_searches += 1
        return _ActiveSet.searched(
            problem, components, embedded, _farthest_targets(problem, embedded),
            self.max_pairs, self._check_seed, self.active.halvings, self.n_threads,
            _SAMPLED_SLACK,
        )

    def _best_held_out(self, x):
        """Where a fit that stops unconverged ends: x, or a better earlier iterate.

        After the pairs were resampled, the iterates estimated on a sample they
        were not fitted to are compared with x estimated on a new sample, and
        the lowest is returned: a fit that over-fits its samples returns no worse
        than where it started (as far as independent estimates tell).
        """
        if self.n_resamples == 0:
            return x
        if self._held_out[-1][1] is not x:
            self._held_out.append(
                (self._estimate_at(x, self._independent_sample(x))[0], x))
        loss, best = min(self._held_out, key=lambda item: item[0])
        self.loss = loss
        return best

    def _estimate_at(self, x, active=None):
        """Objective over a sampled set at x, and the standard error of its push.

        The set is ``active`` if given, else the fitted one. The error treats
        the sampled pairs as drawn independently, each with probability f:
        ``Var = (1 - f) / f^2 sum_p c_p^2`` over the pairs held, ``c_p`` the
        hinge terms of pair p.
        """
        problem = self.problem
        active = self.active if active is None else active
        components = x.reshape(-1, problem.X.shape[1])
        embedded = _rows_matmul(problem.X, components.T, self._pool)
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

    def _loss_grad(self, x):
        active = self.active
        loss, grad, n_active = _loss_grad_active(
            x, self.problem, active.anchor, active.index, active.fraction, self._pool,
        )
        self._last = (x.copy(), loss, n_active)
        return loss, grad

    def _evaluation_at(self, x):
        if self._last is None or not np.array_equal(self._last[0], x):
            self._loss_grad(x)
        return self._last[1], self._last[2]

    def _on_iteration(self, intermediate_result):
        self.n_iter += 1
        x = intermediate_result.x
        loss, n_active = self._evaluation_at(x)
        self.loss = loss
        self.printer.row(self.n_iter, loss, n_active, self.active.anchor.shape[0],
                         self.printer.elapsed)
        if self.params.callback is not None:
            self.params.callback(self.expand(x).ravel(), self.n_iter)
        if self.n_iter - self._last_refresh >= self._refresh_every:
            halvings = self.active.halvings
            if self._check_keeps_objective(x):
                self._refresh_every = min(
                    self._refresh_every * _REFRESH_GROWTH, _REFRESH_MAX
                )
                return
            if self.active.halvings == halvings:
                # The old set missed active triplets: check more often, and go
                # on with the set that holds them; L-BFGS keeps its curvature
                # pairs (the objective changed only where the old set was
                # incomplete) and the final check sees a complete set anyway.
                self._refresh_every = max(1.0, self._refresh_every / 2)
                self._changed = True
                return
            # A smaller sampled fraction scales the push term anew: restart.
            self._restart = True
            raise StopIteration

    def _check_keeps_objective(self, x):
        """Make sure the set is complete at x; tell whether the objective stayed.

        When a certificate of the current set holds at x, the set holds every
        active triplet there and no search is needed. Otherwise a new search
        holds them all (of the sampled pairs, if they are sampled), so the
        objective stays the same exactly when the sampled fraction did and the
        numbers of active triplets are equal.
        """
        self._last_refresh = self.n_iter
        problem = self.problem
        components = x.reshape(-1, problem.X.shape[1])
        embedded = _rows_matmul(problem.X, components.T, self._pool)
        farthest = _farthest_targets(problem, embedded)
        if (self.active.certifies_by_movement(embedded, farthest)
                or self.active.certifies(components, farthest)):
            return True
        _, old_active = self._evaluation_at(x)
        halvings = self.active.halvings
        self._search(x, embedded, farthest)
        _, new_active = self._evaluation_at(x)
        return self.active.halvings == halvings and new_active == old_active

    def _search(self, x, embedded=None, farthest=None, halvings=None):
        """Exact search of the pairs within the slackened margin radius at x.

        The sample's level is the current set's (or ``halvings``) unless more
        than ``max_pairs`` pairs are found there.
        """
        problem = self.problem
        components = x.reshape(-1, problem.X.shape[1])
        if embedded is None:
            embedded = _rows_matmul(problem.X, components.T, self._pool)
            farthest = _farthest_targets(problem, embedded)
        if halvings is None:
            halvings = self.active.halvings if self.active is not None else 0
        sampled = halvings > 0 or problem.X.shape[0] > _SAMPLED_ABOVE
        for slack in (_SAMPLED_SLACK,) if sampled else (_SEARCH_SLACK, _SAMPLED_SLACK):
            self.active = _ActiveSet.searched(
                problem, components, embedded, farthest, self.max_pairs,
                self.seed, halvings, self.n_threads, slack,
            )
            self.n_searches += 1
            if self.active.halvings == 0:
                break
        self._last = None


def _farthest_targets(problem, embedded):
    """Squared distance of every anchor to its farthest target neighbour."""
    target_dists = pair_sq_dists(embedded, problem.target_anchor, problem.target_index)
    # Every anchor has at least one target: no CSR slice is empty.
    return np.maximum.reduceat(target_dists, problem.target_ptr[:-1])
