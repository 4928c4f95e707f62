"""LMNN's objective and its solver: L-BFGS over an active set of impostors."""

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from ._kernels import (
    _BLOCK_ELEMENTS,
    lmnn_push_loss_weights,
    pair_laplacian_matmul,
    pair_sq_dists,
)
from ._lmnn_neighbors import find_impostors

# The active set of impostor pairs is recomputed by an exact search at the current
# iterate, first after _REFRESH_EVERY iterations. It holds every pair within
# (1 + _SEARCH_SLACK) times the anchor's margin radius, so that most pairs that
# become impostors before the next search are already in it. The interval grows
# by _REFRESH_GROWTH (up to _REFRESH_MAX) after a search that found the set
# complete and is halved after one that found it incomplete.
_REFRESH_EVERY = 10
_SEARCH_SLACK = 0.2
_REFRESH_GROWTH = 1.5
_REFRESH_MAX = 50
# Evaluations whose products over all samples cost more than this many
# multiply-adds (n_samples n_features n_components) share them out to threads.
_EVAL_WORK = 2**26


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

    With a thread ``pool``, the two products over all samples are split by rows
    among its threads (same result up to rounding).
    """
    X = problem.X
    n_samples, n_features = X.shape
    components = flat_components.reshape(-1, n_features)
    embedded = _rows_matmul(X, components.T, pool)
    target_dists = pair_sq_dists(embedded, problem.target_anchor, problem.target_index)
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
    grad = (1.0 - mu) * (components @ problem.pull_scatter)
    grad += _inner_matmul(laplacian_embedded, X, pool)
    grad *= 2.0 / n_samples
    return loss, grad.ravel(), n_active


class _ThreadPool(ThreadPoolExecutor):
    """A thread pool that knows its size."""

    def __init__(self, n_threads):
        super().__init__(n_threads)
        self.n_threads = n_threads


def _row_bounds(n_rows, pool):
    bounds = np.linspace(0, n_rows, pool.n_threads + 1).astype(np.int64)
    return list(zip(bounds[:-1], bounds[1:]))


def _rows_matmul(A, B, pool):
    """``A @ B``, the rows of A shared out to the threads of ``pool`` (if any)."""
    if pool is None:
        return A @ B
    out = np.empty((A.shape[0], B.shape[1]))

    def part(bounds):
        start, stop = bounds
        np.matmul(A[start:stop], B, out=out[start:stop])

    list(pool.map(part, _row_bounds(A.shape[0], pool)))
    return out


def _inner_matmul(A, B, pool):
    """``A.T @ B``, summed over row ranges computed by the threads of ``pool``."""
    if pool is None:
        return A.T @ B
    parts = pool.map(lambda bounds: A[bounds[0]:bounds[1]].T @ B[bounds[0]:bounds[1]],
                     _row_bounds(A.shape[0], pool))
    return sum(parts)


# ---------------------------------------------------------------------------------
# Solver: L-BFGS over an active set of impostors
# ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries loaded in this process (looked up once: it takes ms)."""
    return ThreadpoolController().select(user_api="blas")


class _BlasThreads:
    """Keep BLAS on one thread; give the impostor search its own threads instead.

    OpenBLAS threads synchronise by spinning: on a busy machine (or with the two
    OpenBLAS copies that NumPy and scipy's L-BFGS-B may load) a fit slowed down
    several times over with them. So the fit runs BLAS on one thread, and the
    impostor search, the part worth parallelising, shares its blocks out to
    ``threads`` Python threads (the products and the numba kernel release the
    GIL), as many as BLAS had.
    """

    def __init__(self):
        self._controller = _blas_controller()
        self.threads = max(
            [lib.num_threads for lib in self._controller.lib_controllers], default=1
        )

    def limit(self, threads):
        """Context manager: at most ``threads`` BLAS threads inside it."""
        return self._controller.limit(limits=threads)


