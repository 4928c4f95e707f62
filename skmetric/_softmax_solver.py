"""The solver shared by the neighbour-softmax learners, NCA and MLKR.

Both minimise a mean over the points of a loss that depends on L only through
the soft neighbour weights ``p_ik = softmax_k(-|L x_i - L x_k|^2)`` (see
:mod:`skmetric._kernels.softmax`). The objective is evaluated block by block of
rows (memory O(block n), never an n x n matrix), exactly over all points or
truncated to per-point candidate neighbours, and minimised by L-BFGS
(``scipy.optimize.minimize``) under one convergence policy:

- exact: the fit has converged when the largest entry of the gradient of the
  mean loss is at most ``tol``;
- truncated: the candidates are the ``n_neighbors`` nearest points in the
  current metric; L-BFGS runs on fixed candidates, which are then recomputed
  at its end point; the fit has converged when the gradient with the
  recomputed candidates is at most ``tol`` (checked the same way), and goes on
  with them otherwise, within ``max_iter`` iterations in all.
"""

import numpy as np
from scipy.optimize import minimize

from ._kernels import (
    _BLOCK_ELEMENTS,
    block_rows,
    mlkr_weights,
    nca_weights,
    nearest_from_gram,
    neighbour_sq_dists,
    neighbour_weighted_sum,
    row_sq_norms,
    sq_dist_row_blocks,
)

WEIGHT_KERNELS = {"nca": nca_weights, "mlkr": mlkr_weights}


def softmax_loss_grad(flat_components, X, targets, kind, neighbours=None,
                      block_elements=_BLOCK_ELEMENTS, buffer=None):
    """Mean loss of a neighbour-softmax learner and its gradient in L.

    Parameters
    ----------
    flat_components : ndarray of shape (n_components * n_features,)
        L, flattened row by row.
    X : ndarray of shape (n_samples, n_features), float64 C
    targets : ndarray of shape (n_samples,)
        int64 class codes (``kind='nca'``) or float64 targets (``'mlkr'``).
    kind : {'nca', 'mlkr'}
    neighbours : ndarray of shape (n_samples, m), int64, or None
        Candidate neighbours of every point (truncated softmax), or None for the
        exact softmax over all points.
    block_elements : int
        Entries of a block of the exact objective (memory bound).
    buffer : ndarray or None
        Exact softmax: float64 C-contiguous scratch of at least
        ``min(n_samples, block_rows(n_samples, block_elements)) * n_samples``
        entries for the blocks of distances and weights (:func:`softmax_buffer`),
        so that repeated evaluations reuse one piece of memory; None allocates it.

    Returns
    -------
    loss : float
        ``mean_i loss_i`` (NCA: minus the mean probability of a correct
        classification; MLKR: the mean squared leave-one-out error).
    grad : ndarray of shape (n_components * n_features,)
        ``(2 / n) L S`` with ``S = sum_ik W_ik (x_i - x_k)(x_i - x_k)^T``.

    Notes
    -----
    S is assembled from the row sums r and column sums c of W and from ``W X``
    as ``X^T diag(r + c) X - X^T W X - (X^T W X)^T``: cost O(n^2 (r + d)) exact,
    O(n m (r + d) + n d^2) truncated; memory O(block_elements + n d).
    """
    n_samples, n_features = X.shape
    components = flat_components.reshape(-1, n_features)
    Z = np.ascontiguousarray(X @ components.T)
    weights = WEIGHT_KERNELS[kind]
    total = 0.0
    if neighbours is None:
        degrees = np.zeros(n_samples)
        weighted = np.empty_like(X)
        columns = np.arange(n_samples, dtype=np.int64)[None, :]
        for start, stop, sq_dists in sq_dist_row_blocks(Z, Z, block_elements,
                                                        buffer):
            rows = np.arange(start, stop, dtype=np.int64)
            # The weights overwrite the distances they come from.
            W, loss = weights(sq_dists, rows, columns, targets, sq_dists)
            total += loss.sum()
            degrees += W.sum(axis=0)
            degrees[start:stop] += W.sum(axis=1)
            np.matmul(W, X, out=weighted[start:stop])
    else:
        rows = np.arange(n_samples, dtype=np.int64)
        sq_dists = neighbour_sq_dists(Z, rows, neighbours)
        W, loss = weights(sq_dists, rows, neighbours, targets, sq_dists)
        total = loss.sum()
        degrees = np.bincount(neighbours.ravel(), weights=W.ravel(),
                              minlength=n_samples) + W.sum(axis=1)
        weighted = neighbour_weighted_sum(W, neighbours, X)
    cross = X.T @ weighted
    scatter = X.T @ (X * degrees[:, None]) - cross - cross.T
    grad = (2.0 / n_samples) * (components @ scatter)
    return total / n_samples, grad.ravel()


