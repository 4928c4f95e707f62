"""The recommendation kernels against their NumPy twins (tests/_reference.py)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skmetric._kernels as kernels
from tests import _reference as ref


def _user_items(rng, n_users, n_items, per_user):
    """A CSR (indptr, indices) of distinct sorted items per user."""
    rows = [np.sort(rng.choice(n_items, size=min(per_user, n_items), replace=False))
            for _ in range(n_users)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int64)
    return indptr, np.concatenate(rows).astype(np.int64), rows


def _batch(seed, n_users, n_items, k, b, n_sampled, per_user):
    rng = np.random.default_rng(seed)
    P = rng.normal(scale=0.4, size=(n_users, k))
    Q = rng.normal(scale=0.4, size=(n_items, k))
    indptr, indices, rows = _user_items(rng, n_users, n_items, per_user)
    users = rng.integers(0, n_users, size=b)
    positives = np.array([rng.choice(rows[u]) for u in users], dtype=np.int64)
    negatives = rng.integers(0, n_items, size=(b, n_sampled))
    return P, Q, users, positives, negatives, indptr, indices


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_users, n_items, k, b, n_sampled, per_user", [
    (1, 2, 1, 1, 1, 1), (5, 12, 3, 20, 4, 3), (30, 200, 16, 300, 20, 10),
    (4, 6, 2, 15, 8, 5),  # most samples are the user's own items
])
def test_cml_hinge_terms_matches_reference(seed, n_users, n_items, k, b, n_sampled,
                                           per_user):
    args = _batch(seed, n_users, n_items, k, b, n_sampled, per_user)
    copies = [a.copy() for a in args]
    got = kernels.cml_hinge_terms(*args, 0.5, n_items)
    expected = ref.cml_hinge_terms(*args, 0.5, n_items)
    for g, e in zip(got, expected):
        assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    for a, c in zip(args, copies):
        assert_array_equal(a, c)


def test_cml_hinge_terms_all_samples_owned_gives_no_term():
    P, Q = np.zeros((1, 2)), np.ones((3, 2))
    indptr, indices = np.array([0, 2]), np.array([0, 1])
    loss, weight, hardest, violators = kernels.cml_hinge_terms(
        P, Q, np.array([0]), np.array([0]), np.array([[1, 0, 1]]), indptr, indices,
        0.5, 3)
    assert hardest[0] == -1 and loss[0] == 0 and weight[0] == 0 and violators[0] == 0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_items", [10, 100, 1000])
def test_warp_rank_estimate_against_brute_force_rank(seed, n_items):
    # With every other item sampled (n_sampled = the items the user does not own),
    # floor(n_items * M / U) is the brute-force count of margin violators scaled
    # by n_items / U; with U = n_items - 1 (one positive) it is the true rank up to
    # the factor n_items / (n_items - 1).
    rng = np.random.default_rng(seed)
    k = 4
    P = rng.normal(scale=0.3, size=(1, k))
    Q = rng.normal(scale=0.3, size=(n_items, k))
    positive = 0
    others = np.arange(1, n_items)
    _, weight, _, violators = kernels.cml_hinge_terms(
        P, Q, np.array([0]), np.array([positive]), others[None, :],
        np.array([0, 1]), np.array([positive]), 0.2, n_items)
    d = ((P[0] - Q) ** 2).sum(axis=1)
    brute = int(np.sum(0.2 + d[positive] - d[others] > 0))
    assert violators[0] == brute
    rank = np.floor(n_items * brute / (n_items - 1))
    if weight[0] > 0:
        assert_allclose(weight[0], np.log1p(rank))
    # Sampling estimates the same rank: the mean estimate over many samples of 20
    # is near the brute-force rank.
    n_draws, n_sampled = 4000, 20
    negatives = rng.choice(others, size=(n_draws, n_sampled))
    _, _, _, viol = kernels.cml_hinge_terms(
        P, Q, np.zeros(n_draws, dtype=np.int64), np.zeros(n_draws, dtype=np.int64),
        negatives, np.array([0, 1]), np.array([positive]), 0.2, n_items)
    estimate = np.mean(n_items * viol / n_sampled)
    assert abs(estimate - n_items * brute / (n_items - 1)) <= 0.05 * n_items + 1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_users, n_items, k, b", [(1, 2, 1, 1), (6, 9, 3, 40),
                                                    (40, 300, 16, 500)])
def test_cml_scatter_grads_matches_reference(seed, n_users, n_items, k, b):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n_users, k))
    Q = rng.normal(size=(n_items, k))
    users = rng.integers(0, n_users, size=b)
    positives = rng.integers(0, n_items, size=b)
    hardest = rng.integers(-1, n_items, size=b)
    coef = np.where(rng.random(b) < 0.3, 0.0, rng.random(b))
    got_P, got_Q = rng.normal(size=P.shape), rng.normal(size=Q.shape)
    exp_P, exp_Q = got_P.copy(), got_Q.copy()
    kernels.cml_scatter_grads(P, Q, users, positives, hardest, coef, got_P, got_Q)
    ref.cml_scatter_grads(P, Q, users, positives, hardest, coef, exp_P, exp_Q)
    assert_allclose(got_P, exp_P, rtol=1e-10, atol=1e-12)
    assert_allclose(got_Q, exp_Q, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, k, m", [(1, 1, 1), (10, 3, 4), (200, 16, 150)])
@pytest.mark.parametrize("max_norm", [0.0, 1.0])
def test_update_rows_match_reference(seed, n, k, m, max_norm):
    rng = np.random.default_rng(seed)
    params = rng.normal(scale=0.8, size=(n, k))
    grads = rng.normal(size=(n, k))
    grads[rng.random(n) < 0.2] = 0.0  # rows with a zero gradient (and accumulator)
    accum = np.where(rng.random((n, k)) < 0.5, 0.0, rng.random((n, k)))
    rows = rng.choice(n, size=m, replace=False).astype(np.int64)
    for name, extra in (("adagrad_update_rows", (accum,)), ("sgd_update_rows", ())):
        got = [params.copy(), grads.copy(), *[a.copy() for a in extra]]
        exp = [params.copy(), grads.copy(), *[a.copy() for a in extra]]
        getattr(kernels, name)(*got, rows, 0.3, max_norm)
        getattr(ref, name)(*exp, rows, 0.3, max_norm)
        for g, e in zip(got, exp):
            assert_allclose(g, e, rtol=1e-10, atol=1e-12)
        if max_norm > 0:
            assert np.all(np.linalg.norm(got[0][rows], axis=1) <= max_norm + 1e-12)


def _training_run(seed, n_users, n_items, k, n, n_sampled, per_user):
    """Initial vectors, accumulators and a run of interactions with negatives."""
    rng = np.random.default_rng(seed)
    P, V, users, positives, negatives, indptr, indices = _batch(
        seed, n_users, n_items, k, n, n_sampled, per_user)
    P /= np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1.0)
    V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1.0)
    acc_P = np.where(rng.random(P.shape) < 0.5, 0.0, rng.random(P.shape))
    acc_V = np.where(rng.random(V.shape) < 0.5, 0.0, rng.random(V.shape))
    weights = np.where(rng.random(n) < 0.1, 0.0, rng.random(n) + 0.5)
    return [P, V, acc_P, acc_V, np.zeros_like(P), np.zeros_like(V), users,
            positives, weights, negatives, indptr, indices]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_users, n_items, k, n, n_sampled, per_user, batch_size", [
    (1, 2, 1, 1, 1, 1, 1), (5, 12, 3, 37, 4, 3, 8), (30, 200, 16, 700, 20, 10, 128),
    (4, 6, 2, 15, 8, 5, 4),  # most samples are the user's own items
])
@pytest.mark.parametrize("adagrad", [True, False])
@pytest.mark.parametrize("covariance_weight", [0.0, 1.5])
def test_cml_train_batches_matches_reference(seed, n_users, n_items, k, n, n_sampled,
                                             per_user, batch_size, adagrad,
                                             covariance_weight):
    args = _training_run(seed, n_users, n_items, k, n, n_sampled, per_user)
    inputs = [a.copy() for a in args[6:]]
    got = [a.copy() for a in args]
    exp = [a.copy() for a in args]
    extra = (0.5, n_items, covariance_weight, 0.2, adagrad, 1.0, batch_size)
    got_loss, got_active = kernels.cml_train_batches(*got, *extra)
    exp_loss, exp_active = ref.cml_train_batches(*exp, *extra)
    assert got_active == exp_active
    assert_allclose(got_loss, exp_loss, rtol=1e-10, atol=1e-12)
    for g, e in zip(got[:6], exp[:6]):  # vectors, accumulators, cleared gradients
        assert_allclose(g, e, rtol=1e-9, atol=1e-12)
    assert not got[4].any() and not got[5].any()
    assert np.all(np.linalg.norm(got[0], axis=1) <= 1.0 + 1e-12)
    assert np.all(np.linalg.norm(got[1], axis=1) <= 1.0 + 1e-12)
    for g, a in zip(got[6:], inputs):
        assert_array_equal(g, a)


def test_cml_train_batches_serial_and_parallel_are_bit_identical():
    args = _training_run(0, 40, 300, 16, 2000, 20, 15)
    extra = (1.0, 300, 1.0, 0.1, True, 1.0, 256)
    outputs = []
    for variant in (kernels.cml_train_batches.serial,
                    kernels.cml_train_batches.parallel):
        state = [a.copy() for a in args]
        loss, active = variant(*state, *extra)
        outputs.append((loss, active, state[:4]))
    (loss0, act0, s0), (loss1, act1, s1) = outputs
    assert loss0 == loss1 and act0 == act1
    for a, b in zip(s0, s1):
        assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("covariance_weight", [0.0, 2.0])
def test_cml_train_batches_step_follows_the_objective_gradient(seed,
                                                               covariance_weight):
    # One batch of plain gradient steps with a unit rate and no clipping moves the
    # vectors by minus the gradient of the objective (checked against finite
    # differences in tests/test_recommend_cml.py), and reports its loss.
    from skmetric.recommend import _cml_solver as solver

    n_users, n_items, k, n = 6, 20, 4, 30
    args = _training_run(seed, n_users, n_items, k, n, 5, 4)
    P, V = args[0], args[1]
    users, positives, weights, negatives, indptr, indices = args[6:]
    loss, grad = solver.objective(
        np.concatenate([P.ravel(), V.ravel()]), [P.shape, V.shape], None, users,
        positives, negatives, weights, indptr, indices, 0.5, n_items,
        covariance_weight)
    state = [a.copy() for a in args]
    got_loss, _ = kernels.cml_train_batches(
        *state, 0.5, n_items, covariance_weight, 1.0, False, 0.0, n)
    assert_allclose(got_loss, loss, rtol=1e-10)
    moved = np.concatenate([(P - state[0]).ravel(), (V - state[1]).ravel()])
    assert_allclose(moved, grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("size, n", [(0, 0), (1, 1), (2, 2), (5, 0), (7, 3),
                                     (64, 64), (300, 257), (2048, 1500)])
def test_heap_sort_prefix_matches_reference(seed, size, n):
    rng = np.random.default_rng(seed)
    # Few distinct values: duplicates, and the prefix left sorted in reverse.
    values = rng.integers(-5, 10 + size // 4, size=size).astype(np.int64)
    expected = ref.heap_sort_prefix(values, n)
    got = values.copy()
    kernels.heap_sort_prefix(got, n)
    assert_array_equal(got, expected)
    reverse = np.sort(values)[::-1].copy()
    got = reverse.copy()
    kernels.heap_sort_prefix(got, n)
    assert_array_equal(got, ref.heap_sort_prefix(reverse, n))
