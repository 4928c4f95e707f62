"""Starting transforms (identity, pca, lda, random) and positive semi-definite helpers."""

import numpy as np
import scipy.linalg
from scipy.linalg.lapack import dsyevd
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from ._validation import check_array_param

# The float64 machine epsilon, for the relative rank tests below.
_EPS = float(np.finfo(np.float64).eps)

INIT_OPTIONS = {"auto", "pca", "lda", "identity", "random"}


def symmetric_eigh(M):
    """Eigen-decomposition of the symmetric part of M, eigenvalues descending.

    Falls back from LAPACK's divide-and-conquer driver to the QR driver and then to an
    SVD of the symmetric part, so an ill-conditioned M does not make the fit fail.

    Returns
    -------
    eigenvalues : ndarray of shape (d,)
    eigenvectors : ndarray of shape (d, d)
        Column ``k`` belongs to ``eigenvalues[k]``.
    """
    sym = (M + M.T) * 0.5
    if not np.all(np.isfinite(sym)):
        raise FloatingPointError("the metric matrix has non-finite entries")
    try:
        values, vectors = np.linalg.eigh(sym)
    except np.linalg.LinAlgError:
        try:
            values, vectors = scipy.linalg.eigh(sym, driver="ev")
        except (np.linalg.LinAlgError, ValueError):
            # Symmetric: the singular vectors are eigenvectors; the signs of the
            # eigenvalues come from the Rayleigh quotients.
            vectors, _, _ = np.linalg.svd(sym)
            values = np.einsum("ij,ij->j", vectors, sym @ vectors)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def project_psd(M):
    """Nearest positive semi-definite matrix in Frobenius norm (eigenvalues clipped).

    Returns
    -------
    M_psd : ndarray of shape (d, d)
    eigenvalues : ndarray of shape (d,), descending, non-negative
    eigenvectors : ndarray of shape (d, d)
    """
    values, vectors = symmetric_eigh(M)
    values = np.maximum(values, 0.0)
    M_psd = (vectors * values) @ vectors.T
    return (M_psd + M_psd.T) * 0.5, values, vectors


def components_from_eigh(values, vectors, n_components=None):
    """L with ``L^T L = V diag(values) V^T``, keeping the leading directions.

    Rows are ``sqrt(values[k]) * vectors[:, k]`` for the ``n_components`` largest
    eigenvalues (negative ones clipped to zero), each signed so that its entry of
    largest magnitude is positive.
    """
    if n_components is None:
        n_components = values.shape[0]
    top = np.maximum(values[:n_components], 0.0)
    rows = vectors[:, :n_components].T
    # Eigenvectors have no sign: make each row's largest entry positive, so equal
    # metrics give equal components.
    largest = rows[np.arange(rows.shape[0]), np.argmax(np.abs(rows), axis=1)]
    rows = rows * np.where(largest < 0.0, -1.0, 1.0)[:, None]
    return np.ascontiguousarray(np.sqrt(top)[:, None] * rows)


def components_from_metric(M, n_components=None):
    """Factor a PSD matrix M as ``L^T L`` with L of shape (n_components, d)."""
    values, vectors = symmetric_eigh(M)
    return components_from_eigh(values, vectors, n_components)


def initial_components(init, X, y, n_components, rng):
    """Starting linear map L of shape (n_components, n_features).

    Parameters
    ----------
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray
        'auto' picks 'lda' when ``n_components <= min(n_features, n_classes - 1)``,
        'pca' when ``n_components < min(n_features, n_samples)``, and 'identity'
        otherwise; it picks 'identity' when every feature is constant.
        'identity' is the truncated identity; 'random' has standard normal entries;
        an array of shape (n_components, n_features) is used as given (copied).
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), int64 labels ``0..n_classes-1``
    n_components : int
    rng : numpy.random.RandomState
    """
    n_features = X.shape[1]
    n_classes = int(y.max()) + 1
    if not isinstance(init, str):
        return check_array_param(init, (n_components, n_features), "init").copy()
    if init == "auto":
        if n_components <= min(n_features, n_classes - 1) and _has_spread(X):
            init = "lda"
        elif n_components < min(n_features, X.shape[0]) and _has_spread(X):
            init = "pca"
        else:
            init = "identity"
    if init == "identity":
        return np.eye(n_components, n_features)
    if init == "random":
        return rng.standard_normal((n_components, n_features))
    if init == "pca":
        if n_components > min(X.shape):
            raise ValueError(
                f"init='pca' gives at most min(n_samples, n_features) = {min(X.shape)} "
                f"components; n_components={n_components}."
            )
        pca = PCA(n_components=n_components, random_state=rng)
        return np.ascontiguousarray(pca.fit(X).components_)
    if init == "lda":
        limit = min(n_features, n_classes - 1)
        if n_components > limit:
            raise ValueError(
                f"init='lda' gives at most min(n_features, n_classes - 1) = {limit} "
                f"components; n_components={n_components}."
            )
        if not _has_spread(X):
            raise ValueError(
                "init='lda' needs features that vary; every feature of X is "
                "constant. Use init='identity'."
            )
        lda = LinearDiscriminantAnalysis(n_components=n_components)
        lda.fit(X, y)
        return np.ascontiguousarray(lda.scalings_.T[:n_components])
    raise ValueError(f"init must be one of {sorted(INIT_OPTIONS)} or an array.")


