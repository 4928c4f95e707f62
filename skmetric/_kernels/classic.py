"""Kernels of the classic weakly supervised learners: ITML's Bregman projections
and SCML's triplet hinge over a basis.

Both are per-pair or per-triplet loops over index lists, the irregular work numba
earns its place on: ITML's projections are sequential (each depends on the metric
the previous one left), and SCML's hinge visits each triplet's three rows of the
basis projections without forming the (n_triplets, n_basis) matrix of differences.
"""

import numpy as np

from ._core import kernel
from .softmax import EXP_UNDERFLOW


@kernel()
def itml_projections(Z, left, right, sign, lambdas, slacks, metric, gamma):
    """One cyclic sweep of ITML's Bregman projections (Davis et al. 2007, Alg. 1).

    For each constraint c in order, with ``v = Z[left[c]] - Z[right[c]]``,
    ``p = v^T A v``, ``delta = sign[c]`` (+1 similar: ``p <= xi_c``; -1
    dissimilar: ``p >= xi_c``):

    - ``alpha = min(lambda_c, delta gamma / (1 + gamma) (1/p - 1/xi_c))``, the
      step of the exact projection onto ``p = xi_c``, capped by the dual variable;
    - ``beta = delta alpha / (1 - delta alpha p)``;
      ``xi_c <- xi_c / (1 + delta alpha xi_c / gamma)``; ``lambda_c -= alpha``;
    - ``A <- A + beta (A v)(A v)^T``.

    Z (n, k) float64 C-contiguous; left, right (m,) int64 in ``[0, n)``; sign,
    lambdas, slacks (m,) float64, slacks > 0; metric (k, k) float64 symmetric
    positive definite; gamma > 0. The caller guarantees ``v != 0`` for every
    constraint. Returns new arrays ``(metric, lambdas, slacks, residual)``, with
    ``residual = max_c |alpha_c| p_c``: the largest relative change of a
    constrained distance a projection made in this sweep, zero exactly when every
    constraint satisfies the KKT conditions. Cost O(m k^2).
    """
    n_constraints = left.shape[0]
    k = Z.shape[1]
    A = metric.copy()
    lam = lambdas.copy()
    xi = slacks.copy()
    v = np.empty(k)
    Av = np.empty(k)
    ratio = gamma / (1.0 + gamma)
    residual = 0.0
    for c in range(n_constraints):
        i = left[c]
        j = right[c]
        for a in range(k):
            v[a] = Z[i, a] - Z[j, a]
        p = 0.0
        for a in range(k):
            acc = 0.0
            for b in range(k):
                acc += A[a, b] * v[b]
            Av[a] = acc
            p += v[a] * acc
        if p <= 0.0:
            continue
        delta = sign[c]
        # min(lam[c], step) by a comparison, as Python's min picks (the builtin
        # min compiles a helper of its own)
        step = delta * ratio * (1.0 / p - 1.0 / xi[c])
        alpha = step if step < lam[c] else lam[c]
        if alpha == 0.0:
            continue
        beta = delta * alpha / (1.0 - delta * alpha * p)
        xi[c] = xi[c] / (1.0 + delta * alpha * xi[c] / gamma)
        lam[c] -= alpha
        for a in range(k):
            scaled = beta * Av[a]
            for b in range(k):
                A[a, b] += scaled * Av[b]
        change = abs(alpha) * p
        if change > residual:
            residual = change
    return A, lam, xi, residual


@kernel()
def scml_triplet_hinge_grad(P, triplets, weights):
    """SCML's hinge ``sum_t [1 + z_t . w]_+`` and its subgradient in w.

    ``z_t[i] = (P[a, i] - P[p, i])^2 - (P[a, i] - P[n, i])^2`` for the triplet
    ``t = (a, p, n)``: the squared distances along basis element i, so that
    ``z_t . w = d_w(a, p) - d_w(a, n)``. The subgradient sums ``z_t`` over the
    triplets with a positive hinge.

    P (n, K) float64 C-contiguous (the rows projected on the basis); triplets
    (m, 3) int64 in ``[0, n)``; weights (K,) float64. Returns ``(loss, grad)``,
    a float and a new (K,) array, without forming the (m, K) matrix of z_t.
    Cost O(m K).
    """
    n_basis = P.shape[1]
    grad = np.zeros(n_basis)
    z = np.empty(n_basis)
    loss = 0.0
    for t in range(triplets.shape[0]):
        a = triplets[t, 0]
        p = triplets[t, 1]
        q = triplets[t, 2]
        margin = 1.0
        for i in range(n_basis):
            near = P[a, i] - P[p, i]
            far = P[a, i] - P[q, i]
            z[i] = near * near - far * far
            margin += z[i] * weights[i]
        if margin > 0.0:
            loss += margin
            for i in range(n_basis):
                grad[i] += z[i]
    return loss, grad


