"""SCML and SCMLTriplets: sparse compositional metric learning (Shi et al. 2014)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin, VerbosePrinter, warn_not_converged
from ._init import components_from_metric
from ._scml_solver import knn_triplets, lda_basis, solve_scml, triplet_diff_basis
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._tuples import TripletLearnerMixin
from ._validation import (
    Interval,
    StrOptions,
    check_array_param,
    check_params,
    check_X_y_classes,
)

_COMMON_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "n_basis": [Interval(Integral, 1, None, closed="left"), None],
    "beta": [Interval(Real, 0, None, closed="left")],
    "gamma": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "output_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "n_jobs": N_JOBS_CONSTRAINT,
}

_PARAMS = """\
    n_basis : int, default=None
        Number of basis elements; None uses metric-learn's defaults (see the
        ``basis`` parameter).
    beta : float, default=1e-5
        Weight of the L1 penalty on w (the sparsity of the combination).
    gamma : float, default=5e-3
        AdaGrad's step parameter: steps scale as 1 / gamma.
    batch_size : int, default=10
        Triplets per stochastic step.
    max_iter : int, default=10000
        Most stochastic steps.
    output_iter : int, default=500
        Steps between evaluations of the full objective (and of the stopping
        test).
    tol : float, default=1e-3
        Stop when the best full objective improved by at most this fraction
        over the last ``output_iter`` steps."""

_NOTES = """
    Notes
    -----
    SCML learns :math:`M = \\sum_i w_i b_i b_i^T`, :math:`w \\ge 0`, over a basis
    of unit vectors :math:`b_i`, minimising

    .. math::
        \\frac{1}{m} \\sum_{(a, p, n)} \\big[1 + d_w(x_a, x_p) - d_w(x_a, x_n)
        \\big]_+ + \\beta \\sum_i w_i,

    with :math:`d_w` the squared distance under M. The problem is convex in w;
    it is solved as in the paper, by stochastic composite dual averaging with
    AdaGrad steps on mini-batches, which handles the L1 term and :math:`w \\ge
    0` in closed form, keeping the best w of the full objective evaluated every
    ``output_iter`` steps. The full objective and the batch subgradients are
    computed by a numba kernel from the points' projections on the basis,
    without the (m, n_basis) matrix of distance differences metric-learn forms.
    The stopping test is a plateau of the best full objective (relative change
    at most ``tol`` over ``output_iter`` steps): the objective is non-smooth
    and the steps stochastic, so no cheap certificate applies; when max_iter
    is reached before the plateau, a ``ConvergenceWarning`` is emitted.

    The margin 1 and beta are in units of squared distance; skmetric measures
    them on the points divided by their root-mean-square distance to the
    mean, so that the learned distances scale with the data and do not depend
    on its units (metric-learn uses the raw units).

    Cost: O(m K) an evaluation of the full objective, O(batch_size K) a step,
    for m triplets and K basis elements, plus the basis.

    References
    ----------
    .. [1] Y. Shi, A. Bellet and F. Sha. "Sparse compositional metric learning".
       AAAI 2014.