def _has_spread(X):
    """True when some feature of X takes more than one value."""
    return bool(np.any(X.max(axis=0) > X.min(axis=0)))


def components_from_factor(factor, n_components):
    """Rows ``sqrt(lambda_k) v_k`` of ``M = C^T C`` for its leading eigenpairs.

    Through the eigen-decomposition of the small ``C C^T`` (k, k): with
    ``C C^T = U diag(lambda) U^T``, M has the eigenvalues lambda and the
    eigenvectors ``C^T U / sqrt(lambda)``. O(k^2 d) instead of the O(d^3) of
    decomposing M. Rows beyond the rank of C are zero.
    """
    k, d = factor.shape
    n_components = d if n_components is None else n_components
    values, vectors = np.linalg.eigh(factor @ factor.T)
    values, vectors = values[::-1], vectors[:, ::-1]
    keep = values > max(k, d) * _EPS * max(values[0], 0.0)
    values = values[keep]
    directions = (factor.T @ vectors[:, keep]) / np.sqrt(values)
    rank = min(n_components, values.shape[0])
    components = np.zeros((n_components, d))
    components[:rank] = components_from_eigh(values, directions, rank)
    return components


PRIOR_OPTIONS = ("identity", "covariance")


def prior_whitener(prior, points, *, estimator_name):
    """W (d, d) with ``W^T W = M0``, the prior metric, in the units of ``points``.

    ``prior`` is 'identity' (M0 = I), 'covariance' (M0 the inverse covariance of
    the points, which makes a LogDet-regularised learner invariant to invertible
    linear maps of the data) or a symmetric positive definite (d, d) array.
    Mapping the points by W turns the prior into the identity.

    Raises ValueError when M0 is not positive definite, naming the fix.
    """
    d = points.shape[1]
    if isinstance(prior, str) and prior == "identity":
        return np.eye(d)
    if isinstance(prior, str) and prior == "covariance":
        centred = points - points.mean(axis=0)
        scale = np.abs(centred).max()
        if scale == 0.0:
            values = np.zeros(d)
        else:
            centred = centred / scale
            values, vectors = np.linalg.eigh(centred.T @ centred
                                             / max(1, points.shape[0] - 1))
        if values[0] <= 1e-10 * max(values[-1], 0.0) or values[-1] <= 0.0:
            rank = int(np.sum(values > 1e-10 * max(values[-1], 0.0)))
            raise ValueError(
                f"{estimator_name}: prior='covariance' needs the inverse of the "
                f"covariance of the points, but their {points.shape[0]} distinct "
                f"points span only {rank} of the {d} dimensions; use "
                "prior='identity', or remove the redundant features first (for "
                "example with PCA)."
            )
        return (vectors / np.sqrt(values)) @ vectors.T / scale
    metric = check_array_param(prior, (d, d), "prior")
    if not np.allclose(metric, metric.T, rtol=1e-10, atol=0.0):
        raise ValueError("prior must be a symmetric matrix.")
    try:
        upper = scipy.linalg.cholesky((metric + metric.T) * 0.5, lower=False)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{estimator_name}: prior must be positive definite (the LogDet "
            "divergence to it is infinite otherwise); add a small multiple of "
            "the identity or use prior='identity'."
        ) from None
    return upper
def whitening_components(C):
    """L with ``L^T L = pinv(C)`` for a covariance C: the whitening map of C.

    L is the symmetric pseudo-inverse square root ``V diag(1/sqrt(lambda)) V^T``
    over the eigenvalues ``lambda`` above ``n_features * eps * lambda_max`` (as
    ``scipy.linalg.pinvh`` decides the rank); directions of C's null space get
    weight zero. Symmetric, so ``L @ L = pinv(C)`` too.

    C must be symmetric: LAPACK reads its lower triangle (:func:`_small_eigh`).

    Returns
    -------
    components : ndarray of shape (n_features, n_features)
    rank : int
        Number of eigenvalues kept.
    """
    values, vectors = _small_eigh(C)
    values, vectors = values[::-1], vectors[:, ::-1]
    top = max(values[0], 0.0) if values.size else 0.0
    kept = values > C.shape[0] * _EPS * top
    if top == 0.0:
        kept[:] = False
    inverse_roots = np.zeros_like(values)
    inverse_roots[kept] = 1.0 / np.sqrt(values[kept])
    components = (vectors * inverse_roots) @ vectors.T
    return np.ascontiguousarray((components + components.T) * 0.5), int(kept.sum())


