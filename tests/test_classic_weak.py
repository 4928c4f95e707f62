"""ITML, SDML, LSML and SCML: kernels against their twins, objectives and
gradients against finite differences, solvers against scipy, the invariances
each method promises, the convergence policy, and their tuple forms."""

import os
import re
import warnings

import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score

import skmetric._kernels as kernels
from skmetric import (
    ITML,
    LSML,
    SCML,
    SDML,
    ITMLPairs,
    LSMLQuadruplets,
    SCMLTriplets,
    SDMLPairs,
)
from skmetric._itml_solver import duality_gap as itml_duality_gap
from skmetric._lsml_solver import lsml_objective_grad, stationarity
from skmetric._scml_solver import full_objective as scml_objective
from skmetric._sdml_solver import (
    duality_gap as sdml_duality_gap,
    graphical_lasso_objective,
    smooth_objective_grad,
    solve_graphical_lasso,
)
from skmetric._validation import check_quadruplets

from . import _reference as ref


class _Silent:
    verbose = 0


def _printer():
    from skmetric._base import VerbosePrinter
    return VerbosePrinter(_Silent())


def _blobs(n=60, d=4, k=3, seed=0, spread=3.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(scale=spread, size=(k, d))
    return centres[y] + rng.normal(size=(n, d)), y


def _pairs(y, m, seed):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, y.shape[0], size=(3 * m, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]][:m]
    return pairs.astype(np.int64), y[pairs[:, 0]] == y[pairs[:, 1]]


def _spd(rng, d):
    A = rng.normal(size=(d, d))
    return A @ A.T + 0.5 * np.eye(d)


# ---------------------------------------------------------------------------------
# Kernels against their NumPy twins
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, m, k", [(2, 1, 1), (7, 5, 3), (30, 60, 6)])
def test_itml_projections_match_reference(seed, n, m, k):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, k))
    left = rng.integers(0, n, size=m).astype(np.int64)
    right = ((left + 1 + rng.integers(0, n - 1, size=m)) % n).astype(np.int64)
    sign = rng.choice([-1.0, 1.0], size=m)
    lambdas = rng.uniform(0.0, 0.5, size=m) * (rng.random(m) < 0.5)
    slacks = rng.uniform(0.2, 5.0, size=m)
    metric = _spd(rng, k)
    inputs = [a.copy() for a in (Z, left, right, sign, lambdas, slacks, metric)]
    got = kernels.itml_projections(Z, left, right, sign, lambdas, slacks, metric, 0.7)
    expected = ref.itml_projections(Z, left, right, sign, lambdas, slacks, metric,
                                    0.7)
    for g, e in zip(got[:3], expected[:3]):
        assert_allclose(g, e, rtol=1e-8, atol=1e-10)
    assert_allclose(got[3], expected[3], rtol=1e-8, atol=1e-12)
    for before, after in zip(inputs, (Z, left, right, sign, lambdas, slacks,
                                      metric)):
        assert_array_equal(before, after)


def test_itml_projection_lands_on_its_constraint_without_slack_cap():
    # One violated similar pair, gamma large: after the projection its distance
    # equals its (updated) slack, the defining property of the projection.
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(2, 3))
    A, lam, xi, _ = kernels.itml_projections(
        Z, np.array([0]), np.array([1]), np.array([1.0]), np.zeros(1),
        np.array([0.01]), np.eye(3), 5.0)
    v = Z[0] - Z[1]
    assert_allclose(v @ A @ v, xi[0], rtol=1e-10)
    assert lam[0] > 0.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, m, K", [(3, 1, 1), (10, 20, 5), (40, 300, 17)])
def test_scml_hinge_matches_reference(seed, n, m, K):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, K))
    triplets = rng.integers(0, n, size=(m, 3)).astype(np.int64)
    weights = rng.uniform(0.0, 1.0, size=K) * (rng.random(K) < 0.7)
    P_copy = P.copy()
    loss, grad = kernels.scml_triplet_hinge_grad(P, triplets, weights)
    expected_loss, expected_grad = ref.scml_triplet_hinge_grad(P, triplets, weights)
    assert_allclose(loss, expected_loss, rtol=1e-10)
    assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-12)
    assert_array_equal(P, P_copy)


# ---------------------------------------------------------------------------------
# Objectives and gradients against central finite differences
# ---------------------------------------------------------------------------------


