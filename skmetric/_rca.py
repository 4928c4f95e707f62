"""RCA: Relevant Components Analysis (Bar-Hillel et al. 2005), labels or chunklets."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._base import MahalanobisMixin
from ._init import discriminant_directions, signed_rows
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._tuples import _TupleLearnerMixin
from ._validation import (
    Interval,
    check_chunklets,
    check_params,
    check_X_y_classes,
    class_members,
)

_RCA_NOTES = """\
    With chunklets :math:`H_1, \\dots, H_m` (groups of points known to share a
    class), means :math:`\\bar x_j` and :math:`N` points in all, RCA whitens the
    within-chunklet covariance

    .. math::
        \\hat C = \\frac{1}{N} \\sum_{j} \\sum_{x \\in H_j} (x - \\bar x_j)
        (x - \\bar x_j)^T, \\qquad M = \\hat C^{-1},

    the maximum-likelihood metric under Gaussian classes sharing a covariance.
    Bar-Hillel et al. reduce the dimension first by a Fisher step under the
    chunklet constraints; skmetric does both at once: the rows of L are the
    leading generalised eigenvectors of :math:`S_t v = \\lambda \\hat C v`
    (:math:`S_t` the covariance of the chunklet points), scaled so that
    :math:`v^T \\hat C v = 1`. With all of them, :math:`L^T L = \\hat C^{-1}`
    in the span of the data; with ``n_components`` of them, the directions
    where the chunklets vary least relative to the data. The problem is solved
    in the span of the points; where :math:`\\hat C` is singular there (fewer
    chunklet degrees of freedom than dimensions), a ridge of 1e-9 times its
    mean eigenvalue is added and a ``UserWarning`` names the fix. Distances
    do not change under an invertible linear map of the data. Cost
    O(N d^2 + d^3)."""


def fit_rca(estimator, points, chunk):
    """Fit RCA on points and their chunklet numbers (``-1``: in no chunklet).

    Shared by :class:`RCA` and :class:`RCAChunks`: sets ``components_`` (and
    the eigenvalues) and returns the estimator.
    """
    n_points, n_features = points.shape
    n_components = estimator.n_components or n_features
    if n_components > n_features:
        raise ValueError(
            f"n_components={n_components} must be at most the number of features, "
            f"{n_features}."
        )
    in_chunk = chunk >= 0
    chunk_points, chunk_ids = points[in_chunk], chunk[in_chunk]
    n_chunks = int(chunk_ids.max()) + 1
    counts = np.bincount(chunk_ids, minlength=n_chunks)
    means = np.zeros((n_chunks, n_features))
    # Sums per chunklet over the rows sorted by chunklet (a stable sort keeps
    # each chunklet's rows in order): np.add.reduceat, not the slow np.add.at.
    order = np.argsort(chunk_ids, kind="stable")
    sorted_ids = chunk_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    means[sorted_ids[starts]] = np.add.reduceat(chunk_points[order], starts, axis=0)
    means /= np.maximum(counts, 1)[:, None]
    # The products too under the thread policy (BLAS on two threads of a busy
    # machine costs more than these small products).
    with thread_limits(fit_n_jobs(estimator.n_jobs, chunk_points.shape[0]),
                       numba_threads=False):
        deviations = chunk_points - means[chunk_ids]  # products: O(N d^2)
        within = deviations.T @ deviations / chunk_points.shape[0]
        centred = chunk_points - chunk_points.mean(axis=0)
        total = centred.T @ centred / chunk_points.shape[0]
        values, vectors, ridged = discriminant_directions(total, within, total)
    if ridged:
        warnings.warn(
            f"{type(estimator).__name__}: the within-chunklet covariance is "
            f"singular in the span of the data ({chunk_points.shape[0] - n_chunks} "
            f"chunklet degrees of freedom for {vectors.shape[1]} dimensions); a "
            "ridge keeps the metric finite, with very large weights on the "
            "directions where the chunklets do not vary. Give more or larger "
            "chunklets, or lower n_components.",
            UserWarning,
            stacklevel=3,
        )
    values, vectors = values[:n_components], vectors[:, :n_components]
    components = np.zeros((n_components, n_features))
    components[: vectors.shape[1]] = signed_rows(vectors.T)
    estimator.components_ = components
    return estimator


class RCA(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Relevant Components Analysis from class labels (Bar-Hillel et al. 2005).

    Learns the Mahalanobis metric that whitens the within-chunklet covariance:
    directions along which points of one class vary are shrunk, the others
    kept. From labels, the chunklets are the classes themselves (or sampled
    small groups of class-mates, as metric-learn's ``RCA_Supervised`` does).
    Closed form, no iterations. :class:`RCAChunks` learns the same metric from
    chunklets given directly.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding. None keeps ``n_features`` (rows past the
        rank of the data are zero).
    n_chunks : int, default=None
        None: every class is one chunklet (all the label information). An int:
        that many chunklets of ``chunk_size`` class-mates, drawn without
        reusing a point.
    chunk_size : int, default=2
        Points per sampled chunklet (with ``n_chunks``).
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling of chunklets (with ``n_chunks``).
    n_jobs : int, default=None
        Threads of the fit (BLAS), as in :class:`NCA`; fits on fewer than 2048
        samples run on one thread. The fitted model agrees to rounding.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map L.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    RCAChunks : The same metric from chunklets.
    Covariance : Whitening by the total covariance.

    Notes
    -----
{notes}

    References
    ----------
    .. [1] A. Bar-Hillel, T. Hertz, N. Shental and D. Weinshall. "Learning a
       Mahalanobis Metric from Equivalence Constraints". JMLR 6, 2005.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skmetric import RCA
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(RCA(), KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 3))
    0.967
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_chunks": [Interval(Integral, 1, None, closed="left"), None],
        "chunk_size": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(self, n_components=None, *, n_chunks=None, chunk_size=2,
                 random_state=None, n_jobs=None):
        self.n_components = n_components
        self.n_chunks = n_chunks
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y):
        """Learn the metric from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels: at least two classes, each of at least two samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        X, y_encoded, _ = check_X_y_classes(self, X, y)
        rng = check_random_state(self.random_state)
        if self.n_chunks is None:
            chunk = y_encoded.copy()
        else:
            chunk = sample_chunklets(y_encoded, self.n_chunks, self.chunk_size, rng)
        return fit_rca(self, X, chunk)


