"""LMNN: large margin nearest neighbour metric learning (Weinberger & Saul 2009)."""

import functools
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from threadpoolctl import ThreadpoolController

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._init import INIT_OPTIONS, initial_components
from ._kernels import (
    _BLOCK_ELEMENTS,
    lmnn_push_loss_weights,
    pair_laplacian_matmul,
    pair_sq_dists,
    weighted_outer_sum,
)
from ._lmnn_neighbors import class_members, find_impostors, find_target_neighbors
from ._validation import (
    Interval,
    StrOptions,
    check_array_param,
    check_params,
    check_X_y_classes,
)

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


class LMNN(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Large margin nearest neighbour metric learning (Weinberger & Saul 2009).

    Learns a linear map L under which each sample's k nearest neighbours of its
    own class (its *target neighbours*, fixed before learning) come close, while
    samples of other classes are pushed out of a unit-margin ball around them.
    The Euclidean distance after ``transform`` is the learned Mahalanobis
    distance ``|L (x - x')|``, and kNN classification in that space is what LMNN
    improves.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding, the number of rows of L. None keeps
        ``n_features``.
    n_neighbors : int, default=3
        Number of target neighbours k of each sample. A class with ``n_c <= k``
        samples gives its samples ``n_c - 1`` target neighbours (with a warning).
    push_weight : float, default=0.5
        The weight mu in (0, 1] of the push (impostor) term; the pull term has
        weight ``1 - mu``.
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray of shape \
            (n_components, n_features), default='auto'
        Starting L. 'auto' picks 'lda' when ``n_components <= min(n_features,
        n_classes - 1)``, 'pca' when ``n_components < n_features`` and
        'identity' otherwise. An array is used as given (see ``init_scale``).
    warm_start : bool, default=False
        Start from the ``components_`` of the previous call to ``fit`` when
        their shape fits (``init`` and ``init_scale`` are then ignored).
    max_iter : int, default=100
        Maximum number of L-BFGS iterations, all active-set rounds together.
    tol : float, default=1e-5
        Tolerance of L-BFGS on the objective's relative decrease and on the
        projected gradient.
    max_impostors : int or None, default=500_000
        Most impostor pairs held in the active set. When more are found, the
        set keeps those of a random fraction ``2**-j`` of all pairs (fixed by
        ``random_state``), j the smallest that fits, and the push term is
        divided by that fraction. None holds all.
    loss : {'hinge', 'squared_hinge'}, default='squared_hinge'
        Penalty of a margin violation m: ``max(m, 0)`` as in the paper, or
        ``max(m, 0) ** 2``, whose gradient is continuous, which suits L-BFGS.
    init_scale : float or None, default=1.0
        Rescale the starting L (from a string ``init``) so that the root mean
        squared distance from a sample to its target neighbours is
        ``init_scale``. The unit margin is then measured against the size of
        the neighbourhoods, and the fit does not depend on the scale of X.
        None starts from L as computed.
    callback : callable, default=None
        Called after every iteration as ``callback(components, n_iter)`` with
        the current flattened L (for X as given) and the iteration count.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more a line per
        iteration (objective, active triplets, impostor pairs held, seconds).
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``, ``init='pca'`` and the impostor subsample.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map L.
    n_iter_ : int
        Number of L-BFGS iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    MahalanobisXing : Metric learning from similar and dissimilar pairs.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : NCA.

    Notes
    -----
    With target neighbours :math:`j \\rightsquigarrow i`, squared distances
    :math:`d_{ij} = \\|L (x_i - x_j)\\|^2` and :math:`h` the hinge (or its
    square), LMNN minimises

    .. math::
        \\frac{1}{n} \\Big[ (1 - \\mu) \\sum_{j \\rightsquigarrow i} d_{ij}
        + \\mu \\sum_{j \\rightsquigarrow i} \\sum_{l: y_l \\ne y_i}
        h(1 + d_{ij} - d_{il}) \\Big]

    over L by L-BFGS. The gradient is :math:`\\frac{2}{n} L X^T (D - W) X`,
    with W the weights of the pull pairs and of the active triplets' pairs; the
    pull part :math:`X^T (D - W_{pull}) X` is computed once. The triplets are
    summed over an active set of impostor pairs: every pair of different
    classes within 1.2 times the anchor's margin radius (farthest target
    neighbour plus one), found by an exact blockwise search in the current
    embedding. The search is repeated after 10 iterations, then at intervals
    that grow by half after each search that found the set complete and halve
    after one that did not (L-BFGS then restarts at that point), and once more
    before convergence is declared: the fit ends only where the set holds every
    active triplet.

    Cost: target neighbours O(n^2 d / C) once for C classes; each impostor
    search O(n^2 r) for ``r = n_components``, in blocks of bounded memory; each
    objective evaluation O(n d r + m k r) for m active impostor pairs.

    The unit margin ties LMNN to the scale of the embedding: without
    ``init_scale`` the optimiser first has to find the right scale, which takes
    iterations. Scale X (for example with ``StandardScaler``) so that features
    are comparable: target neighbours are found with Euclidean distances in X.

    References
    ----------
    .. [1] K. Q. Weinberger and L. K. Saul. "Distance metric learning for large
       margin nearest neighbor classification". JMLR 10:207-244, 2009.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import LMNN
    >>> X, y = load_wine(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), LMNN(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 3))
    0.972
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "push_weight": [Interval(Real, 0, 1, closed="right")],
        "init": [StrOptions(INIT_OPTIONS), "array-like"],
        "warm_start": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_impostors": [Interval(Integral, 1, None, closed="left"), None],
        "loss": [StrOptions({"hinge", "squared_hinge"})],
        "init_scale": [Interval(Real, 0, None, closed="neither"), None],
        "callback": [callable, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        n_neighbors=3,
        push_weight=0.5,
        init="auto",
        warm_start=False,
        max_iter=100,
        tol=1e-5,
        max_impostors=500_000,
        loss="squared_hinge",
        init_scale=1.0,
        callback=None,
        verbose=0,
        random_state=None,
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.push_weight = push_weight
        self.init = init
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.tol = tol
        self.max_impostors = max_impostors
        self.loss = loss
        self.init_scale = init_scale
        self.callback = callback
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y):
        """Learn the linear map from labelled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least 2 samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        previous = getattr(self, "components_", None) if self.warm_start else None
        X, y, classes = check_X_y_classes(self, X, y, min_class_size=1)
        n_samples, n_features = X.shape
        n_components = self._check_n_components(n_features)
        _check_class_sizes(y, classes, self.n_neighbors)
        rng = check_random_state(self.random_state)

        init = self.init
        if not isinstance(init, str):  # checked before any heavy work
            init = check_array_param(init, (n_components, n_features), "init")

        X_work, scale = _centred(X, rescale=self.init_scale is not None)
        blas = _BlasThreads()
        with blas.limit(1):
            targets = find_target_neighbors(X_work, y, self.n_neighbors)
            components = self._initial_components(
                X_work, y, init, n_components, scale, targets, previous, rng
            )
            problem = LMNNProblem(
                X_work, *targets, _pull_scatter(X_work, targets),
                float(self.push_weight), self.loss == "squared_hinge",
            )
            printer = VerbosePrinter(
                self, [("Iteration", "d"), ("Objective", ".6e"), ("Active", "d"),
                       ("Impostors", "d"), ("Time(s)", ".2f")],
            )
            printer.start(
                f"Fitting on {n_samples} samples, {n_features} features, "
                f"{classes.shape[0]} classes, {n_components} components, "
                f"k={self.n_neighbors}."
            )
            solver = _ActiveSetSolver(
                problem, class_members(y, classes.shape[0]), self, scale, printer,
                seed=int(rng.randint(np.iinfo(np.int32).max)), blas=blas,
            )
            components, converged = solver.run(components)

        self.components_ = components / scale
        self.n_iter_ = solver.n_iter
        printer.summary(
            f"{'Converged' if converged else 'Stopped'} after {solver.n_iter} "
            f"iterations, objective {solver.loss:.6e},"
        )
        if not converged:
            warn_not_converged(self, self.max_iter)
        return self

    def _check_n_components(self, n_features):
        if self.n_components is None:
            return n_features
        if self.n_components > n_features:
            raise ValueError(
                f"n_components={self.n_components} must be at most the number of "
                f"features, {n_features}."
            )
        return self.n_components

    def _initial_components(
        self, X_work, y, init, n_components, scale, targets, previous, rng
    ):
        """Starting L for the centred (and scaled) X_work, as a float64 array."""
        if previous is not None and previous.shape == (n_components, X_work.shape[1]):
            return previous * scale
        if not isinstance(init, str):
            return init * scale
        components = initial_components(init, X_work, y, n_components, rng)
        if self.init_scale is not None:
            embedded = X_work @ components.T
            rms = np.sqrt(np.mean(pair_sq_dists(embedded, targets[0], targets[1])))
            if rms > 0.0:
                components *= self.init_scale / rms
        return np.ascontiguousarray(components)


def _check_class_sizes(y, classes, n_neighbors):
    """Reject singleton classes; warn when a class is too small for k neighbours."""
    counts = np.bincount(y)
    labels = classes.tolist()
    single = np.flatnonzero(counts < 2)
    if single.size:
        shown = ", ".join(repr(labels[c]) for c in single[:10])
        raise ValueError(
            "LMNN needs at least 2 samples in every class: the target neighbours of "
            "a sample are other samples of its class, so a sample alone in its "
            f"class has none to be pulled to; these classes have 1 sample: {shown}."
        )
    small = np.flatnonzero(counts <= n_neighbors)
    if small.size:
        shown = ", ".join(f"{labels[c]!r}: {counts[c]}" for c in small[:10])
        warnings.warn(
            f"Some classes have n_neighbors={n_neighbors} samples or fewer; their "
            "samples get one target neighbour fewer than their class size instead "
            f"of {n_neighbors} (class: samples {shown}).",
            UserWarning,
            stacklevel=3,
        )


def _centred(X, rescale):
    """X minus its mean, divided by its largest magnitude when ``rescale``.

    Distances are unchanged by the centring and the fit is the same for X at any
    scale once the starting L is rescaled; ``components / scale`` applies to X.
    """
    X_work = X - X.mean(axis=0)
    scale = np.abs(X_work).max() if rescale else 1.0
    if not scale > 0.0:
        scale = 1.0
    X_work /= scale
    return np.ascontiguousarray(X_work), float(scale)


def _pull_scatter(X, targets):
    """``sum_{j ~> i} (x_i - x_j)(x_i - x_j)^T``: the constant pull matrix, (d, d)."""
    target_anchor, target_index, _ = targets
    return weighted_outer_sum(
        X, target_anchor, target_index, np.ones(target_anchor.shape[0])
    )


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
    flat_components, problem, impostor_anchor, impostor_index, sample_fraction=1.0
):
    """:func:`lmnn_loss_grad` plus the number of active triplets."""
    X = problem.X
    n_samples, n_features = X.shape
    components = flat_components.reshape(-1, n_features)
    embedded = X @ components.T
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
    grad += laplacian_embedded.T @ X
    grad *= 2.0 / n_samples
    return loss, grad.ravel(), n_active


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
        # Threads pay off once the search spans several blocks.
        n_pairs = problem.X.shape[0] ** 2 // 2
        self._search_threads = blas.threads if n_pairs > 4 * _BLOCK_ELEMENTS else 1
        self._last = None  # (x, loss, n_active) of the last evaluation
        self._last_refresh = 0
        self._refresh_every = float(_REFRESH_EVERY)
        self._refreshed_at = None
        self._restart = False

    def run(self, components):
        """Minimise from ``components``; return the final L and whether it converged."""
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
            x, self.problem, self.impostor_anchor, self.impostor_index, self.fraction
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