"""


def fit_scml(estimator, points, triplets, basis, rng):
    """Shared fit of SCML and SCMLTriplets: ``basis`` (K, d) in any units, or
    None for the triplet-difference basis; ``rng`` a RandomState."""
    # Every step (set-up decompositions, solver, final factorisation) under
    # the thread policy: LAPACK on tiny matrices with idle BLAS threads
    # waiting costs more than the work on a busy machine.
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        return _fit_scml(estimator, points, triplets, basis, rng)


def _fit_scml(estimator, points, triplets, basis, rng):
    n_features = points.shape[1]
    if estimator.n_components is not None and estimator.n_components > n_features:
        raise ValueError(
            f"n_components={estimator.n_components} must be at most the number of "
            f"features, {n_features}."
        )
    centred = points - points.mean(axis=0)
    scale = np.sqrt(np.mean(np.einsum("ij,ij->i", centred, centred)))
    if scale == 0.0:
        raise ValueError(f"{type(estimator).__name__}: all points are identical; "
                         "no metric can separate them.")
    unit = centred / scale
    if basis is None:
        basis = triplet_diff_basis(unit, triplets, estimator.n_basis or
                                   80 * n_features, rng)
    norms = np.linalg.norm(basis, axis=1)
    basis = basis[norms > 0] / norms[norms > 0, None]
    P = np.ascontiguousarray(unit @ basis.T)
    printer = VerbosePrinter(estimator, [("Iteration", "d"), ("Objective", ".6e"),
                                         ("Best", ".6e"), ("Time(s)", ".2f")])
    printer.start(
        f"Fitting on {points.shape[0]} points, {n_features} features, "
        f"{triplets.shape[0]} triplets, {basis.shape[0]} basis elements."
    )
    with thread_limits(fit_n_jobs(estimator.n_jobs, points.shape[0])):
        weights, objective, n_iter, converged = solve_scml(
            P, triplets, beta=estimator.beta, gamma=estimator.gamma,
            batch_size=estimator.batch_size, max_iter=estimator.max_iter,
            output_iter=estimator.output_iter, tol=estimator.tol, rng=rng,
            printer=printer,
        )
    printer.summary(
        f"{'Converged' if converged else 'Stopped'} after {n_iter} steps, "
        f"objective {objective:.6e}, {int(np.sum(weights > 0))} active elements,"
    )
    active = weights > 0
    metric = (basis[active].T * weights[active]) @ basis[active]
    components = components_from_metric(metric, estimator.n_components) / scale
    estimator.components_ = np.ascontiguousarray(components)
    estimator.basis_ = basis
    estimator.weights_ = weights
    estimator.n_iter_ = n_iter
    if not converged:
        warn_not_converged(estimator, estimator.max_iter)
    return estimator


def _check_basis(basis, n_features):
    return check_array_param(basis, (np.asarray(basis).shape[0], n_features),
                             "basis")


class SCML(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Sparse compositional metric learning from class labels (Shi et al. 2014).

    Learns a sparse non-negative combination of rank-one metrics
    :math:`b_i b_i^T` that orders triplets right: each point nearer its
    ``k_genuine`` nearest class-mates than its ``k_impostor`` nearest points of
    other classes, by a margin. The basis is built from local LDA directions
    ('lda', the paper's choice for labels) or from triplet differences.
    :class:`SCMLTriplets` learns from given triplets.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (leading eigen-directions of M); None keeps
        all ``n_features``.
    k_genuine : int, default=3
        Nearest class-mates of each point used as positives.
    k_impostor : int, default=10
        Nearest points of other classes used as negatives.
    basis : {{'lda', 'triplet_diffs'}} or array-like of shape (n_basis, \
n_features), default='lda'
        The basis: LDA directions of neighbourhoods of k-means centres
        (``n_basis`` defaults to ``min(20 n_features, 2 n_samples (n_classes -
        1) - 1)``; the coordinate axes when no neighbourhood has a discriminant
        direction), eigenvectors of triplet-difference scatters (default
        ``80 n_features``), or given vectors (normalised to unit length).
{params}
    random_state : int, RandomState instance or None, default=None
        Seeds the basis and the mini-batches.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        evaluation of the full objective.
    n_jobs : int, default=None
        Threads of the fit (BLAS); the fitted model agrees to rounding whatever
        the count.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    basis_ : ndarray of shape (n_basis, n_features)
        The unit basis vectors, in the units of the data.
    weights_ : ndarray of shape (n_basis,)
        Their non-negative weights, for the data divided by its root-mean-square
        distance to the mean.
    n_iter_ : int
        Number of stochastic steps run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    SCMLTriplets : The same metric learned from given triplets.
    LMNN : Large margin nearest neighbours, a full metric from the same kind
        of triplets.
{notes}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import SCML
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), SCML(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 2))
    0.96
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "k_genuine": [Interval(Integral, 1, None, closed="left")],
        "k_impostor": [Interval(Integral, 1, None, closed="left")],
        "basis": [StrOptions({"lda", "triplet_diffs"}), "array-like"],
    }

    def __init__(self, n_components=None, *, k_genuine=3, k_impostor=10,
                 basis="lda", n_basis=None, beta=1e-5, gamma=5e-3, batch_size=10,
                 max_iter=10000, output_iter=500, tol=1e-3, random_state=None,
                 verbose=0, n_jobs=None):
        self.n_components = n_components
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.basis = basis
        self.n_basis = n_basis
        self.beta = beta
        self.gamma = gamma
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y=None):
        """Learn the metric from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least two samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        X, y_encoded, _ = check_X_y_classes(self, X, y)
        rng = check_random_state(self.random_state)
        n_samples, n_features = X.shape
        # The neighbour searches, k-means and LDA fits of the basis under the
        # same thread policy as the solver (one thread for a small fit).
        with thread_limits(fit_n_jobs(self.n_jobs, n_samples)):
            triplets = knn_triplets(X, y_encoded, self.k_genuine, self.k_impostor)
            if isinstance(self.basis, str) and self.basis == "lda":
                n_classes = int(y_encoded.max()) + 1
                n_eig = min(n_classes - 1, n_features)
                n_basis = self.n_basis or max(1, min(20 * n_features,
                                                     2 * n_samples * n_eig - 1))
                centred = X - X.mean(axis=0)
                basis = lda_basis(centred, y_encoded, n_basis, rng)
            elif isinstance(self.basis, str):
                basis = None
            else:
                basis = _check_basis(self.basis, n_features)
            return fit_scml(self, X, triplets, basis, rng)


