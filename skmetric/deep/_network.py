"""The multi-layer perceptron embedding: initialisation, forward and backward pass.

Parameters are two lists, ``coefs`` (weight matrices of shape (fan_in, fan_out))
and ``intercepts`` (bias vectors), as in scikit-learn's ``MLPRegressor``, and an
optional linear ``skip`` matrix of shape (n_features, n_components) that maps the
input straight to the output layer: ``f(x) = mlp(x) + x @ skip``. Hidden layers
apply the activation; the output layer is linear, optionally followed by an L2
normalisation of each row. All products go through BLAS.

A batch is embedded and back-propagated in pieces of ``PIECE_ROWS`` rows, which
run on threads at once (NumPy's products release the GIL; BLAS keeps one thread
in each); the weight gradients of the pieces are summed in the pieces' order.
The pieces do not depend on the number of threads, so neither does the result.
"""

import numpy as np

from .._init import symmetric_eigh
from .._kernels import pairwise_sq_dists, row_sq_norms
from .._threads import map_on_threads

ACTIVATIONS = ("identity", "relu", "tanh", "leaky_relu")
# Slope of 'leaky_relu' for negative inputs.
LEAKY_SLOPE = 0.01
# Norms below this are treated as this in the normalisation (an all-zero output).
_NORM_FLOOR = 1e-12
# Rows of a batch in one piece of the forward and backward passes (see above). A
# batch of 256 rows (the default) makes 4 pieces: work for up to 4 threads, in
# products large enough for BLAS to run near its peak.
PIECE_ROWS = 64


def init_parameters(layer_sizes, rng):
    """Glorot-uniform weights and biases, as scikit-learn's MLP draws them.

    Both are uniform on ``[-b, b]`` with ``b = sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_features, *hidden_layer_sizes, n_components]``.
    rng : numpy.random.RandomState

    Returns
    -------
    coefs : list of ndarray of shape (fan_in, fan_out)
    intercepts : list of ndarray of shape (fan_out,)
    """
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


def init_skip(X, n_components, whiten=False):
    """A skip path and output bias that embed X on its principal components.

    ``X @ skip + bias`` projects the centred rows of X on their ``n_components``
    leading principal directions (zero columns past the rank of X), scaled so that
    the projected training rows have an RMS norm of 1; with ``whiten`` each
    direction is divided by its standard deviation first (directions of zero
    variance are dropped). With the MLP's output layer started at zero, the
    network then starts as the PCA projection.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    n_components : int
    whiten : bool, default=False

    Returns
    -------
    skip : ndarray of shape (n_features, n_components)
    bias : ndarray of shape (n_components,)
        ``-mean(X) @ skip``, to be added to the output layer's intercept.
    """
    mean = X.mean(axis=0)
    centred = X - mean
    variances, vectors = symmetric_eigh(centred.T @ centred / X.shape[0])
    k = min(n_components, X.shape[1])
    variances = np.maximum(variances[:k], 0.0)
    directions = vectors[:, :k]
    if whiten:
        keep = variances > 1e-12 * max(variances.max(initial=0.0), 1e-300)
        directions = np.where(keep, directions / np.sqrt(np.where(keep, variances,
                                                                  1.0)), 0.0)
        variances = keep.astype(np.float64)
    total = variances.sum()
    skip = np.zeros((X.shape[1], n_components))
    if total > 0.0:
        skip[:, :k] = directions / np.sqrt(total)
    return skip, -(mean @ skip)


def init_euclidean_skip(X, n_components, normalize):
    """A skip path and output bias whose embedding keeps the Euclidean geometry.

    The centred rows of X are projected on their leading principal directions,
    scaled as :func:`init_skip` does. Without ``normalize`` that projection is the
    embedding: on all the directions when ``n_features <= n_components``, an
    isometry up to one scale factor. With ``normalize`` the output is divided by
    its norm, which would turn distances into angles; so one output coordinate
    (the last) is kept out of the projection and gets a constant ``c`` = 100 times
    the largest norm of the projected rows ("lifted" onto the sphere). Then
    ``|z / |z| - z' / |z'||`` equals ``|u - u'| / c`` up to a relative error of
    order ``(|u| / c)^2 <= 1e-4``, so the ranking of distances is that of the
    projection u: Euclidean, on ``min(n_features, n_components - 1)`` directions.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    n_components : int
    normalize : bool

    Returns
    -------
    skip : ndarray of shape (n_features, n_components)
    bias : ndarray of shape (n_components,)
        To be the output layer's intercept, with the output layer's weights at 0.
    """
    n_directions = n_components - 1 if normalize else n_components
    skip = np.zeros((X.shape[1], n_components))
    if n_directions > 0:
        skip[:, :n_directions], _ = init_skip(X, n_directions)
    bias = -(X.mean(axis=0) @ skip)
    if normalize:
        projected = X @ skip + bias
        top = np.sqrt(np.einsum("ij,ij->i", projected, projected).max(initial=0.0))
        bias[-1] = 100.0 * max(top, 1.0)
    return skip, bias