RCA.__doc__ = RCA.__doc__.replace("{notes}", _RCA_NOTES)


def sample_chunklets(y, n_chunks, chunk_size, rng):
    """Chunk number of every row (-1: none) for ``n_chunks`` sampled chunklets.

    Each chunklet takes ``chunk_size`` unused rows of one class, the class drawn
    uniformly among those with enough unused rows left. Raises a ValueError
    stating the counts when the labels cannot give that many.
    """
    members = [rng.permutation(rows) for rows in class_members(y)]
    capacity = np.array([len(rows) // chunk_size for rows in members])
    if capacity.sum() < n_chunks:
        raise ValueError(
            f"n_chunks={n_chunks} chunklets of chunk_size={chunk_size} need more "
            f"points: the classes give at most {int(capacity.sum())} disjoint "
            "chunklets. Lower n_chunks or chunk_size, or use n_chunks=None."
        )
    chunk = np.full(y.shape[0], -1, dtype=np.int64)
    used = np.zeros(len(members), dtype=np.int64)
    for number in range(n_chunks):
        open_classes = np.flatnonzero(capacity > used)
        c = open_classes[rng.randint(open_classes.shape[0])]
        start = used[c] * chunk_size
        chunk[members[c][start:start + chunk_size]] = number
        used[c] += 1
    return chunk


class RCAChunks(_TupleLearnerMixin, MahalanobisMixin, BaseEstimator):
    """Relevant Components Analysis from chunklets (Bar-Hillel et al. 2005).

    The chunklet learner of :class:`RCA`: the samples are the chunklets
    themselves (groups of points known to share a class, whose class is not
    known), so ``cross_val_score`` and ``train_test_split`` split chunklets.
    ``X`` holds chunklets of row indices into the ``preprocessor``, shape
    ``(n_chunklets, size)``, with -1 filling the empty slots of chunklets
    shorter than ``size``; or chunklets of points, shape ``(n_chunklets, size,
    n_features)``, all of one size. Chunklets must be disjoint. metric-learn's
    form, a chunklet number per point with -1 for none, converts to the first
    form as in the example. Once fitted, ``transform`` embeds plain points.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding. None keeps ``n_features``.
    preprocessor : array-like of shape (n_samples, n_features), default=None
        Points that chunklets of row indices refer to. None: ``X`` must hold
        the points themselves.
    n_jobs : int, default=None
        Threads of the fit (BLAS), as in :class:`NCA`; fits on fewer than 2048
        points run on one thread. The fitted model agrees to rounding.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map L.
    n_features_in_ : int
        Number of features of the points.

    See Also
    --------
    RCA : The same metric from class labels.

    Notes
    -----
{notes}

    Only the points of the chunklets enter the fit (the rows of the
    preprocessor that no chunklet names do not).

    References
    ----------
    .. [1] A. Bar-Hillel, T. Hertz, N. Shental and D. Weinshall. "Learning a
       Mahalanobis Metric from Equivalence Constraints". JMLR 6, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skmetric import RCAChunks
    >>> X, y = load_iris(return_X_y=True)
    >>> ids = np.full(len(X), -1)                # metric-learn's form:
    >>> ids[:100:2] = np.arange(50) // 5          # 10 chunklets of 5 points
    >>> size = np.bincount(ids[ids >= 0]).max()
    >>> chunklets = np.full((ids.max() + 1, size), -1)
    >>> for number in range(ids.max() + 1):
    ...     rows = np.flatnonzero(ids == number)
    ...     chunklets[number, : len(rows)] = rows
    >>> model = RCAChunks(preprocessor=X).fit(chunklets)
    >>> model.transform(X).shape
    (150, 4)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "preprocessor": ["array-like", None],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(self, n_components=None, *, preprocessor=None, n_jobs=None):
        self.n_components = n_components
        self.preprocessor = preprocessor
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def fit(self, X, y=None):
        """Learn the metric from chunklets.

        Parameters
        ----------
        X : array-like of shape (n_chunklets, size) or (n_chunklets, size, \
n_features)
            Chunklets of row indices into the preprocessor (-1: empty slot), or
            of points.
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        preprocessor = self.preprocessor if np.ndim(X) == 2 else None
        points, chunk = check_chunklets(self, X, preprocessor=preprocessor)
        return fit_rca(self, points, chunk)


RCAChunks.__doc__ = RCAChunks.__doc__.replace("{notes}", _RCA_NOTES)
