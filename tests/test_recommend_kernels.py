"""The recommendation kernels against their NumPy twins (tests/_reference.py)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skmetric._kernels as kernels
from skmetric._kernels.recommend import _in_item_set
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
    sets = kernels.owned_item_sets(*args[5:])
    got = kernels.cml_hinge_terms(*args[:5], *sets, 0.5, n_items)
    expected = ref.cml_hinge_terms(*args, 0.5, n_items)
    for g, e in zip(got, expected):
        assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    for a, c in zip(args, copies):
        assert_array_equal(a, c)


def test_cml_hinge_terms_serial_and_parallel_are_bit_identical():
    args = _batch(0, 40, 300, 16, 3000, 20, 15)
    sets = kernels.owned_item_sets(*args[5:])
    serial = kernels.cml_hinge_terms.serial(*args[:5], *sets, 1.0, 300)
    parallel = kernels.cml_hinge_terms.parallel(*args[:5], *sets, 1.0, 300)
    for a, b in zip(serial, parallel):
        assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_users, n_items, per_user", [
    (1, 1, 0), (3, 5, 5), (20, 50, 7), (200, 5000, 300), (50, 64, 1)])
def test_owned_item_sets_match_reference_and_answer_membership(seed, n_users,
                                                               n_items, per_user):
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.choice(n_items, size=rng.integers(0, per_user + 1),
                               replace=False)) for _ in range(n_users)]
    # Items of a common stride (every 64th id) are where a weak hash collides.
    rows[0] = np.arange(0, n_items, 64)[:per_user]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64)
    offsets, table = kernels.owned_item_sets(indptr, indices)
    exp_offsets, exp_table = ref.owned_item_sets(indptr, indices)
    assert_array_equal(offsets, exp_offsets)
    assert_array_equal(table, exp_table)
    queries = np.arange(-1, n_items + 2, dtype=np.int64)
    for u in range(n_users):
        own = set(rows[u].tolist())
        size = offsets[u + 1] - offsets[u]
        assert size >= max(1, 2 * len(own)) and size & (size - 1) == 0
        answers = [_in_item_set(table, offsets[u], offsets[u + 1], q)
                   for q in queries]
        assert answers == [int(q) in own for q in queries]


def test_cml_hinge_terms_all_samples_owned_gives_no_term():
    P, Q = np.zeros((1, 2)), np.ones((3, 2))
    sets = kernels.owned_item_sets(np.array([0, 2]), np.array([0, 1]))
    loss, weight, hardest, violators = kernels.cml_hinge_terms(
        P, Q, np.array([0]), np.array([0]), np.array([[1, 0, 1]]), *sets, 0.5, 3)
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
    sets = kernels.owned_item_sets(np.array([0, 1]), np.array([positive]))
    _, weight, _, violators = kernels.cml_hinge_terms(
        P, Q, np.array([0]), np.array([positive]), others[None, :], *sets, 0.2,
        n_items)
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
        negatives, *sets, 0.2, n_items)
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
    # Marks left by an earlier batch (stamp 3) must not hide a row from this one.
    user_mark = np.where(rng.random(n_users) < 0.5, 3, -1).astype(np.int64)
    item_mark = np.where(rng.random(n_items) < 0.5, 3, -1).astype(np.int64)
    user_rows = np.full(b, -7, dtype=np.int64)
    item_rows = np.full(2 * b, -7, dtype=np.int64)
    n_u, n_i = kernels.cml_scatter_grads(P, Q, users, positives, hardest, coef,
                                         got_P, got_Q, user_mark, item_mark, 4,
                                         user_rows, item_rows)
    exp_users, exp_items = ref.cml_scatter_grads(P, Q, users, positives, hardest,
                                                 coef, exp_P, exp_Q)
    assert_allclose(got_P, exp_P, rtol=1e-10, atol=1e-12)
    assert_allclose(got_Q, exp_Q, rtol=1e-10, atol=1e-12)
    assert_array_equal(user_rows[:n_u], exp_users)
    assert_array_equal(item_rows[:n_i], exp_items)
    assert np.all(user_mark[exp_users] == 4) and np.all(item_mark[exp_items] == 4)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, k, r, offset", [(1, 1, 1, 1, 0), (10, 12, 3, 4, 5),
                                                (300, 500, 16, 200, 300)])
def test_add_rows_matches_reference(seed, n, m, k, r, offset):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(n, k))
    source = rng.normal(size=(m, k))
    rows = rng.choice(n, size=r, replace=False).astype(np.int64)
    got, expected = target.copy(), target.copy()
    kernels.add_rows(got, rows, source, offset)
    ref.add_rows(expected, rows, source, offset)
    assert_allclose(got, expected, rtol=1e-15, atol=0)


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


@pytest.mark.parametrize("max_norm", [0.0, 1.0])
def test_update_rows_serial_and_parallel_are_bit_identical(max_norm):
    rng = np.random.default_rng(5)
    n, k = 3000, 24
    params = rng.normal(scale=0.8, size=(n, k))
    grads = rng.normal(size=(n, k))
    grads[rng.random(n) < 0.2] = 0.0
    accum = np.where(rng.random((n, k)) < 0.5, 0.0, rng.random((n, k)))
    rows = rng.choice(n, size=2000, replace=False).astype(np.int64)
    for name, extra in (("adagrad_update_rows", (accum,)), ("sgd_update_rows", ())):
        kernel = getattr(kernels, name)
        serial = [params.copy(), grads.copy(), *[a.copy() for a in extra]]
        parallel = [params.copy(), grads.copy(), *[a.copy() for a in extra]]
        kernel.serial(*serial, rows, 0.3, max_norm)
        kernel.parallel(*parallel, rows, 0.3, max_norm)
        assert not np.array_equal(serial[0], params)  # the rows moved
        for a, b in zip(serial, parallel, strict=True):
            assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_users, n_items, k, n, n_sampled, per_user, batch_size", [
    (1, 2, 1, 1, 1, 1, 1), (5, 12, 3, 37, 4, 3, 8), (30, 200, 16, 700, 20, 10, 128),
    (4, 6, 2, 15, 8, 5, 4),  # most samples are the user's own items
])
@pytest.mark.parametrize("solver_name", ["adagrad", "sgd"])
@pytest.mark.parametrize("covariance_weight", [0.0, 1.5])
def test_run_epoch_matches_reference_steps(seed, n_users, n_items, k, n, n_sampled,
                                           per_user, batch_size, solver_name,
                                           covariance_weight):
    # The solver's epoch (hash sets, kernels, marks, BLAS covariance) against the
    # NumPy twin of its steps, fed the same order and negatives.
    from skmetric.recommend import _cml_solver as solver

    rng = np.random.default_rng(seed)
    P, V, users, positives, _, indptr, indices = _batch(
        seed, n_users, n_items, k, n, n_sampled, per_user)
    P /= np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1.0)
    V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1.0)
    acc_P = np.where(rng.random(P.shape) < 0.5, 0.0, rng.random(P.shape))
    acc_V = np.where(rng.random(V.shape) < 0.5, 0.0, rng.random(V.shape))
    weights = np.where(rng.random(n) < 0.1, 0.0, rng.random(n) + 0.5)
    inputs = [a.copy() for a in (users, positives, weights, indptr, indices)]
    state = solver.CMLState(P.copy(), V.copy())
    state.acc_P[:], state.acc_V[:] = acc_P, acc_V
    candidates = np.arange(n_items, dtype=np.int64)
    loss, active = solver.run_epoch(
        state, users, positives, weights, *kernels.owned_item_sets(indptr, indices),
        candidates, np.random.RandomState(seed), batch_size=batch_size,
        n_negatives=n_sampled, margin=0.5, covariance_weight=covariance_weight,
        solver=solver_name, learning_rate=0.2)
    draws = np.random.RandomState(seed)
    order = draws.permutation(n)
    negatives = candidates[draws.randint(0, n_items, size=(n, n_sampled))]
    expected = [P, V, acc_P, acc_V, np.zeros_like(P), np.zeros_like(V)]
    exp_loss, exp_active = ref.cml_epoch_steps(
        *expected, users[order], positives[order], weights[order], negatives,
        indptr, indices, 0.5, n_items, covariance_weight, 0.2,
        solver_name == "adagrad", 1.0, batch_size)
    assert_allclose(loss, exp_loss / n, rtol=1e-10, atol=1e-12)
    assert active == exp_active / n
    got = [state.P, state.V, state.acc_P, state.acc_V, state.grad_P, state.grad_Q]
    for g, e in zip(got, expected):
        assert_allclose(g, e, rtol=1e-9, atol=1e-12)
    assert not state.grad_P.any() and not state.grad_Q.any()
    assert np.all(np.linalg.norm(state.P, axis=1) <= 1.0 + 1e-12)
    for a, c in zip((users, positives, weights, indptr, indices), inputs):
        assert_array_equal(a, c)
