"""LFDA: Local Fisher Discriminant Analysis (Sugiyama 2007)."""

from numbers import Integral

import numpy as np
from scipy.linalg.blas import dsyrk
from sklearn.base import BaseEstimator, TransformerMixin

from ._base import MahalanobisMixin
from ._init import _EPS, discriminant_directions, signed_rows
from ._kernels import (
    _BLOCK_ELEMENTS,
    lfda_affinity,
    sq_dist_row_blocks,
)
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._validation import (
    Interval,
    StrOptions,
    check_params,
    check_X_y_classes,
)


class LFDA(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Local Fisher Discriminant Analysis (Sugiyama 2007).

    A Fisher discriminant that respects the local structure of each class:
    pairs of same-class points are weighted by their affinity, so that a class
    made of several clusters (multimodal) is not forced into one. The learned
    map maximises the local between-class scatter relative to the local
    within-class scatter; it is a closed-form generalised eigenproblem, with
    no iterations.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding. None keeps ``n_features`` (rows past the
        rank of the data are zero).
    n_neighbors : int, default=7
        The k of the local scaling: each point's scale is its distance to its
        k-th nearest neighbour in its class (the paper's choice, k = 7), at
        most the class size minus one.
    embedding_type : {'weighted', 'orthonormalized', 'plain'}, default='weighted'
        'weighted': each unit-norm eigenvector scaled by the square root of its
        eigenvalue (the paper's recommendation); 'orthonormalized': the
        eigenvectors orthonormalised; 'plain': unit-norm eigenvectors.
    n_jobs : int, default=None
        Threads of the fit (BLAS), as in :class:`NCA`; fits on fewer than 2048
        samples run on one thread. The fitted model agrees to rounding.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map (rows are the scaled eigenvectors).
    eigenvalues_ : ndarray of shape (n_components,)
        The generalised eigenvalues of the kept directions, descending (zero
        for rows past the rank of the data).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    NCA : Neighbourhood components analysis.
    sklearn.discriminant_analysis.LinearDiscriminantAnalysis : Global Fisher.

    Notes
    -----
    With the affinity :math:`A_{ij} = \\exp(-\\|x_i - x_j\\|^2 / (\\sigma_i
    \\sigma_j))` of same-class points (:math:`\\sigma_i` the distance of
    :math:`x_i` to its k-th nearest class-mate) and :math:`n_c` the size of the
    class, LFDA forms

    .. math::
        S^{(w)} = \\tfrac12 \\sum_{ij} W^{(w)}_{ij} (x_i - x_j)(x_i - x_j)^T,
        \\quad W^{(w)}_{ij} = A_{ij} / n_c \\text{ (same class), } 0
        \\text{ (else)},

    and :math:`S^{(b)}` likewise with :math:`W^{(b)}_{ij} = A_{ij} (1/n -
    1/n_c)` (same class) and :math:`1/n` (else), and takes the leading
    generalised eigenvectors of :math:`S^{(b)} \\varphi = \\lambda S^{(w)}
    \\varphi`. :math:`S^{(b)}` is assembled as the total scatter plus per-class
    terms, never an n x n matrix: cost O(sum_c n_c^2 d + n d^2 + d^3), memory
    O(32 MiB + n d + d^2). The problem is solved in the span of the data; when
    :math:`S^{(w)}` is singular there (fewer points than features), a ridge of
    1e-9 times its mean eigenvalue is added (see
    ``skmetric._init.discriminant_directions``). The affinities depend on
    Euclidean distances, so the result is equivariant under rotations and
    scalings of the data (the embedding of ``s X Q`` is ``s`` times that of
    X), not under general linear maps.

    References
    ----------
    .. [1] M. Sugiyama. "Dimensionality Reduction of Multimodal Labeled Data by
       Local Fisher Discriminant Analysis". JMLR 8, 2007.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import LFDA
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), LFDA(2),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 3))
    0.98
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "embedding_type": [StrOptions({"weighted", "orthonormalized", "plain"})],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(self, n_components=None, *, n_neighbors=7,
                 embedding_type="weighted", n_jobs=None):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.embedding_type = embedding_type
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y):
        """Learn the map from class labels.

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
        n_samples, n_features = X.shape
        n_components = self.n_components or n_features
        if n_components > n_features:
            raise ValueError(
                f"n_components={n_components} must be at most the number of "
                f"features, {n_features}."
            )
        with thread_limits(fit_n_jobs(self.n_jobs, n_samples), numba_threads=False):
            local_between, local_within, total = local_scatters(
                X, y_encoded, self.n_neighbors)
            values, vectors, _ = discriminant_directions(local_between,
                                                         local_within, total)
        values, vectors = values[:n_components], vectors[:, :n_components]
        vectors = vectors / np.sqrt((vectors * vectors).sum(axis=0))  # unit norm
        if self.embedding_type == "weighted":
            vectors = vectors * np.sqrt(np.maximum(values, 0.0))
        elif self.embedding_type == "orthonormalized" and vectors.shape[1]:
            vectors = np.linalg.qr(vectors)[0]
        components = np.zeros((n_components, n_features))
        components[: vectors.shape[1]] = signed_rows(vectors.T)
        self.components_ = components
        self.eigenvalues_ = np.zeros(n_components)
        self.eigenvalues_[: values.shape[0]] = values
        return self


def local_scatters(X, y, n_neighbors):
    """LFDA's local between-class, local within-class and total scatters.

    Each is ``1/2 sum_ij W_ij (x_i - x_j)(x_i - x_j)^T`` for its weights (see
    LFDA's Notes). The rows are taken in class order, so that each class is a
    contiguous block: its Laplacian rows ``(diag(A 1) - A) X_c``
    (:func:`affinity_laplacian_rows`, from the class's centred rows) and its
    centred rows are written into two (n, d) arrays, and the three sums over
    classes are three products of those with the centred rows, whatever the
    number of classes. Returns three (d, d) arrays.
    """
    n_samples = X.shape[0]
    counts = np.bincount(y)
    order = np.argsort(y, kind="stable")
    X = X[order]
    ends = counts.cumsum()
    centred = X - X.sum(axis=0) / n_samples  # X.mean(axis=0), bit for bit
    total = centred.T @ centred
    # A constant feature's mean may round away from its value: its centred
    # columns are made exactly zero, so that rounding noise cannot pass for
    # spread. That noise is at most about n eps |x| in each entry (the error of
    # a sum of n terms), so only a column whose scatter is below
    # 4 n^3 eps^2 max|X|^2 can be constant: those alone are checked.
    largest = max(X.max(), -X.min())
    constant = np.flatnonzero(np.diagonal(total)
                              <= 4.0 * n_samples**3 * (_EPS * largest) ** 2)
    if constant.size:
        constant = constant[X[:, constant].max(axis=0) == X[:, constant].min(axis=0)]
        if constant.size:
            centred[:, constant] = 0.0
            total = centred.T @ centred
    laplacian_rows = np.zeros_like(X)
    class_centred = np.zeros_like(X)
    for end, n_class in zip(ends.tolist(), counts.tolist()):
        if n_class < 2:
            continue
        start = end - n_class
        X_class = X[start:end]
        Z = X_class - X_class.sum(axis=0) / n_class
        if constant.size:
            Z[:, constant] = 0.0
        class_centred[start:end] = Z
        # Distances do not change with the class's mean taken out, and the
        # affinity's Laplacian has rows summing to zero, so (D - A) Z is
        # (D - A) X_c; centred rows keep the distances' expansion from
        # cancelling away their digits when the features are far from zero.
        laplacian_rows[start:end] = affinity_laplacian_rows(
            Z, min(n_neighbors, n_class - 1))
    class_size = counts[y[order]].astype(np.float64)[:, None]
    # sum_c S_c / n_c, sum_c S_c / n and sum_c (n_c / n) Z_c^T Z_c, with
    # S_c = X_c^T (diag(A_c 1) - A_c) X_c, where any shift of X_c gives the same
    # (the Laplacian's rows and columns sum to zero), and Z_c the centred rows of
    # class c.
    local_within = centred.T @ (laplacian_rows / class_size)
    affinity_terms = (centred.T @ laplacian_rows) / n_samples
    class_terms = (class_centred.T @ (class_centred * class_size)) / n_samples
    local_between = total + affinity_terms - class_terms - local_within
    return ((local_between + local_between.T) * 0.5,
            (local_within + local_within.T) * 0.5, total)


def affinity_laplacian_rows(X, k):
    """``(diag(A 1) - A) X`` for LFDA's affinity A of the rows of X: ``X^T`` times
    it is the affinity scatter ``1/2 sum_ij A_ij (x_i - x_j)(x_i - x_j)^T``.

    ``sigma_i`` is the distance of row i to its k-th nearest other row; a pair
    at distance zero has affinity 1, a pair at a positive distance from a row
    whose scale is zero (k duplicates) has affinity 0. The diagonal of A
    cancels out of the scatter, so it is left at zero. A class whose distance
    matrix fits in one block (:data:`_BLOCK_ELEMENTS` entries) computes it
    once; a larger one twice, block by block, to bound the memory.
    """
    n_rows = X.shape[0]
    if n_rows * n_rows <= _BLOCK_ELEMENTS:
        # The Gram matrix's upper triangle, the half the kernel reads, by BLAS's
        # symmetric rank-k update (its lower triangle in Fortran order).
        gram = dsyrk(1.0, X.T, trans=1, lower=1).T
        affinity, degrees = lfda_affinity(gram, k)
        weighted = affinity @ X
    else:
        scales = np.empty(n_rows)
        for start, stop, sq_dists in sq_dist_row_blocks(X, X):
            sq_dists[np.arange(stop - start), np.arange(start, stop)] = np.inf
            scales[start:stop] = np.sqrt(
                np.partition(sq_dists, k - 1, axis=1)[:, k - 1])
        degrees = np.empty(n_rows)
        weighted = np.empty_like(X)
        for start, stop, sq_dists in sq_dist_row_blocks(X, X):
            sq_dists[np.arange(stop - start), np.arange(start, stop)] = np.inf
            affinity = _affinity(sq_dists, scales[start:stop], scales)
            degrees[start:stop] = affinity.sum(axis=1)
            weighted[start:stop] = affinity @ X
    return X * degrees[:, None] - weighted


def _affinity(sq_dists, row_scales, column_scales):
    """``exp(-d_ij^2 / (sigma_i sigma_j))``, 1 where ``d_ij = 0`` (a 0 / 0),
    0 on an infinite distance (the diagonal); a new array."""
    denominator = row_scales[:, None] * column_scales[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        affinity = np.exp(-sq_dists / denominator)
    affinity[sq_dists == 0.0] = 1.0
    return affinity
