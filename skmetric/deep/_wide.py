"""Training on wide inputs: the network's first layer restricted to the leading
principal subspace of the training rows.

On inputs of many features (image crops, whole frames) the products of the first
layer and of the skip path, ``X @ W_0`` and ``X @ skip`` forward and ``X^T G``
backward, cost ``n_features`` multiply-adds per row and hidden unit and dominate a
fit: with 1536 features and a 256-unit layer they are over 90% of every batch.
When ``X`` has more than :data:`WIDE_FEATURES` features, training therefore runs
on ``X @ P``, with ``P`` (n_features, q) the orthonormal leading principal
directions of the training rows that together hold :data:`KEPT_VARIANCE` of their
variance (at most the rank), and on the first layer ``P^T W_0`` and skip path
``P^T skip``. After training both are mapped back, ``W_0 = P (P^T W_0)``, so the
fitted ``coefs_`` and ``skip_`` have the usual shapes and ``transform`` is
unchanged: it embeds ``x`` as ``x P P^T W_0``.

What this changes: the fit is that of the same network trained on the
principal coordinates ``X P`` (its Glorot start drawn for q inputs, its skip
path started at their PCA), folded back into the input space. The first layer
and the skip path stay in span(P): directions holding the last ``1 -
KEPT_VARIANCE`` of the training variance are ignored, as after a PCA, and new
points are embedded through their projection on span(P). A continued fit
(``warm_start``, ``partial_fit`` after the first call) trains at full width
with a fresh optimiser, since Adam's moments were kept in the subspace.
"""

import numpy as np
import scipy.linalg

# Inputs with more features than this train in their principal subspace. The
# main job's sets have at most 1024 features, except olivetti (4096).
WIDE_FEATURES = 1024
# Fraction of the training rows' variance kept by the principal subspace.
KEPT_VARIANCE = 0.99
# Leading eigenpairs computed first, at least this many or a quarter of the
# width (most wide inputs need fewer; image crops of 1536 values need about 320).
_FIRST_REQUEST = 256
# Eigenvalues below this fraction of the largest count as zero (rank).
_RANK_TOL = 1e-10


def principal_basis(X, kept_variance=None):
    """Orthonormal leading principal directions of the rows of X, or None.

    None when X has at most :data:`WIDE_FEATURES` features or when the kept
    directions would not save at least half of the width (then training at full
    width costs little more). The decomposition is taken on the smaller side:
    the Gram matrix of the centred rows when there are fewer rows than features,
    their covariance otherwise; only its leading ``n_features // 2`` eigenpairs
    are computed (a quarter of the width first). Cost O(min(n, p)^2 max(n, p))
    for the product plus the tridiagonalisation, O(min(n, p)^3).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    kept_variance : float in (0, 1], default=KEPT_VARIANCE

    Returns
    -------
    basis : ndarray of shape (n_features, q) or None
        Orthonormal columns, leading direction first.
    """
    n_samples, n_features = X.shape
    if n_features <= WIDE_FEATURES:
        return None
    kept = KEPT_VARIANCE if kept_variance is None else kept_variance
    centred = X - X.mean(axis=0)
    gram = centred @ centred.T if n_samples < n_features else centred.T @ centred
    total = np.trace(gram)
    if not total > 0.0:
        return None
    # Only the leading half of the width can pay off. LAPACK computes just the
    # eigenpairs asked for (the total variance is the trace): first the leading
    # quarter of the width (at least _FIRST_REQUEST), then, if it holds too
    # little, up to half.
    size = gram.shape[0]
    n_wanted = min(size, n_features // 2)
    first = min(n_wanted, max(_FIRST_REQUEST, n_features // 4))
    for n_asked in sorted({first, n_wanted}):
        values, vectors = scipy.linalg.eigh(
            gram, subset_by_index=[size - n_asked, size - 1], driver="evr",
            check_finite=False)
        values, vectors = values[::-1], vectors[:, ::-1]
        rank = int(np.sum(values > _RANK_TOL * values[0]))
        values = np.maximum(values[:rank], 0.0)
        fraction = np.cumsum(values) / total
        if fraction[-1] >= kept - 1e-12 or rank < n_asked:
            break
    if fraction[-1] < kept - 1e-12 and rank == n_wanted:
        return None  # more than half the width is needed
    q = min(rank, int(np.searchsorted(fraction, kept - 1e-12)) + 1)
    if n_samples < n_features:
        # Right singular vectors from the left ones: v_k = C^T u_k / sigma_k.
        basis = centred.T @ (vectors[:, :q] / np.sqrt(values[:q]))
        # One re-orthonormalisation against rounding (QR keeps the span).
        basis, r = np.linalg.qr(basis)
        basis *= np.sign(np.diag(r))
    else:
        basis = vectors[:, :q].copy()
    return np.ascontiguousarray(basis)


def expand_parameters(params, basis, n_layers, has_skip):
    """The flat parameter list of a network trained on ``X @ basis``, folded back
    into the input space: ``W_0 = basis W_0r`` and ``skip = basis skip_r``.

    ``params`` is ``coefs + intercepts (+ [skip])``; returns a new list.
    """
    expanded = list(params)
    expanded[0] = basis @ params[0]
    if has_skip:
        expanded[2 * n_layers] = basis @ params[2 * n_layers]
    return expanded
