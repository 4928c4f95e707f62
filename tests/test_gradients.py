"""Every (loss, grad) pair against central finite differences in float64."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skmetric._init import components_from_metric
from skmetric._xing_solver import (
    _newton_direction,
    diagonal_objective,
    diagonal_objective_grad_hess,
    full_objective_grad,
)


def _xing_problem(seed, n=30, d=5, m=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    pairs = rng.integers(0, n, size=(m, 2)).astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    A = rng.normal(size=(d, d))
    M = A @ A.T + 0.5 * np.eye(d)  # well inside the PSD cone
    return rng, X, pairs, M


def _full_objective(X, pairs, M):
    return full_objective_grad(X, pairs, components_from_metric(M))[0]


@pytest.mark.parametrize("seed", range(5))
def test_xing_full_gradient_matches_finite_differences(seed):
    rng, X, pairs, M = _xing_problem(seed)
    objective, gradient = full_objective_grad(X, pairs, components_from_metric(M))
    diffs = X[pairs[:, 0]] - X[pairs[:, 1]]
    assert_allclose(objective, np.sqrt(np.einsum("ij,jk,ik->i", diffs, M, diffs)).sum())
    for _ in range(5):
        E = rng.normal(size=M.shape)
        E = E + E.T
        h = 1e-6
        numeric = (
            _full_objective(X, pairs, M + h * E) - _full_objective(X, pairs, M - h * E)
        ) / (2 * h)
        assert_allclose(np.sum(gradient * E), numeric, rtol=1e-6)


def _diagonal_problem(seed, m_s=25, m_d=35, d=6):
    rng = np.random.default_rng(seed)
    similar_sq = (rng.normal(size=(m_s, d)) ** 2).sum(axis=0)
    dissimilar = rng.normal(size=(m_d, d)) ** 2
    weights = rng.uniform(0.2, 2.0, size=d)
    return rng, similar_sq, dissimilar, weights


@pytest.mark.parametrize("seed", range(5))
def test_xing_diagonal_gradient_and_hessian_match_finite_differences(seed):
    rng, similar_sq, dissimilar, weights = _diagonal_problem(seed)
    objective, gradient, hessian = diagonal_objective_grad_hess(
        similar_sq, dissimilar, weights
    )
    expected = similar_sq @ weights - np.log(np.sqrt(dissimilar @ weights).sum())
    assert_allclose(objective, expected, rtol=1e-12)
    assert_allclose(diagonal_objective(similar_sq, dissimilar, weights), expected,
                    rtol=1e-12)
    h = 1e-6
    d = weights.shape[0]
    numeric_grad = np.empty(d)
    numeric_hess = np.empty((d, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        plus = diagonal_objective_grad_hess(similar_sq, dissimilar, weights + e)
        minus = diagonal_objective_grad_hess(similar_sq, dissimilar, weights - e)
        numeric_grad[k] = (plus[0] - minus[0]) / (2 * h)
        numeric_hess[:, k] = (plus[1] - minus[1]) / (2 * h)
    assert_allclose(gradient, numeric_grad, rtol=1e-6, atol=1e-8)
    assert_allclose(hessian, numeric_hess, rtol=1e-5, atol=1e-7)
    assert np.linalg.eigvalsh(hessian).min() > -1e-10  # convex


@pytest.mark.parametrize("seed", range(3))
def test_xing_newton_direction_solves_the_free_system(seed):
    rng, similar_sq, dissimilar, weights = _diagonal_problem(seed)
    _, gradient, hessian = diagonal_objective_grad_hess(similar_sq, dissimilar, weights)
    free = np.ones(weights.shape[0], dtype=bool)
    free[0] = False
    direction = _newton_direction(gradient, hessian, free)
    assert_allclose(hessian[np.ix_(free, free)] @ direction[free], -gradient[free],
                    rtol=1e-6, atol=1e-9)
    assert direction[0] == -gradient[0]
    # A full Newton step on a quadratic model decreases the objective here.
    step = np.maximum(weights + 1e-3 * direction, 0.0)
    assert diagonal_objective_grad_hess(similar_sq, dissimilar, step)[0] < (
        diagonal_objective_grad_hess(similar_sq, dissimilar, weights)[0]
    )


# ---------------------------------------------------------------------------------
# Deep embeddings: the whole network, every layer, through the loss and mining
# ---------------------------------------------------------------------------------

from skmetric.deep import DeepSiamese, DeepTriplet  # noqa: E402
from skmetric.deep._network import (  # noqa: E402
    init_parameters,
    network_loss_grad,
    pack,
    unpack,
)

DEEP_LOSSES = {
    "triplet_all": lambda n: DeepTriplet(margin=0.5, miner="all", normalize=n),
    "triplet_all_squared": lambda n: DeepTriplet(margin=0.5, miner="all",
                                                 squared=True, normalize=n),
    "triplet_semihard": lambda n: DeepTriplet(margin=0.5, miner="semihard",
                                              normalize=n),
    "triplet_batch_hard": lambda n: DeepTriplet(margin=0.5, miner="batch_hard",
                                                normalize=n),
    "triplet_distance_weighted": lambda n: DeepTriplet(
        margin=0.5, miner="distance_weighted", normalize=True),
    "contrastive": lambda n: DeepSiamese(margin=1.0, normalize=n),
    "contrastive_hard": lambda n: DeepSiamese(margin=1.0, hard_negatives=True,
                                              normalize=n),
}


def _network_problem(seed, activation, layer_sizes=(5, 7, 6, 3), n=24):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, layer_sizes[0]))
    labels = np.repeat(np.arange(4), n // 4).astype(np.int64)
    coefs, intercepts = init_parameters(list(layer_sizes), rng)
    return rng, X, labels, coefs, intercepts


def _check_network_gradient(X, coefs, intercepts, embedding_loss, activation,
                            normalize, alpha=0.01, h=1e-6):
    params = coefs + intercepts
    n_coefs = len(coefs)
    loss, coef_grads, intercept_grads, _, _, _ = network_loss_grad(
        X, coefs, intercepts, embedding_loss, activation, normalize, alpha)
    assert loss > 0.0
    analytic = pack(coef_grads + intercept_grads)
    flat = pack(params)

    def value(theta):
        arrays = unpack(theta, params)
        return network_loss_grad(X, arrays[:n_coefs], arrays[n_coefs:],
                                 embedding_loss, activation, normalize, alpha)[0]

    numeric = np.empty_like(flat)
    for i in range(flat.shape[0]):
        step = np.zeros_like(flat)
        step[i] = h
        numeric[i] = (value(flat + step) - value(flat - step)) / (2 * h)
    # Every layer's weights and biases, checked one by one.
    assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("loss", sorted(DEEP_LOSSES))
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_deep_network_gradient_matches_finite_differences(loss, normalize,
                                                          activation):
    rng, X, labels, coefs, intercepts = _network_problem(1, activation)
    estimator = DEEP_LOSSES[loss](normalize)
    embedding_loss = estimator._labelled_loss(labels, rng)
    _check_network_gradient(X, coefs, intercepts, embedding_loss, activation,
                            estimator.normalize)


@pytest.mark.parametrize("activation", ["identity", "leaky_relu"])
def test_deep_network_gradient_other_activations(activation):
    rng, X, labels, coefs, intercepts = _network_problem(2, activation)
    embedding_loss = DeepTriplet(margin=0.5, miner="all")._labelled_loss(labels, rng)
    _check_network_gradient(X, coefs, intercepts, embedding_loss, activation, True)


@pytest.mark.parametrize("normalize", [False, True])
def test_deep_network_gradient_of_explicit_constraints(normalize):
    rng, X, _, coefs, intercepts = _network_problem(3, "tanh", layer_sizes=(4, 6, 3))
    triplets = rng.randint(0, 24, size=(30, 3)).astype(np.int64)
    distinct = ((triplets[:, 1] != triplets[:, 2]) & (triplets[:, 0] != triplets[:, 1])
                & (triplets[:, 0] != triplets[:, 2]))
    triplets = triplets[distinct]
    loss = DeepTriplet(margin=0.5)._constraint_loss(triplets, None)
    _check_network_gradient(X, coefs, intercepts, loss, "tanh", normalize)
    pairs = rng.randint(0, 24, size=(30, 2)).astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    similar = (np.arange(pairs.shape[0]) % 2).astype(np.int64)
    loss = DeepSiamese(margin=2.0)._constraint_loss(pairs, similar)
    _check_network_gradient(X, coefs, intercepts, loss, "tanh", normalize)


def test_deep_linear_network_without_hidden_layer():
    rng, X, labels, coefs, intercepts = _network_problem(4, "relu", layer_sizes=(5, 3))
    embedding_loss = DeepSiamese()._labelled_loss(labels, rng)
    _check_network_gradient(X, coefs, intercepts, embedding_loss, "relu", True)


# ---------------------------------------------------------------------------------
# LMNN
# ---------------------------------------------------------------------------------

from skmetric._lmnn import _pull_scatter  # noqa: E402
from skmetric._lmnn_objective import LMNNProblem, lmnn_loss_grad  # noqa: E402
from skmetric._lmnn_neighbors import find_target_neighbors  # noqa: E402

from . import _reference as ref  # noqa: E402


def _lmnn_problem(seed, squared, n=24, d=4, n_components=3, push_weight=0.4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.arange(n, dtype=np.int64) % 3
    targets = find_target_neighbors(X, y, 2)
    problem = LMNNProblem(X, *targets, _pull_scatter(X, targets), push_weight, squared)
    anchor, impostor = np.nonzero(y[:, None] != y[None, :])
    components = rng.normal(size=(n_components, d)) * 0.6
    return rng, X, y, problem, anchor.astype(np.int64), impostor.astype(np.int64), \
        components


def _lmnn_margins(X, y, problem, components):
    Z = X @ components.T
    margins = []
    for i, j in zip(problem.target_anchor, problem.target_index):
        for l in np.flatnonzero(y != y[i]):
            margins.append(1 + np.sum((Z[i] - Z[j]) ** 2) - np.sum((Z[i] - Z[l]) ** 2))
    return np.array(margins)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("squared", [False, True])
def test_lmnn_gradient_matches_finite_differences(seed, squared):
    rng, X, y, problem, anchor, impostor, components = _lmnn_problem(seed, squared)
    margins = _lmnn_margins(X, y, problem, components)
    # Away from the hinge's kinks, and with triplets on both sides of them.
    assert np.abs(margins).min() > 1e-4
    assert (margins > 0).any() and (margins < 0).any()
    loss, grad = lmnn_loss_grad(components.ravel(), problem, anchor, impostor)
    h = 1e-7
    for _ in range(6):
        E = rng.normal(size=components.size)
        numeric = (
            lmnn_loss_grad(components.ravel() + h * E, problem, anchor, impostor)[0]
            - lmnn_loss_grad(components.ravel() - h * E, problem, anchor, impostor)[0]
        ) / (2 * h)
        assert_allclose(grad @ E, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("squared", [False, True])
def test_lmnn_objective_matches_reference(seed, squared):
    _, X, y, problem, anchor, impostor, components = _lmnn_problem(seed, squared)
    loss, grad = lmnn_loss_grad(components.ravel(), problem, anchor, impostor)
    targets = list(zip(problem.target_anchor, problem.target_index))
    expected_loss, expected_grad = ref.lmnn_objective(
        components, X, y, targets, problem.push_weight, squared
    )
    assert_allclose(loss, expected_loss, rtol=1e-12)
    assert_allclose(grad.reshape(components.shape), expected_grad, rtol=1e-10,
                    atol=1e-12)


def test_lmnn_sample_fraction_scales_the_push_term():
    _, X, y, problem, anchor, impostor, components = _lmnn_problem(0, True)
    empty = np.empty(0, dtype=np.int64)
    pull = lmnn_loss_grad(components.ravel(), problem, empty, empty)
    full = lmnn_loss_grad(components.ravel(), problem, anchor, impostor)
    quarter = lmnn_loss_grad(components.ravel(), problem, anchor, impostor, 0.25)
    assert_allclose(quarter[0], pull[0] + 4 * (full[0] - pull[0]), rtol=1e-12)
    assert_allclose(quarter[1], pull[1] + 4 * (full[1] - pull[1]), rtol=1e-10,
                    atol=1e-14)
