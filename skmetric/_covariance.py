"""Covariance: the Mahalanobis distance of the data's own covariance."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._base import MahalanobisMixin
from ._init import components_from_metric, whitening_components
from ._threads import N_JOBS_CONSTRAINT, fit_n_jobs, thread_limits
from ._validation import Integral, Interval, check_params, check_X


class Covariance(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """The classical Mahalanobis distance: the inverse covariance of the data.

    Unsupervised baseline: M is the (pseudo-)inverse of the covariance of X, so
    the learned map whitens the data (unit variance, no correlation) and the
    distance no longer depends on the units or the linear mixing of the
    features. Labels, if given, are ignored.

    Parameters
    ----------
    n_components : int, default=None
        None keeps every feature: ``components_`` is the symmetric whitening
        map. An int keeps the leading ``n_components`` eigen-directions of M
        (the directions of least variance, each scaled to unit variance).
    n_jobs : int, default=None
        Threads of the fit (BLAS), as in :class:`NCA`; fits on fewer than 2048
        samples run on one thread. The fitted model agrees to rounding.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The symmetric whitening map ``L = C^{-1/2}`` (pseudo-inverse square
        root), ``L^T L = M = C^+``; with ``n_components``, its leading
        eigen-directions.
    rank_ : int
        Rank of the covariance; directions of its null space (constant
        features, linear dependencies) get weight zero.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    RCA : Whitening by the within-chunklet covariance instead.
    LFDA : Local Fisher discriminant analysis, from labels.

    Notes
    -----
    With the sample covariance :math:`C = \\frac{1}{n} \\sum_i (x_i - \\bar x)
    (x_i - \\bar x)^T`, the metric is :math:`M = C^{+}` (Moore-Penrose), the
    eigenvalues of C below ``n_features * eps * lambda_max`` counting as zero,
    as ``scipy.linalg.pinvh`` decides. For an invertible A, data ``X A^T``
    give the metric ``A^{-T} M A^{-1}``: distances between mapped points are
    those between the original points (affine invariance). Cost:
    O(n d^2 + d^3).

    References
    ----------
    .. [1] P. C. Mahalanobis. "On the generalised distance in statistics".
       Proceedings of the National Institute of Sciences of India, 1936.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skmetric import Covariance
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(Covariance(), KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 3))
    0.9
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(self, n_components=None, *, n_jobs=None):
        self.n_components = n_components
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Learn the inverse covariance of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        X = check_X(self, X)
        if self.n_components is not None and self.n_components > X.shape[1]:
            raise ValueError(
                f"n_components={self.n_components} must be at most the number of "
                f"features, {X.shape[1]}."
            )
        with thread_limits(fit_n_jobs(self.n_jobs, X.shape[0]),
                           numba_threads=False):
            centred = X - X.mean(axis=0)
            covariance = centred.T @ centred / X.shape[0]
            components, self.rank_ = whitening_components(covariance)
            if self.n_components is not None:
                components = components_from_metric(components @ components,
                                                    self.n_components)
        self.components_ = components
        return self