def _activate(H, activation):
    """Apply the activation to H in place."""
    if activation == "relu":
        np.maximum(H, 0.0, out=H)
    elif activation == "tanh":
        np.tanh(H, out=H)
    elif activation == "leaky_relu":
        np.multiply(H, np.where(H > 0.0, 1.0, LEAKY_SLOPE), out=H)


def _activation_derivative(A, activation):
    """Derivative of the activation, written in terms of its output A."""
    if activation == "relu":
        return (A > 0.0).astype(A.dtype)
    if activation == "tanh":
        return 1.0 - A * A
    if activation == "leaky_relu":
        return np.where(A > 0.0, 1.0, LEAKY_SLOPE)
    return None  # identity


def forward(X, coefs, intercepts, activation, normalize, skip=None):
    """Embed X; return the embedding and what the backward pass needs.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
    coefs, intercepts : lists of ndarray
    activation : {'identity', 'relu', 'tanh', 'leaky_relu'}
    normalize : bool
        Divide each output row by its Euclidean norm.
    skip : ndarray of shape (n_features, n_components) or None
        Linear skip path added to the output layer before the normalisation.

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_components)
    cache : tuple
        The layer outputs (input first, raw output last) and the row norms.
    """
    outputs = [X]
    H = X
    last = len(coefs) - 1
    for layer, (W, b) in enumerate(zip(coefs, intercepts)):
        H = H @ W
        H += b
        if layer < last:
            _activate(H, activation)
        elif skip is not None:
            H += X @ skip
        outputs.append(H)
    norms = None
    if normalize:
        norms = np.maximum(np.sqrt(np.einsum("ij,ij->i", H, H)), _NORM_FLOOR)
        H = H / norms[:, None]
    return H, (outputs, norms, skip is not None)


def backward(grad_embedding, cache, coefs, activation):
    """Gradients of a loss in every weight and bias, from its gradient in the output.

    The normalisation ``z = h / |h|`` has the exact backward
    ``dL/dh = (g - z (z . g)) / |h|`` for ``g = dL/dz``.

    Parameters
    ----------
    grad_embedding : ndarray of shape (n_samples, n_components)
    cache : tuple from :func:`forward`
    coefs : list of ndarray
    activation : str

    Returns
    -------
    coef_grads, intercept_grads : lists of ndarray, shaped like the parameters
    skip_grad : ndarray of shape (n_features, n_components)
        Gradient in the skip path (``X^T G`` with G the gradient in the raw
        output), or None when the cache holds no skip path.
    """
    outputs, norms, has_skip = cache
    G = grad_embedding
    if norms is not None:
        Z = outputs[-1] / norms[:, None]
        G = (G - Z * np.einsum("ij,ij->i", G, Z)[:, None]) / norms[:, None]
    skip_grad = outputs[0].T @ G if has_skip else None
    n_layers = len(coefs)
    coef_grads = [None] * n_layers
    intercept_grads = [None] * n_layers
    for layer in range(n_layers - 1, -1, -1):
        coef_grads[layer] = outputs[layer].T @ G
        intercept_grads[layer] = G.sum(axis=0)
        if layer > 0:
            G = G @ coefs[layer].T
            derivative = _activation_derivative(outputs[layer], activation)
            if derivative is not None:
                G *= derivative
    return coef_grads, intercept_grads, skip_grad


