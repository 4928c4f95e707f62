"""The solver of :class:`CollaborativeMetricLearning`: batches, loss, gradient, steps.

Parameters of the model:

- ``P`` (n_users, k): user vectors;
- ``V`` (n_items, k): the items' free vectors;
- ``W`` (n_features, k) and the item features ``F`` (n_items, n_features), when
  item features are given: item j sits at ``Q_j = V_j + F_j W``; otherwise
  ``Q = V``.

One step takes a batch of interactions, draws ``n_negatives`` items for each
(uniformly, in NumPy, from the random generator of the fit), and follows the
gradient of

    L = sum_b s_b w_b [margin + |P_u - Q_i|^2 - |P_u - Q_j|^2]_+
        + covariance_weight * (1/2) sum_{a != c} C_ac^2
        + feature_weight * sum_j |Q_j - F_j W|^2,

with ``s_b`` the interaction's weight, ``w_b`` the WARP rank weight and ``j`` the
hardest sampled negative (``skmetric._kernels.cml_hinge_terms``), and C the
covariance matrix of the batch's distinct user and item vectors (the rows the
step moves). The last term (with item features only) is the feature loss of
Hsieh et al.: it pulls each of the batch's items with training interactions
toward the position its features give, ``F_j W``; as ``Q_j - F_j W = V_j``, it
penalises the free vectors, so that the map W must explain the positions. Updates are Adagrad (or plain SGD) on the rows the batch touches,
then every moved vector is clipped to the unit ball.

Every step is deterministic for a given random generator, and the parallel
kernels write disjoint rows, so the fit does not depend on the thread count.
"""

import numpy as np

from .._kernels import (
    adagrad_update_rows,
    add_rows,
    cml_hinge_terms,
    cml_scatter_grads,
    owned_item_sets,
    sgd_update_rows,
)

# Radius of the ball every user and item vector is clipped to.
MAX_NORM = 1.0
# Most sampled negatives drawn at once (int64 entries, 32 MiB): an epoch draws
# them chunk of batches by chunk, never n_interactions x n_negatives at once.
_CHUNK_NEGATIVES = 2**22


class CMLState:
    """Parameters, Adagrad accumulators and gradient buffers of one fit."""

    def __init__(self, P, V, W=None, F=None, free_items=None):
        self.P = P
        self.V = V
        self.W = W
        self.F = F
        # Items whose free vector may move (those with training interactions);
        # the others keep V_j = 0 and sit at F_j W (or nowhere, without features).
        self.free_items = (np.ones(V.shape[0], dtype=bool) if free_items is None
                           else free_items)
        self.acc_P = np.zeros_like(P)
        self.acc_V = np.zeros_like(V)
        self.acc_W = None if W is None else np.zeros_like(W)
        self.grad_P = np.zeros_like(P)
        self.grad_Q = np.zeros_like(V)
        # Gradient of the feature loss in V (W does not enter it).
        self.grad_V = None if W is None else np.zeros_like(V)
        self._new_marks()
        self.Q = self.positions()

    def _new_marks(self):
        # Marks of the rows a batch has listed (cml_scatter_grads): one stamp
        # per batch, so the marks are never cleared.
        self.user_mark = np.full(self.P.shape[0], -1, dtype=np.int64)
        self.item_mark = np.full(self.V.shape[0], -1, dtype=np.int64)
        self.stamp = 0

    def distinct_rows(self, users, positives, hardest, coef):
        """Scatter the hinge gradient at ``P``, ``Q`` (``cml_scatter_grads``) and
        return the batch's distinct user rows and item rows, each sorted."""
        n = users.shape[0]
        user_rows = np.empty(n, dtype=np.int64)
        item_rows = np.empty(2 * n, dtype=np.int64)
        n_u, n_i = cml_scatter_grads(
            self.P, self.Q, users, positives, hardest, coef, self.grad_P,
            self.grad_Q, self.user_mark, self.item_mark, self.stamp, user_rows,
            item_rows)
        self.stamp += 1
        return np.sort(user_rows[:n_u]), np.sort(item_rows[:n_i])

    def positions(self):
        """Item positions ``V + F W`` (or V), float64 C-contiguous.

        Items without a free vector (no training interaction) sit at ``F_j W``
        projected on the unit ball, like every other position.
        """
        if self.W is None:
            return self.V
        Q = self.V + self.F @ self.W
        _project_fixed(Q, self.free_items)
        return np.ascontiguousarray(Q)

    def grow(self, n_users, n_items, rng):
        """Add rows for new user and item ids (partial_fit), drawn as at the start."""
        k = self.P.shape[1]
        if n_users > self.P.shape[0]:
            extra = initial_vectors(n_users - self.P.shape[0], k, rng)
            self.P = np.vstack([self.P, extra])
            self.acc_P = np.vstack([self.acc_P, np.zeros_like(extra)])
            self.grad_P = np.zeros_like(self.P)
        if n_items > self.V.shape[0]:
            extra = initial_vectors(n_items - self.V.shape[0], k, rng)
            self.V = np.vstack([self.V, extra])
            self.acc_V = np.vstack([self.acc_V, np.zeros_like(extra)])
            self.grad_Q = np.zeros_like(self.V)
            self.grad_V = None if self.W is None else np.zeros_like(self.V)
            self.free_items = np.concatenate(
                [self.free_items, np.ones(extra.shape[0], dtype=bool)])
        self._new_marks()
        self.Q = self.positions()