def _quadruplets(n, m, rng):
    q = rng.integers(0, n, size=(4 * m, 4))
    q = q[(q[:, 0] != q[:, 1]) & (q[:, 2] != q[:, 3])][:m]
    return q.astype(np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_lsml_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(20, 4))
    quadruplets = _quadruplets(20, 40, rng)
    L = np.eye(4) + 0.3 * rng.normal(size=(4, 4))
    value, grad = lsml_objective_grad(L.ravel(), Z, quadruplets)
    for _ in range(5):
        E = rng.normal(size=16)
        h = 1e-6
        numeric = (lsml_objective_grad(L.ravel() + h * E, Z, quadruplets)[0]
                   - lsml_objective_grad(L.ravel() - h * E, Z, quadruplets)[0]) / (2 * h)
        assert_allclose(grad @ E, numeric, rtol=1e-5, atol=1e-8)
    # The value from the formula, written out.
    M = L.T @ L
    dist = lambda a, b: np.sqrt(np.einsum("ij,jk,ik->i", Z[a] - Z[b], M, Z[a] - Z[b]))
    residual = np.maximum(dist(quadruplets[:, 0], quadruplets[:, 1])
                          - dist(quadruplets[:, 2], quadruplets[:, 3]), 0.0)
    expected = np.mean(residual**2) + np.trace(M) - np.linalg.slogdet(M)[1]
    assert_allclose(value, expected, rtol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_sdml_smooth_gradient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    S, theta = _spd(rng, 5), _spd(rng, 5)
    value, grad = smooth_objective_grad(S, theta)
    assert_allclose(value, np.trace(S @ theta) - np.linalg.slogdet(theta)[1])
    for _ in range(5):
        E = rng.normal(size=(5, 5))
        E = (E + E.T) * 0.5
        numeric = (smooth_objective_grad(S, theta + 1e-5 * E)[0]
                   - smooth_objective_grad(S, theta - 1e-5 * E)[0]) / 2e-5
        assert_allclose(np.sum(grad * E), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, m, K, steps, batch", [(3, 1, 1, 1, 1), (12, 30, 5, 7, 4),
                                                   (40, 200, 16, 50, 10)])
def test_scml_adagrad_steps_match_reference(seed, n, m, K, steps, batch):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, K))
    triplets = rng.integers(0, n, size=(m, 3))
    batches = rng.integers(0, m, size=(steps, batch))
    state = (np.abs(rng.normal(size=K)) * 0.1, rng.normal(size=K) * 0.1,
             np.abs(rng.normal(size=K)))
    copies = [a.copy() for a in (P, triplets, batches, *state)]
    got = kernels.classic.scml_adagrad_steps(P, triplets, batches, 3, *state, 1e-3,
                                             5e-3, 1e-3)
    expected = ref.scml_adagrad_steps(P, triplets, batches, 3, *state, 1e-3, 5e-3,
                                      1e-3)
    for a, b in zip(got, expected):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip((P, triplets, batches, *state), copies):
        assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, d, k", [(12, 3, 2), (40, 6, 3), (30, 10, 4),
                                     (8, 12, 3)])
