"""LMNN: large margin nearest neighbour metric learning (Weinberger & Saul 2009)."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._init import INIT_OPTIONS, initial_components
from ._kernels import pair_sq_dists, weighted_outer_sum
from ._lmnn_neighbors import find_target_neighbors
from ._lmnn_objective import LMNNProblem
from ._lmnn_solver import _ActiveSetSolver
from ._threads import N_JOBS_CONSTRAINT, N_JOBS_DOC, thread_limits
from ._validation import (
    Interval,
    StrOptions,
    check_array_param,
    check_params,
    check_X_y_classes,
)


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
        n_classes - 1)``, 'pca' when ``n_components < min(n_features,
        n_samples)`` and 'identity' otherwise (also when every feature is
        constant). An array is used as given (see ``init_scale``).
    warm_start : bool, default=False
        Start from the ``components_`` of the previous call to ``fit`` when
        their shape fits (``init`` and ``init_scale`` are then ignored).
    max_iter : int, default=300
        Maximum number of L-BFGS iterations, all active-set rounds together.
    tol : float, default=1e-3
        Tolerance of L-BFGS on the objective's relative decrease and on the
        projected gradient. The fit converges when L-BFGS stops on it after a
        run during which the active set did not change, a last check finds the
        set complete, no larger scale of L (``t L``, t > 1, where the objective
        is convex in t squared) lowers the objective by more than ``tol``
        relative (L-BFGS's tests alone stop near L = 0, a stationary point of
        every LMNN objective), and, when the impostor pairs are sampled, a new
        sample of pairs confirms the objective (see ``max_impostors``). The
        default stops once an iteration gains less than
        0.1% of the objective: on the bundled data sets the kNN accuracy is at
        its best about there, and slightly lower after the many more iterations
        a tighter tolerance takes (LMNN then fits the training neighbourhoods
        further).
    max_impostors : int or None, default=500_000
        Most impostor pairs held in the active set. When more are found, the
        set keeps those of a random fraction ``2**-j`` of all pairs (fixed by
        ``random_state``), j the smallest that fits, and the push term is
        divided by that fraction; only the sampled pairs are searched. None
        holds all. A sampled fit minimises an estimate of the objective, which a
        small sample lets it over-fit: before convergence is declared, the
        objective is estimated at the final L on an independent sample of pairs
        (another seed), and when that estimate exceeds the fitted sample's by
        more than ``tol`` relative plus three standard errors, the fit goes on
        with twice the pairs: the sample of fraction ``2**-(j - 1)``, which
        holds the fitted one, under a cap of twice as many pairs. The set grows
        so up to 8 times ``max_impostors`` (or until it holds every pair, where
        the objective is exact); when the check still fails there, the fit
        stops with a ``ConvergenceWarning`` and returns the iterate of lowest
        objective on a sample it was not fitted to. Memory and time per
        iteration grow with the set. Keep the cap well above the pairs a few
        samples per anchor make (a cap near ``n_samples`` is too small: with
        2000 samples in 20 dimensions and about 200,000 pairs within the
        margins, ``max_impostors=2000`` ends well above ``None`` in the full
        objective, and warns).
    loss : {'hinge', 'squared_hinge'}, default='squared_hinge'
        Penalty of a margin violation m: ``max(m, 0)`` as in the paper, or
        ``max(m, 0) ** 2``, whose gradient is continuous, which suits L-BFGS.
    init_scale : float or None, default=1.0
        Rescale the starting L (from a string ``init``) so that the root mean
        squared distance from a sample to its target neighbours is
        ``init_scale``, leaving out the distances more than 10 times their
        median (a sample far from the rest of its class does not shrink the
        map of all the others). The unit margin is then measured against the
        size of the neighbourhoods, and the fit does not depend on the scale of
        X. None starts from L as computed.
    callback : callable, default=None
        Called after every iteration as ``callback(components, n_iter)`` with
        the current flattened L (for X as given) and the iteration count.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more a line per
        iteration (objective, active triplets, impostor pairs held, seconds).
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``, ``init='pca'`` and the impostor subsample.
%(n_jobs)s

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
    pull part :math:`X^T (D - W_{pull}) X` is computed once. Every gradient is
    L times a matrix on the span of the (centred) training data, so the fit
    works in that span and in the span of the starting L there: with p the rank
    of X and q = min(n_components, p), L-BFGS runs on a q x p matrix, which
    makes the same iterates as on L at a cost in p and q instead of
    ``n_features`` and ``n_components`` (wide data, n < d, gains the most).

    The triplets are summed over an active set of impostor pairs: every pair of
    different classes within 1.2 times the anchor's margin radius (farthest
    target neighbour plus one), found by an exact search in the current
    embedding. The set is checked after 10 iterations, then at intervals that
    grow by half after each check that found it complete and halve after one
    that did not (L-BFGS then restarts at that point), and once more before
    convergence is declared: the fit ends only where the set holds every
    active triplet. A check needs no search when a bound proves the set still
    complete: no point moved far enough since the last search for a pair left
    out to reach the margin (or, the same for every pair, L moved little
    relative to itself).

    The search is exact whatever method it uses: blockwise BLAS products of
    all pairs (O(n^2 q)), a KD-tree queried with every anchor's own radius in
    low dimension (sub-quadratic when the balls hold few points), and, when the
    pairs are sampled (``max_impostors``), only the pairs of the sample: the
    points fall in 2^j groups by a seeded hash and each group pairs with one
    other, so a fraction 2^-j of the pairs costs 2^-j of the search. A pair is
    inside its radius when its squared distance, summed in coordinate order,
    is below it: every method finds the same pairs.

    Threads (``n_jobs``): BLAS runs on one thread and the fit shares out its
    products, searches and numba loops in pieces fixed by the data alone, summed
    in a fixed order, so the model is the same, to the last bit, for every
    ``n_jobs``.

    Cost: target neighbours O(n^2 p / C) once for C classes; each impostor
    search O(n^2 q) blockwise, or less (tree, sample); each objective
    evaluation O(n p q + m k q) for m impostor pairs held.

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
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(
        self,
        n_components=None,
        *,
        n_neighbors=3,
        push_weight=0.5,
        init="auto",
        warm_start=False,
        max_iter=300,
        tol=1e-3,
        max_impostors=500_000,
        loss="squared_hinge",
        init_scale=1.0,
        callback=None,
        verbose=0,
        random_state=None,
        n_jobs=None,
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
        self.n_jobs = n_jobs

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
        # BLAS on one thread: the fit shares its work out itself, in pieces fixed
        # by the data alone, so that the model does not depend on n_jobs.
        # On small data, threads cost more than they give (see _threaded).
        n_jobs = self.n_jobs if _threaded(n_samples, n_features) else 1
        with thread_limits(n_jobs, blas_threads=1) as n_threads:
            basis = _span_basis(X_work)
            X_span = X_work if basis is None else np.ascontiguousarray(X_work @ basis)
            targets = find_target_neighbors(X_span, y, self.n_neighbors,
                                            n_threads=n_threads)
            components = self._initial_components(
                X_work, y, init, n_components, scale, targets, previous, rng
            )
            reduced = _Reduced(components, basis)
            problem = LMNNProblem(
                X_span, *targets, _pull_scatter(X_span, targets),
                float(self.push_weight), self.loss == "squared_hinge", y,
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
                problem, self, lambda x: reduced.expand(x) / scale, printer,
                seed=int(rng.randint(np.iinfo(np.int32).max)), n_threads=n_threads,
            )
            inner, converged = solver.run(reduced.start)

        self.components_ = reduced.expand(inner) / scale
        self.n_iter_ = solver.n_iter
        printer.summary(
            f"{'Converged' if converged else 'Stopped'} after {solver.n_iter} "
            f"iterations, objective {solver.loss:.6e}, {solver.n_searches} "
            "impostor searches,"
        )
        if not converged and solver.sample_gap is not None:
            warnings.warn(
                f"LMNN did not converge: max_impostors={self.max_impostors} holds "
                "too few impostor pairs to represent the objective: "
                f"{solver.n_resamples} independent samples of pairs found the fit "
                "over-fitting its sample, which grew to at most "
                f"{solver.max_pairs} pairs (on the last check, the objective was "
                f"{solver.sample_gap:.0%} above the fitted sample's estimate). The "
                "model is the iterate of lowest objective on a sample it was not "
                "fitted to. Raise max_impostors (None holds every pair).",
                ConvergenceWarning,
                stacklevel=2,
            )
        elif not converged:
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
            typical = _typical_distance(
                pair_sq_dists(embedded, targets[0], targets[1]))
            if typical > 0.0:
                components *= self.init_scale / typical
        return np.ascontiguousarray(components)


# Data with fewer rows than _THREADED_FROM and fewer values than
# _THREADED_FROM_VALUES fit on one thread whatever n_jobs says (the model is the
# same): starting threads for pieces of work this small costs more than it saves.
# Wide data (many values per row) gets threads from fewer rows: measured on
# isolet's 617 features (n_jobs=2 against 1, the same model), 1.4x faster at 1560
# rows (963k values), 1.1x at 850 rows (524k), no gain at 450 rows (278k).
_THREADED_FROM = 2_048
_THREADED_FROM_VALUES = 2**19


def _threaded(n_samples, n_features):
    """Whether a fit on this many rows and features uses the threads of n_jobs."""
    return n_samples >= _THREADED_FROM or n_samples * n_features >= _THREADED_FROM_VALUES


LMNN.__doc__ = LMNN.__doc__.replace("%(n_jobs)s", N_JOBS_DOC + """
        LMNN fits on one thread, whatever ``n_jobs`` says, when X has fewer
        than 2048 rows and fewer than 2**19 values (rows times features): on
        data that small, threads cost more than they save.""")


# Target-neighbour distances above this multiple of their median are left out of
# the typical distance that sets the starting scale.
_OUTLYING_DISTANCE = 10.0


def _typical_distance(sq_dists):
    """Root mean square of the target distances but the outlying ones.

    The distances more than ``_OUTLYING_DISTANCE`` times their median (taken
    over the non-zero ones) are left out, so that one sample far from its class
    (a row at 1e6 among values of a few units) does not shrink the starting map
    for every other sample. On neighbourhoods without such outliers this is the
    root mean square of all the distances.
    """
    positive = sq_dists[sq_dists > 0.0]
    if positive.size == 0:
        return 0.0
    bound = _OUTLYING_DISTANCE**2 * np.median(positive)
    return float(np.sqrt(np.mean(sq_dists[sq_dists <= bound])))


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


def _span_basis(X):
    """Orthonormal basis (n_features, p) of the span of the rows of X, or None.

    None when X has full column rank. Otherwise every distance between rows of X
    is one between rows of ``X @ basis``, but for directions of squared singular
    value below ``max(n, d) eps`` times the largest (at the rounding level of the
    Gram matrix they come from), which are dropped.
    """
    n_samples, n_features = X.shape
    if n_samples <= n_features:
        values, vectors = np.linalg.eigh(X @ X.T)
    else:
        values, vectors = np.linalg.eigh(X.T @ X)
    values = np.maximum(values, 0.0)
    tol = values.max(initial=0.0) * max(X.shape) * np.finfo(float).eps
    keep = values > tol
    rank = int(keep.sum())
    if rank == 0:  # X all zero: one direction, any, will do
        return None if n_features == 1 else np.eye(n_features, 1)
    if rank == n_features:
        return None
    if n_samples <= n_features:
        basis = X.T @ (vectors[:, keep] / np.sqrt(values[keep]))
    else:
        basis = vectors[:, keep]
    basis, _ = np.linalg.qr(basis)
    return np.ascontiguousarray(basis)


class _Reduced:
    """L = fixed + Q R B^T: the part of L that the objective sees, and the rest.

    With B the span basis of X (or I) and L0 B = Q R (a QR factorisation when L0
    has more rows than B has columns, else Q = I), every gradient of the
    objective is L S for an S in span(B), and every L-BFGS iterate stays L0 plus
    combinations of gradients; so L-BFGS over the small R (q, p) makes the same
    iterates as over L, with the same inner products, at a cost in p and q
    instead of n_features and n_components.
    """

    def __init__(self, components, basis):
        self.basis = basis
        on_span = components if basis is None else components @ basis
        self.fixed = None if basis is None else components - on_span @ basis.T
        if on_span.shape[0] > on_span.shape[1]:
            self.left, self.start = np.linalg.qr(on_span)
        else:
            self.left, self.start = None, on_span
        self.start = np.ascontiguousarray(self.start)

    def expand(self, inner):
        """The full L (n_components, n_features) for R, flat or not."""
        inner = np.asarray(inner).reshape(self.start.shape)
        on_span = inner if self.left is None else self.left @ inner
        if self.basis is None:
            return on_span
        return self.fixed + on_span @ self.basis.T
