"""Solver and bases of sparse compositional metric learning (Shi et al. 2014).

SCML learns ``M = sum_i w_i b_i b_i^T`` over a fixed basis of unit vectors b_i,
with ``w >= 0``, from triplets (a, p, n):

    min_{w >= 0}  (1/m) sum_t [1 + d_w(a, p) - d_w(a, n)]_+  +  beta sum_i w_i,

convex in w (the distances are linear in w). It is solved as in the paper, by
stochastic composite mirror descent with AdaGrad steps (regularised dual
averaging: the L1 term and ``w >= 0`` enter in closed form), on mini-batches of
triplets, keeping the best w of the full objective evaluated every
``output_iter`` steps.
"""

import numpy as np
import scipy.linalg
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from ._kernels import scml_triplet_hinge_grad
from ._kernels.classic import scml_adagrad_steps

# AdaGrad's offset in the denominator (no division by zero on a zero gradient).
_ADAGRAD_DELTA = 1e-3
# The plateau test: this many evaluations in a row without a relative
# improvement of the best objective above tol.
_PATIENCE = 3


def full_objective(P, triplets, weights, beta):
    """``(1/m) sum_t [1 + z_t . w]_+ + beta sum w`` and its subgradient."""
    loss, grad = scml_triplet_hinge_grad(P, triplets, weights)
    m = triplets.shape[0]
    return loss / m + beta * weights.sum(), grad / m + beta


def solve_scml(P, triplets, *, beta, gamma, batch_size, max_iter, output_iter, tol,
               rng, printer):
    """Stochastic AdaGrad dual averaging on the basis projections P (n, K).

    Returns ``(w, objective, n_iter, converged)``. Converged when the best full
    objective improved by at most ``tol`` (relative) over each of the last
    ``_PATIENCE`` windows of ``output_iter`` steps: a plateau test, as the
    problem is non-smooth and the steps stochastic (no cheap certificate
    applies).
    """
    n_basis = P.shape[1]
    triplets = np.ascontiguousarray(triplets, dtype=np.int64)
    m = triplets.shape[0]
    weights = np.zeros(n_basis)
    average = np.zeros(n_basis)
    squares = np.zeros(n_basis)
    best, best_weights = np.inf, weights
    last_best = np.inf
    stalled = 0
    batches = rng.randint(0, m, size=(max_iter, batch_size)).astype(np.int64)
    n_iter = 0
    # The steps between two evaluations of the full objective (every
    # output_iter steps, and at the last) run in one kernel call.
    for start in range(0, max_iter, output_iter):
        n_iter = min(start + output_iter, max_iter)
        weights, average, squares = scml_adagrad_steps(
            P, triplets, batches[start:n_iter], start, weights, average, squares,
            float(beta), float(gamma), _ADAGRAD_DELTA)
        value = full_objective(P, triplets, weights, beta)[0]
        if value < best:
            best, best_weights = value, weights
        printer.row(n_iter, value, best, printer.elapsed)
        stalled = stalled + 1 if last_best - best <= tol * best else 0
        if stalled >= _PATIENCE:
            return best_weights, best, n_iter, True
        last_best = best
    return best_weights, best, n_iter, False


def triplet_diff_basis(points, triplets, n_basis, rng):
    """metric-learn's 'triplet_diffs' basis: eigenvectors of
    ``D = sum (x_a - x_p)(x_a - x_p)^T - (x_a - x_n)(x_a - x_n)^T`` over random
    draws of ``n_features`` triplets, those of non-zero eigenvalue, until
    ``n_basis`` unit vectors are collected. Returns (n_basis, d)."""
    d = points.shape[1]
    m = triplets.shape[0]
    near = points[triplets[:, 0]] - points[triplets[:, 1]]
    far = points[triplets[:, 0]] - points[triplets[:, 2]]
    rows = []
    total = 0
    for _ in range(10 * n_basis + 10):
        chosen = rng.choice(m, size=min(d, m), replace=False)
        D = near[chosen].T @ near[chosen] - far[chosen].T @ far[chosen]
        values, vectors = np.linalg.eigh(D)
        useful = np.abs(values) > 1e-10 * max(np.abs(values).max(), 1e-300)
        rows.append(vectors[:, useful].T)
        total += int(useful.sum())
        if total >= n_basis:
            break
    basis = np.vstack(rows)[:n_basis] if rows else np.zeros((0, d))
    if basis.shape[0] == 0:
        raise ValueError(
            "SCML: the triplets' differences span no direction (every triplet "
            "compares identical distances); no basis can be built."
        )
    return np.ascontiguousarray(basis)


# scikit-learn's LinearDiscriminantAnalysis default: singular values at most
# this are dropped.
_LDA_TOL = 1e-4