def network_loss_grad(X, coefs, intercepts, embedding_loss, activation, normalize,
                      alpha, skip=None, n_threads=1):
    """Loss of the embedded batch plus the L2 penalty, and its gradients.

    ``L = embedding_loss(f(X)) + alpha/2 * sum_l |coefs[l]|_F^2`` (neither the
    biases nor the skip path are penalised: the penalty would pull the skip path,
    started at the PCA projection, towards zero). Side-effect free: tests and the
    optimisers call the same code.

    The rows of X are embedded, and the gradient back-propagated, in pieces of
    ``PIECE_ROWS`` rows shared out over ``n_threads`` threads; the gradients of
    the pieces are summed in the pieces' order, so the result is the same bit
    for bit whatever ``n_threads``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    coefs, intercepts : lists of ndarray
    embedding_loss : callable
        ``embedding_loss(E) -> (loss, grad_E, n_active, n_terms)``.
    activation : str
    normalize : bool
    alpha : float
    skip : ndarray of shape (n_features, n_components) or None
    n_threads : int, default=1
        Threads the pieces run on.

    Returns
    -------
    loss : float
    coef_grads, intercept_grads : lists of ndarray
    skip_grad : ndarray or None
    n_active, n_terms : int
        Active and selected pairs or triplets of the batch.
    """
    starts = range(0, X.shape[0], PIECE_ROWS)
    embedding = np.empty((X.shape[0], coefs[-1].shape[1]))
    caches = [None] * len(starts)

    def forward_pieces(first, stop):
        for piece in range(first, stop):
            rows = slice(starts[piece], starts[piece] + PIECE_ROWS)
            embedding[rows], caches[piece] = forward(X[rows], coefs, intercepts,
                                                     activation, normalize, skip)

    map_on_threads(forward_pieces, len(starts), n_threads)
    loss, grad_embedding, n_active, n_terms = embedding_loss(embedding)
    pieces = [None] * len(starts)

    def backward_pieces(first, stop):
        for piece in range(first, stop):
            rows = slice(starts[piece], starts[piece] + PIECE_ROWS)
            pieces[piece] = backward(grad_embedding[rows], caches[piece], coefs,
                                     activation)

    map_on_threads(backward_pieces, len(starts), n_threads)
    coef_grads, intercept_grads, skip_grad = _sum_in_order(pieces)
    if alpha > 0.0:
        for W, grad in zip(coefs, coef_grads):
            loss += 0.5 * alpha * np.sum(W * W)
            grad += alpha * W
    return loss, coef_grads, intercept_grads, skip_grad, n_active, n_terms


def _sum_in_order(pieces):
    """The gradients ``(coef_grads, intercept_grads, skip_grad)`` of the pieces,
    summed in the pieces' order (into the first piece's arrays)."""
    coef_grads, intercept_grads, skip_grad = pieces[0]
    for piece_coefs, piece_intercepts, piece_skip in pieces[1:]:
        for total, part in zip(coef_grads + intercept_grads,
                               piece_coefs + piece_intercepts):
            total += part
        if skip_grad is not None:
            skip_grad += piece_skip
    return coef_grads, intercept_grads, skip_grad


def batch_sq_dists(E, n_threads=1):
    """``pairwise_sq_dists(E, E)``, in pieces of ``PIECE_ROWS`` rows on
    ``n_threads`` threads (the same bits whatever ``n_threads``).

    E (b, k) float64 C; returns a new (b, b) array. Cost O(b^2 k).
    """
    starts = range(0, E.shape[0], PIECE_ROWS)
    sq_norms = row_sq_norms(E)
    D2 = np.empty((E.shape[0], E.shape[0]))

    def rows_of_pieces(first, stop):
        for piece in range(first, stop):
            rows = slice(starts[piece], starts[piece] + PIECE_ROWS)
            D2[rows] = pairwise_sq_dists(E[rows], E, sq_norms[rows], sq_norms)

    map_on_threads(rows_of_pieces, len(starts), n_threads)
    return D2


def batch_weights_grad(E, W, n_threads=1):
    """Gradient in E of ``sum_ij W[i, j] |E_i - E_j|^2``, as the kernel
    ``sq_dist_weights_grad`` (``2 (diag(s) E - S E)``, ``S = W + W^T``, s its
    row sums), in pieces of ``PIECE_ROWS`` rows on ``n_threads`` threads (the
    same bits whatever ``n_threads``).

    E (b, k) and W (b, b) float64; returns a new (b, k) array. Cost O(b^2 k).
    """
    S = W + W.T
    sums = S.sum(axis=1)
    starts = range(0, E.shape[0], PIECE_ROWS)
    grad = np.empty_like(E)

    def rows_of_pieces(first, stop):
        for piece in range(first, stop):
            rows = slice(starts[piece], starts[piece] + PIECE_ROWS)
            part = E[rows] * sums[rows, None]
            part -= S[rows] @ E
            part *= 2.0
            grad[rows] = part

    map_on_threads(rows_of_pieces, len(starts), n_threads)
    return grad


def pack(arrays):
    """Concatenate arrays into one flat vector."""
    return np.concatenate([a.ravel() for a in arrays])


def unpack(flat, like):
    """Split a flat vector into arrays shaped like ``like``."""
    out, start = [], 0
    for a in like:
        out.append(flat[start:start + a.size].reshape(a.shape))
        start += a.size
    return out