class _ActiveSetSolver:
    """L-BFGS on the objective restricted to an active set of impostor pairs.

    The set is refreshed by an exact search every ``_REFRESH_EVERY`` iterations
    and when L-BFGS stops. A refresh that changes the objective at the current
    iterate (the old set missed an active triplet) restarts L-BFGS there; one
    that does not after L-BFGS has converged ends the fit.
    """

    def __init__(self, problem, members, params, scale, printer, seed, blas):
        self.problem = problem
        self.members = members
        self.params = params
        self.scale = scale
        self.printer = printer
        self.seed = seed
        self.blas = blas
        self.n_iter = 0
        self.loss = np.inf
        self.impostor_anchor = self.impostor_index = np.empty(0, np.int64)
        self.fraction = 1.0
        # Threads pay off once the search spans several blocks, and for the
        # products of an evaluation once they are large.
        n_pairs = problem.X.shape[0] ** 2 // 2
        self._search_threads = blas.threads if n_pairs > 4 * _BLOCK_ELEMENTS else 1
        self._pool = None
        self._last = None  # (x, loss, n_active) of the last evaluation
        self._last_refresh = 0
        self._refresh_every = float(_REFRESH_EVERY)
        self._refreshed_at = None
        self._restart = False

    def run(self, components):
        """Minimise from ``components``; return the final L and whether it converged."""
        n_samples, n_features = self.problem.X.shape
        work = n_samples * n_features * components.shape[0]
        if self.blas.threads > 1 and work > _EVAL_WORK:
            self._pool = _ThreadPool(self.blas.threads)
        try:
            return self._run(components)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def _run(self, components):
        x = np.ascontiguousarray(components, dtype=np.float64).ravel()
        self._refresh(x)
        while True:
            self._restart = False
            result = minimize(
                self._loss_grad, x, method="L-BFGS-B", jac=True,
                tol=self.params.tol, callback=self._on_iteration,
                options={"maxiter": self.params.max_iter - self.n_iter},
            )
            x = result.x
            self.loss = float(result.fun)
            if self.n_iter >= self.params.max_iter:
                return x.reshape(components.shape), False
            if self._restart:
                continue
            checked = self._refreshed_at is not None and np.array_equal(
                self._refreshed_at, x
            )
            if checked or self._refresh_keeps_objective(x):
                return x.reshape(components.shape), True

    def _loss_grad(self, x):
        loss, grad, n_active = _loss_grad_active(
            x, self.problem, self.impostor_anchor, self.impostor_index, self.fraction,
            self._pool,
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
        self.printer.row(self.n_iter, loss, n_active, self.impostor_anchor.shape[0],
                         self.printer.elapsed)
        if self.params.callback is not None:
            self.params.callback(x / self.scale, self.n_iter)
        if self.n_iter - self._last_refresh >= self._refresh_every:
            fraction = self.fraction
            if self._refresh_keeps_objective(x):
                self._refresh_every = min(
                    self._refresh_every * _REFRESH_GROWTH, _REFRESH_MAX
                )
                return
            if self.fraction == fraction:
                # The old set missed active triplets: search more often.
                self._refresh_every = max(1.0, self._refresh_every / 2)
            # The objective L-BFGS knew at x changed: restart it there.
            self._restart = True
            raise StopIteration

    def _refresh_keeps_objective(self, x):
        """Refresh the set at x; tell whether the objective at x stayed the same.

        The new set holds every active triplet at x (of the sampled pairs, if
        they are sampled), so the objective stays the same exactly when the
        sampled fraction did and the old set held them all too: the numbers of
        active triplets are equal.
        """
        _, old_active = self._evaluation_at(x)
        fraction = self.fraction
        self._refresh(x)
        _, new_active = self._evaluation_at(x)
        return self.fraction == fraction and new_active == old_active

    def _refresh(self, x):
        """Exact search of the pairs within the slackened margin radius at x."""
        problem = self.problem
        embedded = problem.X @ x.reshape(-1, problem.X.shape[1]).T
        target_dists = pair_sq_dists(embedded, problem.target_anchor,
                                     problem.target_index)
        # Every anchor has at least one target: no CSR slice is empty.
        farthest = np.maximum.reduceat(target_dists, problem.target_ptr[:-1])
        anchor, index, self.fraction, _ = find_impostors(
            embedded, self.members, (1.0 + _SEARCH_SLACK) * (farthest + 1.0),
            self.params.max_impostors, self.seed, n_threads=self._search_threads,
        )
        self.impostor_anchor, self.impostor_index = anchor, index
        self._last = None
        self._last_refresh = self.n_iter
        self._refreshed_at = x.copy()