def lda_scalings(X, y):
    """The discriminant directions of scikit-learn's
    ``LinearDiscriminantAnalysis().fit(X, y).scalings_`` (its 'svd' solver, as
    in scikit-learn 1.9), computed without its per-call validation (SCML fits
    hundreds of neighbourhoods).

    Within-class deviations scaled by their per-feature standard deviation and
    ``1/sqrt(n)``; their SVD whitens the within-class scatter (singular values
    above 1e-4 kept); the SVD of the class means weighted by ``sqrt(n prior /
    (n_classes - 1))`` in that basis gives the directions. Returns an
    (n_features, rank) array. Raises ValueError when there are as many samples
    as classes, as scikit-learn does.
    """
    classes, codes = np.unique(y, return_inverse=True)
    n_samples = X.shape[0]
    n_classes = classes.shape[0]
    if n_samples == n_classes:
        raise ValueError("LDA needs more samples than classes.")
    counts = np.bincount(codes)
    priors = counts / float(n_samples)
    means = np.zeros((n_classes, X.shape[1]))
    np.add.at(means, codes, X)
    means /= counts[:, None]
    deviations = np.concatenate([X[codes == k] - means[k] for k in range(n_classes)])
    std = deviations.std(axis=0)
    std[std == 0] = 1.0
    _, values, vt = scipy.linalg.svd(np.sqrt(1.0 / n_samples) * (deviations / std),
                                     full_matrices=False)
    rank = int(np.sum(values > _LDA_TOL))
    scalings = (vt[:rank, :] / std).T / values[:rank]
    fac = 1.0 if n_classes == 1 else 1.0 / (n_classes - 1)
    centres = ((np.sqrt((n_samples * priors) * fac))
               * (means - priors @ means).T).T @ scalings
    _, values, vt = scipy.linalg.svd(centres, full_matrices=False)
    rank = int(np.sum(values > _LDA_TOL * values[0]))
    return scalings @ vt.T[:, :rank]


def lda_basis(X, y, n_basis, rng):
    """metric-learn's 'lda' basis: LDA directions of local neighbourhoods.

    k-means centres (``ceil(n_basis / (2 (n_classes - 1)))`` of them); around
    each, the k nearest points of every class at two scales (k = 10 and 20, or
    20 and 50 beyond 50 features); the LDA scalings of each neighbourhood,
    normalised to unit length. Returns (n_basis', d), n_basis' <= n_basis.
    """
    n_samples, d = X.shape
    classes, counts = np.unique(y, return_counts=True)
    n_eig = min(classes.shape[0] - 1, d)
    n_clusters = int(min(np.ceil(n_basis / (2 * n_eig)), n_samples))
    centres = KMeans(n_clusters=n_clusters, n_init=1,
                     random_state=rng.randint(2**31 - 1)).fit(X).cluster_centers_
    scales = (20, 50) if d > 50 else (10, 20)
    members = [np.flatnonzero(y == c) for c in classes]
    neighbours = []
    for rows in members:
        k = min(rows.shape[0], scales[1])
        found = NearestNeighbors(n_neighbors=k).fit(X[rows]).kneighbors(
            centres, return_distance=False)
        neighbours.append(rows[found])
    basis = []
    for scale in scales:
        for c in range(n_clusters):
            rows = np.concatenate([found[c, :min(scale, found.shape[1])]
                                   for found in neighbours])
            try:
                scalings = lda_scalings(X[rows], y[rows]).T[:n_eig]
            except (ValueError, IndexError, np.linalg.LinAlgError):
                continue  # a degenerate neighbourhood (one class, no spread)
            norms = np.linalg.norm(scalings, axis=1, keepdims=True)
            basis.append(scalings[norms[:, 0] > 0] / norms[norms[:, 0] > 0])
    if not basis or sum(b.shape[0] for b in basis) == 0:
        # No neighbourhood had a discriminant direction (degenerate data): the
        # coordinate axes, so that SCML still learns a diagonal metric.
        return np.eye(d)
    return np.ascontiguousarray(np.vstack(basis)[:n_basis])


def knn_triplets(X, y, k_genuine, k_impostor):
    """For each row a: its ``k_genuine`` nearest class-mates p and its
    ``k_impostor`` nearest points of other classes n; all (a, p, n). int64."""
    triplets = []
    n = X.shape[0]
    for c in np.unique(y):
        own = np.flatnonzero(y == c)
        other = np.flatnonzero(y != c)
        kg = min(k_genuine, own.shape[0] - 1)
        ki = min(k_impostor, other.shape[0])
        if kg < 1 or ki < 1:
            continue
        genuine = own[NearestNeighbors(n_neighbors=kg + 1).fit(X[own]).kneighbors(
            X[own], return_distance=False)[:, 1:]]
        impostors = other[NearestNeighbors(n_neighbors=ki).fit(X[other]).kneighbors(
            X[own], return_distance=False)]
        anchors = np.repeat(own, kg * ki)
        positives = np.repeat(genuine, ki, axis=1).ravel()
        negatives = np.tile(impostors, (1, kg)).ravel()
        triplets.append(np.column_stack((anchors, positives, negatives)))
    if not triplets:
        raise ValueError("no triplet can be formed: every class needs two samples.")
    del n
    return np.ascontiguousarray(np.vstack(triplets), dtype=np.int64)