def test_scml_lda_scalings_match_scikit_learn(seed, n, d, k):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from skmetric._scml_solver import lda_scalings

    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d)) + y[:, None] * rng.normal(size=d)
    X[:, 0] = 1.5  # a constant feature (zero within-class spread)
    expected = LinearDiscriminantAnalysis().fit(X, y).scalings_
    got = lda_scalings(X, y)
    assert got.shape == expected.shape
    # The basis keeps unit directions; scikit-learn versions differ in the
    # overall scale of scalings_ (1/n or 1/(n - k) in the within scaling).
    assert_allclose(got / np.linalg.norm(got, axis=0),
                    expected / np.linalg.norm(expected, axis=0), rtol=1e-8,
                    atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_scml_subgradient_is_the_gradient_away_from_kinks(seed):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(15, 6))
    triplets = rng.integers(0, 15, size=(50, 3)).astype(np.int64)
    w = rng.uniform(0.0, 0.5, size=6)
    value, grad = scml_objective(P, triplets, w, 1e-3)
    a, p, n = triplets.T
    margins = 1.0 + ((P[a] - P[p]) ** 2 - (P[a] - P[n]) ** 2) @ w
    assert np.abs(margins).min() > 1e-4  # no kink within the step below
    for _ in range(5):
        E = rng.normal(size=6)
        h = 1e-7
        numeric = (scml_objective(P, triplets, w + h * E, 1e-3)[0]
                   - scml_objective(P, triplets, w - h * E, 1e-3)[0]) / (2 * h)
        assert_allclose(grad @ E, numeric, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------
# Solvers against an independent optimiser (scipy), on small random problems
# ---------------------------------------------------------------------------------


def _itml_dual_scipy(V, similar, upper, lower, gamma):
    """ITML's dual by L-BFGS-B: maximise over lambda >= 0 the Lagrangian at its
    minimiser, ``A^-1 = I + sum_c delta_c lambda_c v_c v_c^T``, ``1/xi_c =
    1/xi0_c - delta_c lambda_c / gamma``; its gradient is ``delta_c (p_c -
    xi_c)``. Returns the primal metric A at the dual optimum."""
    m, d = V.shape
    targets = np.where(similar, upper, lower)
    sign = np.where(similar, 1.0, -1.0)

    def primal(lam):
        A = np.linalg.inv(np.eye(d) + (V.T * (sign * lam)) @ V)
        xi = 1.0 / (1.0 / targets - sign * lam / gamma)
        return A, xi

    def negative_dual(lam):
        A, xi = primal(lam)
        if np.any(xi <= 0) or np.linalg.eigvalsh(A)[0] <= 0:
            return 1e10, np.zeros(m)
        p = np.einsum("ij,jk,ik->i", V, A, V)
        r = xi / targets
        value = (np.trace(A) - np.linalg.slogdet(A)[1] - d
                 + gamma * np.sum(r - np.log(r) - 1.0)
                 + np.sum(lam * sign * (p - xi)))
        return -value, -sign * (p - xi)

    bounds = [(0.0, 0.999 * gamma / t if s > 0 else None)
              for t, s in zip(targets, sign)]
    result = scipy.optimize.minimize(negative_dual, np.zeros(m), jac=True,
                                     method="L-BFGS-B", bounds=bounds,
                                     options={"maxiter": 50000, "ftol": 1e-15,
                                              "gtol": 1e-12})
    return primal(result.x)[0], -result.fun


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", ["square", "fewer pairs than features",
                                   "rank deficient"])
def test_itml_solver_matches_scipy_on_the_primal(seed, shape):
    rng = np.random.default_rng(seed)
    n, d, m = {"square": (12, 3, 10), "fewer pairs than features": (12, 6, 4),
               "rank deficient": (12, 4, 10)}[shape]
    X = rng.normal(size=(n, d))
    if shape == "rank deficient":
        X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d))
    pairs, similar = _pairs(np.arange(n) % 2, m, seed)
    similar = np.arange(pairs.shape[0]) % 2 == 0
    model = ITMLPairs(bounds=(0.5, 4.0), gamma=2.0, tol=1e-10, max_iter=100000)
    model.fit(X[pairs], np.where(similar, 1, -1))
    M = model.get_mahalanobis_matrix()
    V = X[pairs[:, 0]] - X[pairs[:, 1]]
    A_scipy, _ = _itml_dual_scipy(V, similar, 0.5, 4.0, 2.0)
    # The learned metric agrees to 1e-4 relative (scipy's own accuracy).
    assert_allclose(M, A_scipy, rtol=1e-4, atol=1e-4 * np.abs(A_scipy).max())


def test_itml_pairs_on_denormal_points_warns_instead_of_failing():
    # The projections on points whose distances span ninety orders of magnitude
    # leave, by rounding, a metric with a zero eigenvalue: the duality gap then
    # gives no bound, and the fit must warn instead of raising a LinAlgError.
    from ._estimators import constraints_from_labels

    tiny = np.float64(np.finfo(np.float32).smallest_subnormal)
    X = np.full((37, 4), tiny)
    X[0, 0] = X[4, 3] = 0.0
    X[2, 1] = X[3, 2] = 1.0
    y = np.zeros(37, dtype=int)
    y[2:4] = 1
    pairs, similar = constraints_from_labels(y, "pairs")
    model = ITMLPairs(max_iter=200, preprocessor=X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(pairs, similar)
    assert np.all(np.isfinite(model.components_))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert converged == (model.n_iter_ < 200)


def test_itml_duality_gap_is_zero_only_at_the_optimum():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(10, 3))
    pairs, _ = _pairs(np.arange(10) % 2, 12, 0)
    left, right = pairs[:, 0].copy(), pairs[:, 1].copy()
    sign = np.where(np.arange(len(left)) % 2 == 0, 1.0, -1.0)
    targets = np.where(sign > 0, 0.5, 4.0)
    lam, xi, A = np.zeros(len(left)), targets.copy(), np.eye(3)
    gaps = []
    for _ in range(300):
        A, lam, xi, _ = kernels.itml_projections(Z, left, right, sign, lam, xi, A,
                                                 1.0)
        gaps.append(itml_duality_gap(Z, left, right, sign, lam, xi, targets, A,
                                     1.0)[1])
    assert gaps[0] > 1e-3 and min(gaps) >= -1e-10 and gaps[-1] < 1e-9


