"""Collaborative metric learning: users and items in one learned Euclidean space."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from .._base import VerbosePrinter, warn_not_converged
from .._kernels import _BLOCK_ELEMENTS, owned_item_sets
from .._threads import N_JOBS_CONSTRAINT, thread_limits
from .._validation import Interval, StrOptions, check_params
from .._validation_interactions import (
    check_interactions,
    check_training_interactions,
)
from ..metrics import _nearest
from . import _cml_solver as solver
from ._metrics import recall_at_k

# BLAS threads during training: the products of a step (the covariance of a batch)
# are small, and one BLAS thread keeps the fit independent of the thread count.
_TRAINING_BLAS_THREADS = 1
# Recommendations scored by the score method and by early stopping.
_SCORE_K = 10
# Most users whose held-out interactions early stopping scores each epoch: ranking
# every item for them costs O(users * items * n_components) an epoch.
_MAX_VALIDATION_USERS = 10_000


def _ranked(costs, n):
    """The n columns of smallest cost per row (ties: smaller column), -1 past inf.

    The library's one ranking core (``skmetric.metrics._nearest``).
    """
    out = np.full((costs.shape[0], n), -1, dtype=np.int64)
    keep = min(n, costs.shape[1])
    order = _nearest(costs, keep)
    chosen = np.take_along_axis(costs, order, axis=1)
    out[:, :keep] = np.where(np.isinf(chosen), -1, order)
    return out


def _loss_trend(loss, best_loss, tol):
    """How an epoch's mean training loss compares with the best one so far.

    ``'down'`` when it is below ``best_loss - tol``, ``'up'`` when it is above
    ``best_loss + tol`` and ``'flat'`` otherwise. Only flat epochs count toward
    the stopping rule: a loss that rises (the feature loss can grow while the
    positions are clipped) is not a converged fit.
    """
    if loss < best_loss - tol:
        return "down"
    if loss > best_loss + tol:
        return "up"
    return "flat"


class CollaborativeMetricLearning(BaseEstimator):
    """Collaborative metric learning (CML): users near the items they like.

    Users and items are points of one Euclidean space, learned from implicit
    feedback (which items each user interacted with) so that a user lies closer to
    the items they interacted with than to the others; recommending is then a
    nearest-neighbour search. With ``item_features``, an item's position is its
    free vector plus a learned linear map of its features, so an item that no one
    has interacted with yet is placed by its features (cold start).

    Samples are interactions: ``X`` holds ``(user, item)`` integer ids, one row
    per interaction, so ``train_test_split``, ``cross_val_score`` and
    ``GridSearchCV`` split interactions as they split rows.

    Parameters
    ----------
    n_components : int, default=64
        Dimension of the space.
    margin : float, default=1.0
        Margin of the hinge, in squared distance (vectors lie in the unit ball, so
        squared distances lie in [0, 4]).
    n_negatives : int, default=20
        Items sampled for each interaction (U in the paper); the hardest one takes
        the hinge and the number of violators estimates the item's rank.
    covariance_weight : float, default=1.0
        Weight of the covariance regulariser (0 turns it off).
    item_features : array-like of shape (n_items, n_features), default=None
        Features of every item of the catalogue (genres, year, ...); item ids must
        then be below ``n_items``. Columns are centred inside the fit, and
        those that are not 0/1 indicators are also scaled to unit variance
        (indicators keep their scale: dividing a rare category's column by its
        small standard deviation would let it dominate the items' positions).
    feature_weight : float, default=0.0
        Weight of the feature loss of Hsieh et al. (with ``item_features`` only;
        no effect without): ``feature_weight * |Q_j - F_j W|^2`` for each item
        of a batch that has training interactions, pulling its position toward
        the one its features give, so that the feature map must explain the
        positions. Off by default: as the positions are clipped to the unit
        ball while ``F_j W`` is not, the term can grow during the fit (a rising
        training loss, which the stopping rule does not count as convergence).
    solver : {'adagrad', 'sgd'}, default='adagrad'
        Per-row Adagrad or plain stochastic gradient steps.
    learning_rate : float, default=0.1
        Step size.
    batch_size : int, default=1024
        Interactions per step.
    max_iter : int, default=50
        Most epochs (passes over the interactions).
    tol : float, default=1e-2
        Tolerance of the stopping rule. Without early stopping, an epoch is
        stalled when its mean training loss per interaction lies within ``tol``
        of the best value so far (neither below it by more, which is progress,
        nor above it by more, which is a rising loss and no convergence); with
        early stopping, when the validation recall@10 does not exceed its best
        value by more than ``tol`` (lower it there, for example to 1e-3).
    n_iter_no_change : int, default=3
        Stalled epochs in a row after which the fit stops and is considered
        converged; a fit that reaches ``max_iter`` first warns
        (``ConvergenceWarning``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of each user's interactions (of users
        with 2 or more; of at most 10 000 users drawn at random), stop on their recall@10 and keep the best epoch's
        vectors. The held-out interactions still count as the user's items that
        :meth:`recommend` excludes.
    validation_fraction : float, default=0.1
        Fraction of each user's interactions held out with early stopping.
    random_state : int, RandomState instance or None, default=None
        Initial vectors, the order of the interactions and the sampled negatives.
    verbose : int, default=0
        0 silent; 1 a start and a summary line; 2 one line per epoch.
    n_jobs : int, default=None
        Threads of the fit (skmetric's own parallel loops; BLAS runs on one
        thread during training). None uses every core the surroundings allow
        (a ``threadpoolctl`` limit, a joblib worker's one-thread limit,
        ``OMP_NUM_THREADS``, ``numba.set_num_threads``). -1 means every core, -2
        all but one, and so on. The fitted model does not depend on it.

    Attributes
    ----------
    user_embeddings_ : ndarray of shape (n_users_, n_components)
        User vectors; rows of users with no training interaction are zero (such
        users are recommended the most popular items).
    item_embeddings_ : ndarray of shape (n_items_, n_components)
        Item positions (free vector plus the feature map). Without item features,
        rows of items with no training interaction are zero and those items are
        never recommended.
    item_feature_map_ : ndarray of shape (n_features, n_components) or None
        The learned linear map of the centred (and, for columns that are not
        0/1 indicators, scaled) item features.
    item_popularity_ : ndarray of shape (n_items_,)
        Training interactions of each item.
    n_users_, n_items_ : int
        One more than the largest user (item) id seen, or ``n_items`` of the
        features.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss per interaction, one per epoch.
    validation_scores_ : list of float or None
        Validation recall@10 per epoch (early stopping only).
    best_validation_score_ : float or None
        The best of them, whose vectors are kept.

    See Also
    --------
    skmetric.deep.DeepTripletTriplets : triplet embeddings of feature vectors.

    Notes
    -----
    The objective (Hsieh et al., 2017) sums, over interactions (u, i) with weight
    s_ui,

    .. math::

        s_{ui}\\, w_{ui} \\left[m + \\lVert p_u - q_i \\rVert^2
        - \\lVert p_u - q_j \\rVert^2\\right]_+
        + \\lambda_c\\, \\tfrac{1}{2} \\sum_{a \\neq b} C_{ab}^2,

    where j is the sampled item closest to u among ``n_negatives`` items drawn
    uniformly from the items with training interactions (J of them) that are not
    u's, and :math:`w_{ui} = \\log(1 + \\lfloor J M / U \\rfloor)` is the WARP
    estimate of the rank of i, M being the number of the U sampled items that
    violate the margin (the weight is held constant in the gradient, as in WARP).
    The regulariser is the covariance penalty of Cogswell et al. (2016) that the
    paper uses, in its squared form: C is the covariance of the distinct user and
    item vectors of a batch, and only its off-diagonal entries are penalised,
    decorrelating the dimensions. After each step every moved vector is clipped
    to the unit ball (with features, the free vector is shifted so that the
    position lies in the ball).

    Cost of an epoch: O(n_interactions * n_negatives * n_components) for the
    hinge terms plus O(n_interactions * n_components^2) for the covariance
    regulariser (a batch's r <= 3 batch_size distinct rows cost O(r k^2), through
    BLAS). The negatives of a chunk of batches (at most 2**22 item ids) are drawn
    at once: an epoch never holds n_interactions x n_negatives ids. The tests
    that a sample is not one of the user's items read hash sets of the users'
    items built once per fit (2 to 4 int64 entries per training interaction).

    Reproducibility: a fit is bit-identical for the same ``random_state`` and
    data whatever ``n_jobs`` (the order of the interactions and the negatives
    are drawn in NumPy in a fixed order; the parallel loop of a step, over its
    interactions, writes each interaction's own terms; gradients are summed in
    the order of the interactions; the Adagrad or SGD update moves each of the
    step's rows on one thread; BLAS runs on one thread during training).

    Unseen ids: a user with no training interaction (or beyond ``n_users_``) is
    recommended the most popular training items; an item never seen in training
    is recommended only through its features, and never without them.

    References
    ----------
    C.-K. Hsieh, L. Yang, Y. Cui, T.-Y. Lin, S. Belongie and D. Estrin,
    "Collaborative Metric Learning", WWW 2017.
    M. Cogswell, F. Ahmed, R. Girshick, L. Zitnick and D. Batra, "Reducing
    Overfitting in Deep Networks by Decorrelating Representations", ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import CollaborativeMetricLearning
    >>> rng = np.random.default_rng(0)
    >>> users = np.repeat(np.arange(40), 5)
    >>> items = (users % 2) * 10 + np.tile(np.arange(5), 40) + rng.integers(0, 5, 200)
    >>> X = np.unique(np.column_stack([users, items]), axis=0)
    >>> cml = CollaborativeMetricLearning(8, batch_size=32, random_state=0).fit(X)
    >>> cml.recommend([0, 1], n=3).shape
    (2, 3)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "n_negatives": [Interval(Integral, 1, None, closed="left")],
        "covariance_weight": [Interval(Real, 0, None, closed="left")],
        "item_features": ["array-like", None],
        "feature_weight": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"adagrad", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(self, n_components=64, *, margin=1.0, n_negatives=20,
                 covariance_weight=1.0, item_features=None, feature_weight=0.0,
                 solver="adagrad",
                 learning_rate=0.1, batch_size=1024, max_iter=50, tol=1e-2,
                 n_iter_no_change=3, early_stopping=False, validation_fraction=0.1,
                 random_state=None, verbose=0, n_jobs=None):
        self.n_components = n_components
        self.margin = margin
        self.n_negatives = n_negatives
        self.covariance_weight = covariance_weight
        self.item_features = item_features
        self.feature_weight = feature_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False
        return tags

    # ---- fitting -----------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Learn user and item vectors from interactions.

        Parameters
        ----------
        X : array-like of shape (n_interactions, 2)
            ``(user, item)`` integer ids, each pair at most once.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_interactions,), default=None
            Non-negative weight of each interaction (a rating, a play count);
            None gives 1 to each.

        Returns
        -------
        self : object
        """
        check_params(self)
        features = self._check_item_features()
        n_items = None if features is None else features.shape[0]
        users, items, weights = check_training_interactions(X, sample_weight,
                                                            n_items=n_items)
        rng = check_random_state(self.random_state)
        self.n_users_ = int(users.max()) + 1
        self.n_items_ = n_items if n_items is not None else int(items.max()) + 1
        train, validation = self._split(users, items, weights, rng)
        printer = VerbosePrinter(self, [("Epoch", "d"), ("Loss", ".6f"),
                                        ("Active", ".4f"), ("Recall@10", ".4f"),
                                        ("Time", ".2f")])
        self._set_training_interactions(*train)
        self._state = self._initial_state(features, rng)
        printer.start(
            f"Fitting {self.n_components}-dimensional vectors of {self.n_users_} "
            f"users and {self.n_items_} items on {train[0].shape[0]} interactions"
            + ("" if validation is None
               else f" ({validation[0].shape[0]} held out for early stopping)")
            + "."
        )
        with thread_limits(self.n_jobs, blas_threads=_TRAINING_BLAS_THREADS):
            history = self._run_epochs(train, validation, self.max_iter, rng,
                                       printer)
        self.loss_curve_ = history["losses"]
        self.n_iter_ = history["n_epochs"]
        self.validation_scores_ = history["scores"] if validation is not None else None
        self.best_validation_score_ = (history["best_score"] if validation is not None
                                       else None)
        self._rng = rng
        if validation is not None:  # held-out interactions are the users' too
            self._add_training_interactions(validation[0], validation[1])
        self._set_embeddings()
        printer.summary(
            f"{'Converged' if history['converged'] else 'Stopped'} after "
            f"{self.n_iter_} epochs, loss {self.loss_curve_[-1]:.6f},"
        )
        if not history["converged"]:
            criterion = ("validation recall@10" if validation is not None
                         else "mean training loss")
            warn_not_converged(
                self, self.max_iter,
                f"(epochs): the {criterion} still moved by more than tol="
                f"{self.tol} from its best value within the last "
                f"n_iter_no_change={self.n_iter_no_change} epochs.",
            )
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch over new interactions, continuing the fitted vectors.

        New user and item ids extend the model (new vectors drawn as at the start
        of a fit); the interactions join the training items that
        :meth:`recommend` excludes. No early stopping and no convergence check.

        Parameters
        ----------
        X : array-like of shape (n_interactions, 2)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_interactions,), default=None

        Returns
        -------
        self : object
        """
        if not hasattr(self, "_state"):
            check_params(self)
            features = self._check_item_features()
            n_items = None if features is None else features.shape[0]
            users, items, weights = check_training_interactions(
                X, sample_weight, n_items=n_items)
            rng = check_random_state(self.random_state)
            self.n_users_ = int(users.max()) + 1
            self.n_items_ = n_items if n_items is not None else int(items.max()) + 1
            self._set_training_interactions(users, items, weights)
            self._state = self._initial_state(features, rng)
            self.loss_curve_, self.n_iter_ = [], 0
            self.validation_scores_ = self.best_validation_score_ = None
        else:
            check_params(self)
            fixed = self._state.W is not None
            users, items, weights = check_training_interactions(
                X, sample_weight, n_items=self.n_items_ if fixed else None)
            rng = self._rng
            self.n_users_ = max(self.n_users_, int(users.max()) + 1)
            self.n_items_ = max(self.n_items_, int(items.max()) + 1)
            self._state.grow(self.n_users_, self.n_items_, rng)
            self._add_training_interactions(users, items)
        self._state.free_items[np.unique(items)] = True
        printer = VerbosePrinter(self)
        with thread_limits(self.n_jobs, blas_threads=_TRAINING_BLAS_THREADS):
            loss, _ = self._epoch((users, items, weights), rng,
                                  self._owned_items())
        self.loss_curve_ = [*self.loss_curve_, loss]
        self.n_iter_ += 1
        self._rng = rng
        self._set_embeddings()
        printer.summary(f"Partial fit on {users.shape[0]} interactions, loss "
                        f"{loss:.6f},")
        return self

    def _check_item_features(self):
        if self.item_features is None:
            self._feature_mean = self._feature_scale = None
            return None
        F = check_array(self.item_features, dtype=np.float64,
                        input_name="item_features")
        mean = F.mean(axis=0)
        scale = F.std(axis=0)
        scale[scale == 0] = 1.0
        # 0/1 indicator columns (genres, one-hot categories) are only centred.
        scale[np.all((F == 0) | (F == 1), axis=0)] = 1.0
        self._feature_mean, self._feature_scale = mean, scale
        return np.ascontiguousarray((F - mean) / scale)

    def _split(self, users, items, weights, rng):
        """Training and held-out interactions: each user's random fraction."""
        if not self.early_stopping:
            return (users, items, weights), None
        n = users.shape[0]
        keys = rng.random_sample(n)
        order = np.lexsort((keys, users))
        counts = np.bincount(users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - starts[users[order]]
        # Each user with 2 or more interactions holds out round(fraction * count)
        # of them, at least one, keeping at least one for training.
        held = np.minimum(np.maximum(np.rint(self.validation_fraction * counts), 1),
                          counts - 1).astype(np.int64)
        is_held = rank < held[users]
        # Early stopping scores at most _MAX_VALIDATION_USERS users (drawn once).
        present = np.flatnonzero(counts >= 2)
        if present.shape[0] > _MAX_VALIDATION_USERS:
            chosen = np.zeros(counts.shape[0], dtype=bool)
            chosen[rng.choice(present, _MAX_VALIDATION_USERS, replace=False)] = True
            is_held &= chosen[users]
        if not is_held.any():
            raise ValueError(
                "early_stopping needs a user with 2 or more interactions to hold "
                "some out; give more interactions or set early_stopping=False."
            )
        keep = ~is_held
        return ((users[keep], items[keep], weights[keep]),
                (users[is_held], items[is_held], weights[is_held]))

    def _set_training_interactions(self, users, items, weights):
        self._seen = sp.csr_matrix(
            (np.ones(users.shape[0]), (users, items)),
            shape=(self.n_users_, self.n_items_),
        )
        self._seen.sort_indices()
        self._refresh_counts()

    def _add_training_interactions(self, users, items):
        seen = self._seen
        seen.resize((self.n_users_, self.n_items_))
        new = sp.csr_matrix((np.ones(users.shape[0]), (users, items)),
                            shape=(self.n_users_, self.n_items_))
        merged = (seen + new).tocsr()
        merged.data[:] = 1.0
        merged.sort_indices()
        self._seen = merged
        self._refresh_counts()

    def _refresh_counts(self):
        seen = self._seen
        self._indptr = seen.indptr.astype(np.int64)
        self._indices = seen.indices.astype(np.int64)
        self._user_counts = np.diff(self._indptr)
        self.item_popularity_ = np.bincount(self._indices, minlength=self.n_items_)

    def _initial_state(self, features, rng):
        k = self.n_components
        P = solver.initial_vectors(self.n_users_, k, rng)
        V = solver.initial_vectors(self.n_items_, k, rng)
        free = self.item_popularity_ > 0
        P[self._user_counts == 0] = 0.0
        V[~free] = 0.0
        W = None if features is None else np.zeros((features.shape[1], k))
        return solver.CMLState(P, V, W, features, free)

    def _owned_items(self):
        # The users' training items as hash sets, for the tests that a sample is
        # not one of them: built once per fit or partial_fit, O(n_interactions),
        # kept out of the fitted model.
        return owned_item_sets(self._indptr, self._indices)

    def _epoch(self, data, rng, owned):
        users, items, weights = data
        candidates = np.flatnonzero(self.item_popularity_ > 0).astype(np.int64)
        offsets, table = owned
        return solver.run_epoch(
            self._state, users, items, weights, offsets, table,
            candidates, rng, batch_size=self.batch_size,
            n_negatives=self.n_negatives, margin=float(self.margin),
            covariance_weight=float(self.covariance_weight), solver=self.solver,
            learning_rate=float(self.learning_rate),
            feature_weight=float(self.feature_weight),
        )

    def _run_epochs(self, train, validation, max_iter, rng, printer):
        losses, scores = [], []
        best_loss, best_score, best = np.inf, -np.inf, None
        n_stale, converged, n_epochs = 0, False, 0
        owned = self._owned_items()
        for epoch in range(max_iter):
            loss, active = self._epoch(train, rng, owned)
            n_epochs += 1
            losses.append(loss)
            if validation is not None:
                self._set_embeddings()
                score = self._recall(validation[0], validation[1])
                scores.append(score)
                improved = score > best_score + self.tol
                if score > best_score:
                    best_score = score
                    best = self._snapshot()
            else:
                score = np.nan
                improved = _loss_trend(loss, best_loss, self.tol) != "flat"
                best_loss = min(best_loss, loss)
            n_stale = 0 if improved else n_stale + 1
            printer.row(epoch + 1, loss, active, score, printer.elapsed)
            if n_stale >= self.n_iter_no_change:
                converged = True
                break
        if best is not None:
            self._restore(best)
        return {"losses": losses, "scores": scores, "best_score": best_score,
                "n_epochs": n_epochs, "converged": converged}

    def _snapshot(self):
        state = self._state
        return [a.copy() for a in (state.P, state.V, state.acc_P, state.acc_V)] + [
            None if state.W is None else state.W.copy(),
            None if state.W is None else state.acc_W.copy(),
        ]

    def _restore(self, saved):
        state = self._state
        state.P, state.V, state.acc_P, state.acc_V, state.W, state.acc_W = saved
        state.Q = state.positions()

    def _set_embeddings(self):
        state = self._state
        self.user_embeddings_ = state.P.copy()
        self.item_embeddings_ = np.array(state.positions(), copy=True)
        self.item_feature_map_ = None if state.W is None else state.W.copy()

    # ---- recommending ------------------------------------------------------------

    def recommend(self, users, n=10, *, exclude_seen=True):
        """The n items nearest to each user, best first.

        Parameters
        ----------
        users : array-like of shape (n_queries,)
            User ids (non-negative integers). A user with no training
            interaction, or an id beyond ``n_users_``, gets the most popular
            training items.
        n : int, default=10
            Items per user.
        exclude_seen : bool, default=True
            Leave out each user's training items.

        Returns
        -------
        items : ndarray of shape (n_queries, n), int64
            Item ids by increasing distance (decreasing popularity for unknown
            users); ties go to the smaller item id; rows with fewer than n
            candidates are padded with -1.
        """
        check_is_fitted(self)
        users = self._check_users(users)
        if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        with thread_limits(self.n_jobs):
            return self._recommend(users, int(n), bool(exclude_seen))

    def _check_users(self, users):
        arr = np.asarray(users)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"users must be 1-D; got shape {arr.shape}.")
        if arr.size and (arr.dtype == object or arr.dtype == bool or not (
                np.issubdtype(arr.dtype, np.integer)
                or np.issubdtype(arr.dtype, np.floating))):
            raise TypeError(f"users must hold integer ids; got dtype {arr.dtype}.")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise TypeError("users must hold integer ids; got non-integer values.")
        arr = arr.astype(np.int64)
        if arr.size and arr.min() < 0:
            raise ValueError(f"users holds id {arr.min()}; ids must be non-negative.")
        return arr

    def _recommend(self, users, n, exclude_seen):
        out = np.full((users.shape[0], n), -1, dtype=np.int64)
        Q = self.item_embeddings_
        known = users < self.n_users_
        known[known] = self._user_counts[users[known]] > 0
        # Items that have a position: seen in training, or placed by features.
        placed = self._state.free_items if self.item_feature_map_ is None else (
            np.ones(self.n_items_, dtype=bool))
        offset = np.where(placed, (Q * Q).sum(axis=1), np.inf)
        rows = np.flatnonzero(known)
        block = max(1, _BLOCK_ELEMENTS // max(self.n_items_, 1))
        for start in range(0, rows.shape[0], block):
            chunk = rows[start:start + block]
            ids = users[chunk]
            # |p - q|^2 - |p|^2 = |q|^2 - 2 p.q: the same order per user.
            costs = self.user_embeddings_[ids] @ (-2.0 * Q.T)
            costs += offset
            if exclude_seen:
                seen = self._seen[ids].tocoo()
                costs[seen.row, seen.col] = np.inf
            out[chunk] = _ranked(costs, n)
        cold = np.flatnonzero(~known)
        if cold.size:
            popular = np.where(self.item_popularity_ > 0,
                               -self.item_popularity_.astype(np.float64), np.inf)
            out[cold] = _ranked(popular[None, :], n)[0]
        return out

    def score(self, X, y=None, sample_weight=None):
        """Recall@10 of held-out interactions, the users' training items excluded.

        Parameters
        ----------
        X : array-like of shape (n_interactions, 2)
            Held-out ``(user, item)`` ids.
        y : None
            Ignored.
        sample_weight : None
            Ignored (every held-out interaction counts once).

        Returns
        -------
        score : float
            :func:`skmetric.recommend.recall_at_k` with k=10 over the users of X.
        """
        check_is_fitted(self)
        X = check_interactions(X)
        return self._recall(X[:, 0], X[:, 1])

    def _recall(self, users, items):
        queries = np.unique(users)
        recommended = self._recommend(queries, _SCORE_K, True)
        return float(recall_at_k(np.column_stack([users, items]), recommended,
                                 users=queries, k=_SCORE_K))