@kernel()
def scml_adagrad_steps(P, triplets, batches, first, weights, average, squares,
                       beta, gamma, delta):
    """Steps ``first + 1 .. first + B`` of SCML's AdaGrad dual averaging.

    Step t on the mini-batch ``batches[t - first - 1]`` (rows of ``triplets``):
    ``g = (1/b) sum_batch z_t [1 + z_t . w > 0]`` (the hinge subgradient of
    :func:`scml_triplet_hinge_grad`, summed in batch order),
    ``average += (g - average) / t``, ``squares += g^2``, then
    ``w = -t / (gamma (delta + sqrt(squares))) min(average + beta, 0)`` entry by
    entry: the closed-form composite step with the L1 term and ``w >= 0``.

    P (n, K) float64 C-contiguous; triplets (m, 3) int64 in ``[0, n)``; batches
    (B, b) int64 in ``[0, m)``; first >= 0 (steps already made); weights,
    average, squares (K,) float64; beta >= 0, gamma > 0, delta > 0. Returns new
    ``(weights, average, squares)``. Cost O(B b K).
    """
    n_basis = P.shape[1]
    w = weights.copy()
    avg = average.copy()
    sq = squares.copy()
    grad = np.empty(n_basis)
    z = np.empty(n_basis)
    batch_size = batches.shape[1]
    for s in range(batches.shape[0]):
        step = first + s + 1
        for i in range(n_basis):
            grad[i] = 0.0
        for b in range(batch_size):
            t = batches[s, b]
            a = triplets[t, 0]
            p = triplets[t, 1]
            q = triplets[t, 2]
            margin = 1.0
            for i in range(n_basis):
                near = P[a, i] - P[p, i]
                far = P[a, i] - P[q, i]
                z[i] = near * near - far * far
                margin += z[i] * w[i]
            if margin > 0.0:
                for i in range(n_basis):
                    grad[i] += z[i]
        for i in range(n_basis):
            g = grad[i] / batch_size
            avg[i] += (g - avg[i]) / step
            sq[i] += g * g
            scale = step / (gamma * (delta + np.sqrt(sq[i])))
            shifted = avg[i] + beta
            w[i] = -scale * (0.0 if 0.0 < shifted else shifted)  # min(shifted, 0)
    return w, avg, sq


@kernel()
def lfda_affinity(gram, k):
    """LFDA's local-scaling affinity of one class, and its row sums (Sugiyama 2007).

    From the Gram matrix ``G = X X^T`` of the class's rows, in place:

    - ``d_ij = max(G_ii + G_jj - 2 G_ij, 0)``, the squared distances, from the
      upper triangle (so every result below is exactly symmetric, and
      ``d_ii = 0``);
    - ``s_i^2``, the k-th smallest ``d_ij`` over ``j != i`` (ties counted
      with their multiplicity, as a sort would);
    - for ``i != j``: ``A[i, j] = exp(-d_ij / (s_i s_j))``, 1 where ``d_ij == 0``
      (a pair of equal points, whatever the scales), 0 where ``d_ij > 0`` and a
      scale is 0 (k duplicates); the diagonal is 0 (it cancels out of LFDA's
      scatters). ``degrees[i] = sum_j A[i, j]``.

    gram (n, n) float64 C-contiguous, symmetric above the diagonal as read,
    with ``n >= 2``; 1 <= k <= n - 1. ``gram`` is overwritten: it holds A on
    return. Returns ``(A, degrees)``, A being ``gram``, degrees a new (n,)
    array. Cost O(n^2) and one exponential per pair, with no (n, n) temporary.
    """
    n = gram.shape[0]
    sq_norms = np.empty(n)
    for i in range(n):
        sq_norms[i] = gram[i, i]
    for i in range(n):
        gram[i, i] = 0.0
        for j in range(i + 1, n):
            d = sq_norms[i] + sq_norms[j] - 2.0 * gram[i, j]
            if d < 0.0:
                d = 0.0
            gram[i, j] = d
            gram[j, i] = d
    # Each row's k smallest distances to the others, kept sorted in a buffer
    # updated by insertion: O(n) per row when few values enter it, against a
    # partial sort that also copies the row.
    scales = np.empty(n)
    degrees = np.empty(n)
    smallest = np.empty(k)
    for i in range(n):
        for t in range(k):
            smallest[t] = np.inf
        for j in range(n):
            value = gram[i, j]
            if j != i and value < smallest[k - 1]:
                t = k - 1
                while t > 0 and smallest[t - 1] > value:
                    smallest[t] = smallest[t - 1]
                    t -= 1
                smallest[t] = value
        scales[i] = np.sqrt(smallest[k - 1])
        degrees[i] = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = gram[i, j]
            if d == 0.0:
                a = 1.0
            else:
                denominator = scales[i] * scales[j]
                a = 0.0
                if denominator > 0.0:
                    exponent = -d / denominator
                    if exponent >= EXP_UNDERFLOW:  # else exp is exactly 0.0
                        a = np.exp(exponent)
            gram[i, j] = a
            gram[j, i] = a
            degrees[i] += a
            degrees[j] += a
    return gram, degrees