def _small_eigh(M):
    """Eigenvalues (ascending) and eigenvectors of a small symmetric matrix.

    LAPACK's divide-and-conquer driver called directly (the driver
    ``np.linalg.eigh`` uses, on the lower triangle as it does), without the
    generic wrapper's overhead, a sizeable part of a millisecond fit; when it
    reports a failure, :func:`symmetric_eigh` and its fall-backs take over.
    """
    if not np.isfinite(M).all():
        raise FloatingPointError("the metric matrix has non-finite entries")
    values, vectors, info = dsyevd(M, lower=1)
    if info != 0:
        values, vectors = symmetric_eigh(M)
        return values[::-1], vectors[:, ::-1]
    return values, vectors


def discriminant_directions(between, within, total):
    """Generalised eigenvectors of ``between v = lambda within v`` in the data span.

    Shared by the learners that whiten a within-group scatter (LFDA, RCA).
    The problem is solved in the range of ``total`` (the data's own span:
    constant features and linear dependencies drop out), in coordinates where
    ``total`` is the identity. Where ``within`` is singular there (fewer points
    than features, or groups that do not vary along some direction), a ridge of
    ``RIDGE`` times its mean eigenvalue in the span is added, so those
    directions get a finite, very large weight instead of a failure.

    Parameters
    ----------
    between, within, total : ndarray of shape (n_features, n_features)
        Symmetric positive semi-definite scatter matrices.

    Returns
    -------
    values : ndarray of shape (rank,)
        Generalised eigenvalues, descending.
    vectors : ndarray of shape (n_features, rank)
        Columns with ``v^T within_r v = 1`` (``within_r`` the ridged within
        scatter in the span); ``rank`` is the rank of ``total``.
    ridged : bool
        Whether the ridge was needed.
    """
    values, vectors = _small_eigh(total)
    values, vectors = values[::-1], vectors[:, ::-1]
    top = max(values[0], 0.0) if values.size else 0.0
    # The values descend: the kept ones are the first ``rank``.
    rank = int(np.count_nonzero(values > total.shape[0] * _EPS * top))
    if top == 0.0 or rank == 0:
        return np.zeros(0), np.zeros((total.shape[0], 0)), False
    # Whitened basis of the span (span^T total span = I): the rank test below
    # is then relative to the data's own spread along every direction, so it
    # does not depend on the units of the features.
    span = vectors[:, :rank] / np.sqrt(values[:rank])
    within_span = span.T @ within @ span
    within_span = (within_span + within_span.T) * 0.5
    between_span = span.T @ between @ span
    between_span = (between_span + between_span.T) * 0.5
    w_values, w_vectors = _small_eigh(within_span)
    ridged = bool(w_values[0] <= span.shape[1] * _EPS
                  * max(w_values[-1], 0.0) * 1e3)
    if ridged:
        # Without any within-group spread, the ridge takes the total scatter's
        # scale (the identity in these coordinates) instead of a vanishing one.
        scale = np.trace(within_span) / span.shape[1]
        if not scale > span.shape[1] * _EPS:
            scale = 1.0
        # A multiple of the identity shifts the eigenvalues, not the vectors.
        w_values = w_values + RIDGE * scale
    # The generalised problem by whitening the (ridged, positive definite)
    # within scatter: with T = V_w diag(w)^(-1/2), T^T within T = I, and the
    # eigenvectors u of T^T between T give v = T u with v^T within v = 1.
    whiten = w_vectors / np.sqrt(w_values)
    reduced = whiten.T @ between_span @ whiten
    g_values, g_vectors = _small_eigh((reduced + reduced.T) * 0.5)
    return g_values[::-1], span @ (whiten @ g_vectors[:, ::-1]), ridged


# Relative ridge of a singular within-group scatter (see discriminant_directions).
RIDGE = 1e-9


def signed_rows(rows):
    """Rows each multiplied by +-1 so that their largest-magnitude entry is positive."""
    if rows.shape[0] == 0:
        return rows
    largest = rows[np.arange(rows.shape[0]), np.argmax(np.abs(rows), axis=1)]
    return np.ascontiguousarray(rows * np.where(largest < 0.0, -1.0, 1.0)[:, None])