def _graphical_lasso_scipy(S, alpha):
    """The graphical lasso by L-BFGS-B on Theta = D + P - N, P, N >= 0."""
    d = S.shape[0]
    rows, cols = np.triu_indices(d, k=1)
    k = rows.size

    def unpack(x):
        theta = np.diag(x[:d])
        off = x[d:d + k] - x[d + k:]
        theta[rows, cols] = off
        theta[cols, rows] = off
        return theta

    def objective(x):
        theta = unpack(x)
        try:
            logdet = 2 * np.sum(np.log(np.diag(np.linalg.cholesky(theta))))
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(x)
        grad_theta = S - np.linalg.inv(theta)
        grad_off = 2 * grad_theta[rows, cols]
        value = np.sum(S * theta) - logdet + 2 * alpha * np.sum(x[d:])
        return value, np.concatenate([np.diag(grad_theta), grad_off + 2 * alpha,
                                      -grad_off + 2 * alpha])

    x0 = np.concatenate([1.0 / np.diag(S), np.zeros(2 * k)])
    bounds = [(1e-8, None)] * d + [(0, None)] * (2 * k)
    result = scipy.optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                                     bounds=bounds,
                                     options={"maxiter": 20000, "ftol": 1e-15,
                                              "gtol": 1e-12})
    return unpack(result.x), result.fun


_OLDEST = os.environ.get("SKMETRIC_OLDEST_VERSIONS") == "1"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3])
def test_graphical_lasso_matches_scipy(seed, alpha, request):
    if _OLDEST and (seed, alpha) == (0, 0.05):
        # Known gap: from scikit-learn 1.6.0's coordinate-descent answer the
        # proximal steps stall at a gap of 2.5e-3 in 10000 iterations; the
        # solver says so (converged False). Strict, so a fix shows as XPASS.
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "graphical lasso not certified with scikit-learn 1.6.0 on this case")))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 5)) @ rng.normal(size=(5, 5))
    S = np.cov(X.T)
    theta, _, converged, gap = solve_graphical_lasso(S, alpha, max_iter=10000,
                                                     tol=1e-5, printer=_printer())
    assert converged and gap <= 1e-5
    theta_scipy, value_scipy = _graphical_lasso_scipy(S, alpha)
    # The objective is certified within the gap (1e-5) of the minimum, so no
    # worse than scipy's by more; the two minimisers agree (strictly convex).
    assert graphical_lasso_objective(S, theta, alpha) <= value_scipy + 1e-5
    assert_allclose(theta, theta_scipy, atol=1e-3 * np.abs(theta).max())
    assert sdml_duality_gap(S, theta_scipy, alpha) >= -1e-12


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", ["square", "fewer quadruplets than features"])
def test_lsml_solver_matches_scipy_bfgs(seed, shape):
    rng = np.random.default_rng(seed)
    n, d, m = (20, 3, 30) if shape == "square" else (20, 6, 4)
    X = rng.normal(size=(n, d))
    quadruplets = _quadruplets(n, m, rng)
    model = LSMLQuadruplets(tol=1e-8, max_iter=5000).fit(X[quadruplets])
    Z = X - X.mean(axis=0)
    # An independent run: scipy's BFGS on the same objective over L from I.
    result = scipy.optimize.minimize(lsml_objective_grad, np.eye(d).ravel(),
                                     args=(Z, quadruplets), jac=True, method="BFGS",
                                     options={"gtol": 1e-10, "maxiter": 10000})
    L_scipy = result.x.reshape(d, d)
    M = model.get_mahalanobis_matrix()
    assert_allclose(M, L_scipy.T @ L_scipy, rtol=1e-5, atol=1e-6)
    assert stationarity(Z, quadruplets, model.components_) < 1e-6