def softmax_buffer(n_samples, block_elements=_BLOCK_ELEMENTS):
    """Scratch for the blocks of the exact objective, allocated once per fit."""
    return np.empty(min(n_samples, block_rows(n_samples, block_elements)) * n_samples)


def nearest_candidates(Z, n_neighbors, block_elements=_BLOCK_ELEMENTS):
    """The ``n_neighbors`` nearest other points of every row of Z, nearest first.

    Blocks of the Gram matrix go through BLAS; the selection is the numba kernel
    ``nearest_from_gram``. Returns an (n, n_neighbors) int64 array. Cost
    O(n^2 r), memory O(block_elements).
    """
    n_samples = Z.shape[0]
    sq_norms = row_sq_norms(Z)
    step = max(1, block_elements // max(1, n_samples))
    out = np.empty((n_samples, n_neighbors), dtype=np.int64)
    for start in range(0, n_samples, step):
        stop = min(n_samples, start + step)
        gram = np.ascontiguousarray(Z[start:stop] @ Z.T)
        out[start:stop] = nearest_from_gram(gram, sq_norms[start:stop], sq_norms,
                                            n_neighbors, start)
    return out


def minimize_softmax(X, targets, kind, components, *, n_neighbors, max_iter, tol,
                     printer, block_elements=_BLOCK_ELEMENTS):
    """Minimise the mean loss over L by L-BFGS under the convergence policy.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64 C
    targets : ndarray of shape (n_samples,)
    kind : {'nca', 'mlkr'}
    components : ndarray of shape (n_components, n_features)
        Starting L.
    n_neighbors : int or None
        Candidates per point (truncated softmax), or None (exact).
    max_iter : int
        L-BFGS iterations in all.
    tol : float
        Largest gradient entry at which the fit counts as converged.
    printer : VerbosePrinter
        Receives one row per iteration: iteration, loss, largest gradient
        entry, seconds.

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
    n_iter : int
    converged : bool
    loss : float
    grad_max : float
        Largest gradient entry at the returned L (with recomputed candidates
        when truncated).
    """
    # The kernels take writeable C arrays: a read-only X (a joblib memmap) would
    # compile a second specialisation of each; a copy only in that case.
    X = np.require(X, dtype=np.float64, requirements=["C", "W"])
    shape = components.shape
    flat = components.ravel().copy()
    n_iter = 0
    state = {}

    # One block of distances and weights for every evaluation of the exact
    # objective (fresh memory would be paged in anew at each evaluation).
    buffer = softmax_buffer(X.shape[0], block_elements) if n_neighbors is None else None

    def make_objective(neighbours):
        def objective(x):
            loss, grad = softmax_loss_grad(x, X, targets, kind, neighbours,
                                           block_elements, buffer)
            state["loss"], state["grad_max"] = loss, float(np.max(np.abs(grad)))
            return loss, grad
        return objective

    def callback(xk):
        state["iteration"] = state.get("iteration", 0) + 1
        printer.row(state["iteration"], state["loss"], state["grad_max"],
                    printer.elapsed)

    neighbours = None
    if n_neighbors is not None:
        neighbours = nearest_candidates(X @ flat.reshape(shape).T, n_neighbors,
                                        block_elements)
    while True:
        result = minimize(
            make_objective(neighbours), flat, jac=True, method="L-BFGS-B",
            callback=callback,
            options={"maxiter": max_iter - n_iter, "gtol": tol, "ftol": 0.0,
                     "maxcor": 10},
        )
        n_iter += int(result.nit)
        flat = result.x
        if n_neighbors is None:
            loss, grad = make_objective(None)(flat)
            break
        neighbours = nearest_candidates(X @ flat.reshape(shape).T, n_neighbors,
                                        block_elements)
        loss, grad = make_objective(neighbours)(flat)
        if np.max(np.abs(grad)) <= tol or n_iter >= max_iter or result.nit == 0:
            break
    grad_max = float(np.max(np.abs(grad)))
    converged = bool(np.isfinite(loss) and grad_max <= tol)
    return flat.reshape(shape).copy(), n_iter, converged, float(loss), grad_max


def rows_by_target(X, targets):
    """X and targets with the rows sorted by target (stable): new arrays.

    The truncated objective is a mean over the points and each point's
    candidates are found anew in the metric, so the order of the rows does not
    change the problem (only the rounding of the sums, and which of two
    candidates at exactly the same distance counts as the nearer: the one in
    the earlier row of the sorted order). It changes the speed: a point's
    candidates mostly share its class (or lie near its target), so with the
    rows of a class together the gathers of their rows in
    ``neighbour_sq_dists`` and ``neighbour_weighted_sum`` stay within a
    smaller part of X (measured at 100 000 rows of 50 features, 10 classes,
    2 threads: an evaluation of the objective 1.07 s against 1.23 s in the
    given order; the gathers alone, on one thread with random candidates
    within the class against random candidates anywhere, 3 to 4 times faster).
    """
    order = np.argsort(targets, kind="stable")
    return np.ascontiguousarray(X[order]), np.ascontiguousarray(targets[order])


def fit_softmax_learner(estimator, X, targets, kind, init_labels):
    """Fit NCA or MLKR on checked data: the steps their ``fit`` share.

    Checks ``n_components`` and ``n_neighbors`` against the data, draws the
    starting L (``init``; ``init_labels`` are the class codes for 'lda', all
    zeros for MLKR so that 'auto' never picks it), minimises under the thread
    policy, sets ``components_``, ``n_iter_`` and ``n_neighbors_`` and warns when
    the convergence check fails. Returns the estimator.
    """
    from sklearn.utils import check_random_state

    from ._base import VerbosePrinter, warn_not_converged
    from ._init import initial_components
    from ._threads import fit_n_jobs, thread_limits

    n_samples, n_features = X.shape
    n_components = estimator.n_components or n_features
    if n_components > n_features:
        raise ValueError(
            f"n_components={n_components} must be at most the number of "
            f"features, {n_features}."
        )
    n_neighbors = estimator.n_neighbors
    if n_neighbors is not None and n_neighbors >= n_samples:
        raise ValueError(
            f"n_neighbors={n_neighbors} must be below n_samples={n_samples} (the "
            "candidates of a point are other points); use n_neighbors=None for "
            "the exact softmax over all points."
        )
    rng = check_random_state(estimator.random_state)
    printer = VerbosePrinter(estimator, [("Iteration", "d"), ("Loss", ".6e"),
                                         ("Max|grad|", ".2e"), ("Time(s)", ".2f")])
    softmax = ("exact softmax" if n_neighbors is None
               else f"softmax over the {n_neighbors} nearest")
    with thread_limits(fit_n_jobs(estimator.n_jobs, n_samples)):
        # The starting map ('pca', 'lda': decompositions) under the policy too.
        components = initial_components(estimator.init, X, init_labels,
                                        n_components, rng)
        printer.start(f"Fitting {n_components} components on {n_samples} samples, "
                      f"{n_features} features, {softmax}.")
        X_fit, targets_fit = X, targets
        if n_neighbors is not None:
            X_fit, targets_fit = rows_by_target(X, targets)
        components, n_iter, converged, loss, grad_max = minimize_softmax(
            X_fit, targets_fit, kind, components, n_neighbors=n_neighbors,
            max_iter=estimator.max_iter, tol=estimator.tol, printer=printer)
    printer.summary(f"{'Converged' if converged else 'Stopped'} after {n_iter} "
                    f"iterations, loss {loss:.6e}, max|grad| {grad_max:.2e},")
    estimator.components_ = components
    estimator.n_iter_ = n_iter
    if not converged:
        warn_not_converged(estimator, estimator.max_iter,
                           f"The largest gradient entry is {grad_max:.2e} > "
                           f"tol={estimator.tol:g}.")
    return estimator