def initial_vectors(n, k, rng):
    """Gaussian vectors of expected squared norm 1/4, clipped to the unit ball."""
    vectors = rng.normal(scale=0.5 / np.sqrt(k), size=(n, k))
    norms = np.sqrt((vectors**2).sum(axis=1, keepdims=True))
    return np.ascontiguousarray(vectors / np.maximum(norms / MAX_NORM, 1.0))


def covariance_loss_grad(X, weight):
    """``weight/2 * sum_{a != c} C_ac^2`` with ``C = Xc^T Xc / r`` and its gradient.

    X (r, k) float64 C-contiguous: the rows, centred in place (X becomes Xc). The
    gradient in X is ``(2 weight / r) Xc C_off`` (C_off: C with a zero diagonal;
    Xc's columns sum to zero, so centring passes the gradient through
    unchanged). Returns ``(loss, gradient)``.
    """
    r = X.shape[0]
    X -= np.full(r, 1.0 / r) @ X  # the column means (a matrix-vector product)
    C = X.T @ X
    C /= r
    np.fill_diagonal(C, 0.0)
    loss = 0.5 * weight * float((C * C).sum())
    C *= 2.0 * weight / r
    return loss, X @ C


def batch_loss_grad(state, users, positives, negatives, weights, offsets, table,
                    margin, n_items, covariance_weight, feature_weight=0.0):
    """Loss of one batch; its gradient added into ``state.grad_P`` / ``grad_Q``
    (and the feature loss's into ``state.grad_V``).

    Returns
    -------
    loss : float
    user_rows, item_rows : ndarray of int64
        The distinct rows the batch moves (its users; its positive and hardest
        negative items), sorted.
    n_violating : int
        Interactions whose hinge is active.
    """
    P, Q = state.P, state.Q
    loss_b, rank_weight, hardest, _ = cml_hinge_terms(
        P, Q, users, positives, negatives, offsets, table, margin, n_items
    )
    coef = rank_weight * weights
    user_rows, item_rows = state.distinct_rows(users, positives, hardest, coef)
    loss = float(loss_b @ weights)
    if covariance_weight > 0:
        n_u = user_rows.shape[0]
        X = np.concatenate([P[user_rows], Q[item_rows]])
        cov_loss, cov_grad = covariance_loss_grad(X, covariance_weight)
        loss += cov_loss
        add_rows(state.grad_P, user_rows, cov_grad, 0)
        add_rows(state.grad_Q, item_rows, cov_grad, n_u)
    if feature_weight > 0 and state.W is not None:
        loss += feature_loss_grad(state, item_rows, feature_weight)
    return loss, user_rows, item_rows, int(np.count_nonzero(coef))


def feature_loss_grad(state, item_rows, weight):
    """``weight * sum_j |V_j|^2`` over the rows with a free vector; its gradient
    ``2 weight V_j`` added into ``state.grad_V``. Returns the loss."""
    rows = item_rows[state.free_items[item_rows]]
    V = state.V[rows]
    state.grad_V[rows] += (2.0 * weight) * V
    return weight * float((V * V).sum())


def feature_map_grad(state, item_rows):
    """Gradient in W of the batch: ``F[item_rows]^T grad_Q[item_rows]``."""
    return state.F[item_rows].T @ state.grad_Q[item_rows]


def apply_step(state, user_rows, item_rows, solver, learning_rate):
    """Move the batch's rows along the gradient, clip them, clear the buffers."""
    grad_W = None
    if state.W is not None:
        grad_W = feature_map_grad(state, item_rows)
        # The feature loss moves the free vectors only.
        state.grad_Q[item_rows] += state.grad_V[item_rows]
        state.grad_V[item_rows] = 0.0
    frozen = item_rows[~state.free_items[item_rows]]
    if frozen.size:
        state.grad_Q[frozen] = 0.0
        item_rows = item_rows[state.free_items[item_rows]]
    if solver == "adagrad":
        adagrad_update_rows(state.P, state.grad_P, state.acc_P, user_rows,
                            learning_rate, MAX_NORM)
        adagrad_update_rows(state.V, state.grad_Q, state.acc_V, item_rows,
                            learning_rate, MAX_NORM if state.W is None else 0.0)
    else:
        sgd_update_rows(state.P, state.grad_P, user_rows, learning_rate, MAX_NORM)
        sgd_update_rows(state.V, state.grad_Q, item_rows, learning_rate,
                        MAX_NORM if state.W is None else 0.0)
    if state.W is not None:
        if solver == "adagrad":
            state.acc_W += grad_W * grad_W
            state.W -= learning_rate * grad_W / np.sqrt(
                np.where(state.acc_W > 0, state.acc_W, 1.0))
        else:
            state.W -= learning_rate * grad_W
        state.Q = clip_positions(state)
    else:
        state.Q = state.V