def test_scml_solution_is_near_the_linear_programme_optimum():
    # The problem is a linear programme; HiGHS gives its exact optimum. The
    # stochastic solver (the paper's method, O(1/sqrt(t))) reaches it within 10
    # percent in 1e5 steps (measured: 8.6 percent).
    X, y = _blobs(n=45, d=3, k=3, seed=1, spread=1.5)
    rng = np.random.default_rng(0)
    triplets = []
    while len(triplets) < 150:
        a, p, q = rng.integers(0, 45, size=3)
        if a != p and y[a] == y[p] and y[a] != y[q]:
            triplets.append((a, p, q))
    triplets = np.array(triplets)
    basis = np.vstack([np.eye(3), np.ones((1, 3)) / np.sqrt(3)])
    model = SCMLTriplets(basis=basis, beta=1e-3, max_iter=100000,
                         output_iter=100000, random_state=0, preprocessor=X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(triplets)
    unit = (X - X.mean(axis=0)) / np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, 1)))
    P = unit @ model.basis_.T
    z = (P[triplets[:, 0]] - P[triplets[:, 1]]) ** 2 - (P[triplets[:, 0]]
                                                         - P[triplets[:, 2]]) ** 2
    m, K = z.shape
    cost = np.concatenate([np.full(K, 1e-3), np.full(m, 1.0 / m)])
    A_ub = np.hstack([z, -np.eye(m)])
    lp = scipy.optimize.linprog(cost, A_ub=A_ub, b_ub=-np.ones(m),
                                bounds=[(0, None)] * (K + m), method="highs")
    ours = scml_objective(np.ascontiguousarray(P), triplets.astype(np.int64),
                          model.weights_, 1e-3)[0]
    assert lp.status == 0 and lp.fun <= ours + 1e-9
    assert ours <= lp.fun * 1.10


# ---------------------------------------------------------------------------------
# Invariances (property tests that can fail)
# ---------------------------------------------------------------------------------


def _pair_problem(seed, n=40, d=4):
    X, y = _blobs(n=n, d=d, seed=seed)
    pairs, similar = _pairs(y, 80, seed)
    return X, pairs, np.where(similar, 1, -1)


