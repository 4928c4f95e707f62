"""LMNN's solver: L-BFGS over a certified active set of impostor pairs."""

import numpy as np
from scipy.optimize import minimize

from ._lmnn_active_set import _ActiveSet
from ._lmnn_checks import better_scale, sample_estimate
from ._lmnn_objective import (
    _farthest_targets,
    _loss_grad_active,
    _rows_matmul,
    _ThreadPool,
)

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
# The spectral certificate of an active set (_ActiveSet.certifies: an SVD of L,
# O(q p min(q, p))) is no longer tried after it failed this many times in a row;
# the bound by movement (O(n q)) always is. Measured on iris to mnist, yaleb32 and
# 100k synthetic rows, the spectral certificate never held, and on wide data it
# cost more than the search it was to spare (yaleb32: 14.7 s of a 52.5 s fit).
_CERTIFICATE_TRIES = 2


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
        self._certificate_failures = 0
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
        """:func:`better_scale` of x on the current set."""
        return better_scale(self.problem, self.active, x, self.params.tol, self._pool)

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
        """:func:`sample_estimate` at x on ``active``, else on the fitted set."""
        return sample_estimate(self.problem, self.active if active is None else active,
                               x, self._pool)

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
        if self.active.certifies_by_movement(embedded, farthest):
            return True
        if self._certificate_failures < _CERTIFICATE_TRIES:
            if self.active.certifies(components, farthest):
                self._certificate_failures = 0
                return True
            self._certificate_failures += 1
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