class SCMLTriplets(TripletLearnerMixin, MahalanobisMixin, BaseEstimator):
    """Sparse compositional metric learning from triplets (Shi et al. 2014).

    The triplet learner of :class:`SCML`: the same problem and solver, with the
    triplets ``(a, p, n)``, "a is nearer p than n", as the samples: of points,
    ``(n_triplets, 3, n_features)``, or of row indices, ``(n_triplets, 3)``,
    into the ``preprocessor`` array; there is no ``y``. ``transform`` embeds
    plain points.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (leading eigen-directions of M); None keeps
        all ``n_features``.
    basis : 'triplet_diffs' or array-like of shape (n_basis, n_features), \
default='triplet_diffs'
        Eigenvectors of scatters of triplet differences (``n_basis`` defaults
        to ``80 n_features``, as metric-learn), or given vectors (normalised to
        unit length).
{params}
    preprocessor : array-like of shape (n_samples, n_features) or callable, \
default=None
        Points that triplets of row indices refer to, or a callable mapping a
        1-D int64 array of row indices to the array of their points. None:
        ``X`` must hold the points themselves.
    random_state : int, RandomState instance or None, default=None
        Seeds the basis and the mini-batches.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        evaluation of the full objective.
    n_jobs : int, default=None
        Threads of the fit, as in :class:`SCML`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``L^T L = M``.
    basis_ : ndarray of shape (n_basis, n_features)
        The unit basis vectors.
    weights_ : ndarray of shape (n_basis,)
        Their non-negative weights (for the points divided by their
        root-mean-square distance to the mean).
    n_iter_ : int
        Number of stochastic steps run.
    n_features_in_ : int
        Number of features of the points.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when the preprocessor is a DataFrame with string
        column names.

    See Also
    --------
    SCML : The same metric learned from class labels.
{notes}
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import SCMLTriplets
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> rows = np.random.default_rng(0).choice(len(X), size=(3000, 3))
    >>> keep = (y[rows[:, 0]] == y[rows[:, 1]]) & (y[rows[:, 0]] != y[rows[:, 2]])
    >>> triplets = rows[keep & (rows[:, 0] != rows[:, 1])]
    >>> model = SCMLTriplets(random_state=0, preprocessor=X)
    >>> print(round(cross_val_score(model, triplets, cv=5).mean(), 2))
    0.96
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "basis": [StrOptions({"triplet_diffs"}), "array-like"],
        "preprocessor": ["array-like", callable, None],
    }

    def __init__(self, n_components=None, *, basis="triplet_diffs", n_basis=None,
                 beta=1e-5, gamma=5e-3, batch_size=10, max_iter=10000,
                 output_iter=500, tol=1e-3, preprocessor=None, random_state=None,
                 verbose=0, n_jobs=None):
        self.n_components = n_components
        self.basis = basis
        self.n_basis = n_basis
        self.beta = beta
        self.gamma = gamma
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.tol = tol
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _embed_points(self, points):
        return points @ self.components_.T

    def fit(self, X, y=None):
        """Learn the metric from triplets.

        Parameters
        ----------
        X : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets ``(a, p, n)``: a is nearer p than n.
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        points, triplets = self._check_tuples(X, reset=True)
        basis = None if isinstance(self.basis, str) else _check_basis(
            self.basis, points.shape[1])
        return fit_scml(self, points, triplets, basis,
                        check_random_state(self.random_state))


SCML.__doc__ = SCML.__doc__.format(params=_PARAMS, notes=_NOTES)
SCMLTriplets.__doc__ = SCMLTriplets.__doc__.format(params=_PARAMS, notes=_NOTES)