def _orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("seed", range(3))
def test_itml_distances_do_not_depend_on_rotation_translation_or_scale(seed):
    rng = np.random.default_rng(seed)
    X, pairs, labels = _pair_problem(seed)
    Q, shift, c = _orthogonal(rng, 4), rng.normal(size=4) * 5, 7.0
    base = ITMLPairs(tol=1e-9, max_iter=100000).fit(X[pairs], labels)
    moved = ITMLPairs(tol=1e-9, max_iter=100000).fit(
        (c * X @ Q.T + shift)[pairs], labels)
    test = np.stack((X[:20], X[20:]), axis=1)
    test_moved = np.stack(((c * X @ Q.T + shift)[:20], (c * X @ Q.T + shift)[20:]),
                          axis=1)
    assert_allclose(moved.pair_distance(test_moved), c * base.pair_distance(test),
                    rtol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_itml_with_covariance_prior_is_invariant_to_linear_maps(seed):
    rng = np.random.default_rng(seed)
    X, pairs, labels = _pair_problem(seed)
    T = rng.normal(size=(4, 4)) + 2 * np.eye(4)
    kw = dict(prior="covariance", tol=1e-9, max_iter=100000)
    base = ITMLPairs(**kw).fit(X[pairs], labels)
    mapped = ITMLPairs(**kw).fit((X @ T.T)[pairs], labels)
    test = np.stack((X[:20], X[20:]), axis=1)
    assert_allclose(mapped.pair_distance(test @ T.T), base.pair_distance(test),
                    rtol=1e-5)
    # With the identity prior the same map changes the metric (not invariant).
    plain = ITMLPairs(tol=1e-9, max_iter=100000).fit(X[pairs], labels)
    plain_mapped = ITMLPairs(tol=1e-9, max_iter=100000).fit((X @ T.T)[pairs],
                                                            labels)
    assert not np.allclose(plain_mapped.pair_distance(test @ T.T),
                           plain.pair_distance(test), rtol=1e-3)


@pytest.mark.parametrize("seed", range(3))
def test_itml_does_not_depend_on_the_order_of_the_pairs(seed):
    X, pairs, labels = _pair_problem(seed)
    order = np.random.default_rng(seed).permutation(len(pairs))
    a = ITMLPairs(tol=1e-10, max_iter=100000).fit(X[pairs], labels)
    b = ITMLPairs(tol=1e-10, max_iter=100000).fit(X[pairs[order]], labels[order])
    assert_allclose(b.get_mahalanobis_matrix(), a.get_mahalanobis_matrix(),
                    rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_lsml_with_covariance_prior_is_invariant_to_linear_maps(seed):
    rng = np.random.default_rng(seed)
    X, _ = _blobs(n=30, d=3, seed=seed)
    quadruplets = _quadruplets(30, 60, rng)
    T = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    kw = dict(prior="covariance", tol=1e-9, max_iter=5000)
    base = LSMLQuadruplets(**kw).fit(X[quadruplets])
    mapped = LSMLQuadruplets(**kw).fit((X @ T.T)[quadruplets])
    test = np.stack((X[:15], X[15:]), axis=1)
    assert_allclose(mapped.pair_distance(test @ T.T), base.pair_distance(test),
                    rtol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_sdml_permuting_features_permutes_the_metric(seed):
    X, pairs, labels = _pair_problem(seed, d=5)
    order = np.random.default_rng(seed).permutation(5)
    kw = dict(tol=1e-10, sparsity_param=0.05)
    base = SDMLPairs(**kw).fit(X[pairs], labels).get_mahalanobis_matrix()
    permuted = SDMLPairs(**kw).fit(X[:, order][pairs], labels).get_mahalanobis_matrix()
    assert_allclose(permuted, base[np.ix_(order, order)], rtol=1e-6,
                    atol=1e-9 * np.abs(base).max())


def test_sdml_penalty_makes_the_metric_sparser():
    X, pairs, labels = _pair_problem(0, d=6)
    dense = SDMLPairs(sparsity_param=0.0, tol=1e-10).fit(X[pairs], labels)
    sparse = SDMLPairs(sparsity_param=0.5, tol=1e-10).fit(X[pairs], labels)
    off = ~np.eye(6, dtype=bool)
    n_zero = lambda M: int(np.sum(np.abs(M[off]) < 1e-9 * np.abs(M).max()))
    assert n_zero(sparse.get_mahalanobis_matrix()) > n_zero(
        dense.get_mahalanobis_matrix())


@pytest.mark.parametrize("seed", range(2))
def test_scml_distances_scale_with_the_data(seed):
    X, y = _blobs(n=45, d=3, seed=seed)
    kw = dict(max_iter=2000, output_iter=100, random_state=seed)
    base = SCML(**kw).fit(X, y)
    scaled = SCML(**kw).fit(1000.0 * X, y)
    test = np.stack((X[:20], X[20:40]), axis=1)
    assert_allclose(scaled.pair_distance(1000.0 * test), base.pair_distance(test),
                    rtol=1e-6)


# ---------------------------------------------------------------------------------
# Behaviour: SDML where metric-learn fails, convergence policy, tuple forms
# ---------------------------------------------------------------------------------


def test_sdml_fits_where_the_graphical_lasso_has_no_solution_by_default():
    # metric-learn's SDML fails on iris with its defaults (balance 0.5,
    # identity prior): S = I + 0.5 K is indefinite. 'auto' stays inside the
    # admissible range whatever the pairs; an explicit balance beyond it raises
    # an error that gives the admissible range.
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    model = SDML(prior="identity", random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.components_)) and model.balance_ > 0
    with pytest.raises(ValueError, match=re.escape(
            "S is positive definite for balance_param <")):
        SDML(prior="identity", balance_param=50.0, random_state=0).fit(X, y)


def test_sdml_identical_points_whose_mean_rounds_raise_the_documented_error():
    # Centring identical rows leaves rounding noise when their mean is not
    # their value: they are still identical, and said to be.
    X = np.full((31, 1), 33.11596513)
    assert X.mean() != X[0, 0]
    y = np.array([0, 0, 1, 1, 2, 2] + [0] * 25)
    with pytest.raises(ValueError, match="SDML: all points are identical"):
        SDML(random_state=0).fit(X, y)


def test_sdml_more_features_than_points_learns_in_their_span():
    rng = np.random.default_rng(0)
    y = np.arange(10) % 2
    X = rng.normal(size=(10, 25)) + y[:, None]
    model = SDML(random_state=0).fit(X, y)
    M = model.get_mahalanobis_matrix()
    # No length along directions orthogonal to the centred points.
    centred = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred)
    null = vt[np.linalg.matrix_rank(centred):]
    assert np.abs(null @ M @ null.T).max() < 1e-8 * np.abs(M).max()


CONVERGENCE_CASES = [
    (ITML, dict(max_iter=1)),
    (SDML, dict(max_iter=1, tol=0.0)),
    (LSML, dict(max_iter=1, tol=1e-12)),
    (SCML, dict(max_iter=100, output_iter=100, tol=-1.0)),
]


@pytest.mark.parametrize("Estimator, params", CONVERGENCE_CASES,
                         ids=lambda v: getattr(v, "__name__", ""))
def test_stopping_early_warns_and_verbose_does_not_silence_it(Estimator, params,
                                                              capsys):
    # Overlapping classes, so that no start is already optimal.
    X, y = _blobs(seed=3, spread=0.5)
    if params.get("tol") == -1.0:
        params = {**params, "tol": 0.0, "max_iter": 150}
    with pytest.warns(ConvergenceWarning, match=f"{Estimator.__name__} did not "
                      "converge"):
        Estimator(random_state=0, verbose=2, **params).fit(X, y)
    out = capsys.readouterr().out
    assert out and all(line.startswith(f"[{Estimator.__name__}]")
                       for line in out.splitlines())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Estimator(random_state=0, **params).fit(X, y)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("Estimator", [ITML, SDML, LSML, SCML])
def test_labelled_forms_learn_the_informative_axis(Estimator):
    # One informative feature among noise: the learned metric weights it most.
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    X = rng.normal(size=(90, 4))
    X[:, 2] = 0.4 * rng.normal(size=90) + 2.0 * y
    M = Estimator(random_state=0).fit(X, y).get_mahalanobis_matrix()
    informative = M[2, 2] / np.linalg.norm(X[:, 2]) ** -2
    others = [M[k, k] / np.linalg.norm(X[:, k]) ** -2 for k in (0, 1, 3)]
    assert informative > max(others)


def test_quadruplet_learner_scores_model_selection_and_predictions():
    X, y = _blobs(n=60, seed=0)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 60, size=(2000, 4))
    keep = ((y[rows[:, 0]] == y[rows[:, 1]]) & (y[rows[:, 2]] != y[rows[:, 3]])
            & (rows[:, 0] != rows[:, 1]))
    quadruplets = rows[keep][:200]
    model = LSMLQuadruplets(preprocessor=X)
    scores = cross_val_score(model, quadruplets, cv=3)
    assert scores.min() > 0.8
    model.fit(quadruplets)
    predictions = model.predict(quadruplets)
    assert set(np.unique(predictions)) <= {-1, 1}
    assert_allclose(model.score(quadruplets), np.mean(predictions == 1))
    margins = model.decision_function(X[quadruplets])
    d = lambda a, b: model.pair_distance(np.stack((X[a], X[b]), axis=1))
    assert_allclose(margins, d(quadruplets[:, 2], quadruplets[:, 3])
                    - d(quadruplets[:, 0], quadruplets[:, 1]), rtol=1e-10)


@pytest.mark.parametrize("quadruplets, message", [
    (np.array([[0, 0, 1, 2]]), "quadruplets row 0 has the same point twice in its "
                               "first pair (0)"),
    (np.array([[0, 1, 2, 2]]), "quadruplets row 0 has the same point twice in its "
                               "second pair (2)"),
    (np.array([[0, 1, 2]]), "quadruplets must have shape (n_quadruplets, 4); got "
                            "shape (1, 3)"),
    (np.array([[0, 1, 2, 9]]), "quadruplets refers to row 9, outside the 5 rows of "
                               "X (valid indices are 0..4)"),
])
def test_quadruplets_are_validated(quadruplets, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_quadruplets(quadruplets, 5)


def test_quadruplet_learner_rejects_bad_quadruplets_by_role():
    X = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match="same point twice in its second pair"):
        LSMLQuadruplets(preprocessor=X).fit(np.array([[0, 1, 2, 2], [0, 2, 3, 4]]))
    points = X[np.array([[0, 1, 2, 3], [0, 1, 4, 4]])]
    with pytest.raises(ValueError, match=re.escape("(identical points)")):
        LSMLQuadruplets().fit(points)