def clip_positions(state):
    """Positions ``V + F W`` clipped to the unit ball by moving the free vectors.

    Where ``|Q_j| > 1``, ``V_j`` is shifted by ``Q_j (1/|Q_j| - 1)`` so that the
    position becomes ``Q_j / |Q_j|`` (the nearest point of the ball) with the
    shared map W unchanged. Items without a free vector (no training interaction)
    sit at ``F_j W`` projected on the ball. Returns the positions.
    """
    Q = state.V + state.F @ state.W
    norms = np.sqrt((Q * Q).sum(axis=1))
    over = np.flatnonzero((norms > MAX_NORM) & state.free_items)
    if over.size:
        shift = Q[over] * (MAX_NORM / norms[over] - 1.0)[:, None]
        state.V[over] += shift
        Q[over] += shift
    _project_fixed(Q, state.free_items)
    return np.ascontiguousarray(Q)


def _project_fixed(Q, free_items):
    """Project the positions of items without a free vector on the unit ball."""
    fixed = np.flatnonzero(~free_items)
    if fixed.size:
        norms = np.sqrt((Q[fixed] ** 2).sum(axis=1))
        Q[fixed] *= (MAX_NORM / np.maximum(norms, MAX_NORM))[:, None]


def run_epoch(state, users, items, weights, offsets, table, candidates, rng, *,
              batch_size, n_negatives, margin, covariance_weight, solver,
              learning_rate, feature_weight=0.0):
    """One pass over the interactions in a random order.

    Negatives are drawn uniformly from ``candidates`` (the items with training
    interactions), whose number is the catalogue size of the rank estimate: for
    each chunk of consecutive batches (at most ``_CHUNK_NEGATIVES`` draws), in
    NumPy from ``rng``, so that the draws depend on the random generator only.
    ``offsets, table`` hold the users' training items as hash sets
    (:func:`skmetric._kernels.owned_item_sets`), never counted as negatives.
    Each batch is a step of :func:`batch_loss_grad` (the hinge terms and their
    gradient in compiled kernels, the covariance products through BLAS) and
    :func:`apply_step`.

    Returns the mean loss per interaction and the fraction of active hinges.
    """
    n = users.shape[0]
    order = rng.permutation(n)
    per_chunk = batch_size * max(1, _CHUNK_NEGATIVES // (batch_size * n_negatives))
    total, n_active = 0.0, 0
    for chunk_start in range(0, n, per_chunk):
        chunk = order[chunk_start:chunk_start + per_chunk]
        negatives = candidates[rng.randint(0, candidates.shape[0],
                                            size=(chunk.shape[0], n_negatives))]
        chunk_users, chunk_items = users[chunk], items[chunk]
        chunk_weights = weights[chunk]
        for start in range(0, chunk.shape[0], batch_size):
            batch = slice(start, start + batch_size)
            loss, user_rows, item_rows, active = batch_loss_grad(
                state, chunk_users[batch], chunk_items[batch], negatives[batch],
                chunk_weights[batch], offsets, table, margin,
                candidates.shape[0], covariance_weight, feature_weight,
            )
            apply_step(state, user_rows, item_rows, solver, learning_rate)
            total += loss
            n_active += active
    return total / n, n_active / n


def objective(params, shapes, F, users, positives, negatives, weights, indptr,
              indices, margin, n_items, covariance_weight, feature_weight=0.0):
    """The loss of one batch and its gradient, for flat parameters ``(P, V[, W])``.

    Side-effect free: the same code the solver runs on a step (tests compare it
    with finite differences). ``shapes`` lists the shapes of P, V and W (W is
    absent without item features). Returns ``(loss, grad)`` with ``grad`` flat.
    """
    offsets, table = owned_item_sets(indptr, indices)
    arrays, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        arrays.append(np.ascontiguousarray(params[offset:offset + size].reshape(shape)))
        offset += size
    W = arrays[2] if len(arrays) == 3 else None
    state = CMLState(arrays[0], arrays[1], W, F)
    loss, _, item_rows, _ = batch_loss_grad(
        state, users, positives, negatives, weights, offsets, table, margin,
        n_items, covariance_weight, feature_weight,
    )
    grads = [state.grad_P, state.grad_Q]
    if W is not None:
        grads = [state.grad_P, state.grad_Q + state.grad_V, state.F.T @ state.grad_Q]
    return loss, np.concatenate([g.ravel() for g in grads])
