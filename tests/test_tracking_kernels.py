"""The tracking kernels against their NumPy twins: losses of explicit
constraints (with their gradients) and mining among allowed negatives."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmetric import _kernels as kernels

from . import _reference as ref

SHAPES = [(2, 1, 1), (7, 3, 5), (40, 8, 200)]


def _triplets(rng, b, m):
    anchors = rng.integers(0, b, m)
    positives = (anchors + rng.integers(1, b, m)) % b if b > 1 else anchors
    negatives = rng.integers(0, b, m)
    return anchors, positives, negatives


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("b, k, m", SHAPES)
@pytest.mark.parametrize("squared", [False, True])
def test_triplet_constraint_loss_grad_matches_reference(seed, b, k, m, squared):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(b, k))
    E[0] = E[-1]  # a duplicate row: a zero distance
    anchors, positives, negatives = _triplets(rng, b, m)
    E_copy = E.copy()
    loss, n_active, grad = kernels.triplet_constraint_loss_grad(
        E, anchors, positives, negatives, 0.5, squared)
    loss_ref, n_ref, grad_ref = ref.triplet_constraint_loss_grad(
        E, anchors, positives, negatives, 0.5, squared)
    assert n_active == n_ref
    assert_allclose(loss, loss_ref, rtol=1e-10, atol=1e-12)
    assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-10)
    assert_array_equal(E, E_copy)


def test_triplet_constraint_loss_grad_no_active_triplet():
    E = np.array([[0.0], [0.1], [5.0]])
    loss, n_active, grad = kernels.triplet_constraint_loss_grad(
        E, np.array([0]), np.array([1]), np.array([2]), 0.2, False)
    assert (loss, n_active) == (0.0, 0)
    assert_array_equal(grad, np.zeros_like(E))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("b, k, m", SHAPES)
def test_contrastive_constraint_loss_grad_matches_reference(seed, b, k, m):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(b, k)) * 0.5
    E[0] = E[-1]
    left, right, _ = _triplets(rng, b, m)
    similar = rng.integers(0, 2, m)
    loss, n_active, grad = kernels.contrastive_constraint_loss_grad(
        E, left, right, similar, 1.0)
    loss_ref, n_ref, grad_ref = ref.contrastive_constraint_loss_grad(
        E, left, right, similar, 1.0)
    assert n_active == n_ref
    assert_allclose(loss, loss_ref, rtol=1e-10, atol=1e-12)
    assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-10)


def _batch(rng, b, n_labels):
    labels = rng.integers(0, n_labels, b)
    E = rng.normal(size=(b, 3))
    D2 = np.ascontiguousarray(((E[:, None] - E[None]) ** 2).sum(axis=2))
    cooccur = rng.random((n_labels, n_labels)) < 0.4
    cooccur = cooccur | cooccur.T
    allowed = np.ascontiguousarray(cooccur[labels][:, labels].astype(np.uint8))
    return D2, labels.astype(np.int64), allowed


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("b, n_labels", [(1, 1), (6, 3), (30, 6)])
@pytest.mark.parametrize("miner", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("squared", [False, True])
def test_mine_allowed_triplets_matches_reference(seed, b, n_labels, miner, squared):
    rng = np.random.default_rng(seed)
    D2, labels, allowed = _batch(rng, b, n_labels)
    got = kernels.mine_allowed_triplets(D2, labels, allowed, 0.3, squared, miner)
    expected = ref.mine_allowed_triplets(D2, labels, allowed, 0.3, squared, miner)
    for g, e in zip(got, expected):
        assert_array_equal(g, e)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("miner", [0, 2, 3, 4, 5])
def test_mine_allowed_triplets_never_picks_a_disallowed_negative(seed, miner):
    rng = np.random.default_rng(seed)
    D2, labels, allowed = _batch(rng, 40, 8)
    anchors, positives, negatives = kernels.mine_allowed_triplets(
        D2, labels, allowed, 10.0, False, miner)
    assert anchors.size  # the mask leaves candidates: something is mined
    assert np.all(allowed[anchors, negatives] == 1)
    assert np.all(labels[anchors] == labels[positives])
    assert np.all(anchors != positives)
    # With every negative allowed, the same batch mines strictly more.
    full = np.ones_like(allowed)
    full_anchors = kernels.mine_allowed_triplets(D2, labels, full, 10.0, False,
                                                 miner)[0]
    if miner != 4:
        assert full_anchors.size > anchors.size


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, n_labels", [(1, 1), (6, 3), (30, 6)])
@pytest.mark.parametrize("miner", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("squared", [False, True])
def test_fused_allowed_miner_and_loss_match_reference(seed, b, n_labels, miner,
                                                      squared):
    # The fused kernel with a mask, run on ranges of anchors, equals mining
    # among allowed negatives then the loss, in NumPy.
    rng = np.random.default_rng(seed)
    D2, labels, allowed = _batch(rng, b, n_labels)
    D2_copy, allowed_copy = D2.copy(), allowed.copy()
    W = np.zeros((b, b))
    losses = np.zeros(b)
    counts = np.zeros((b, 2), dtype=np.int64)
    for start, stop in ((0, b // 3), (b // 3, b // 3 + 1), (b // 3 + 1, b)):
        kernels.triplet_rows_loss_weights(D2, labels, allowed, 0.3, squared, miner,
                                          max(start, 0), min(stop, b), W, losses,
                                          counts)
    ref_loss, ref_active, ref_selected, ref_W = ref.mined_triplet_loss_weights(
        D2, labels, 0.3, squared, miner, allowed)
    n_active, n_selected = counts.sum(axis=0)
    assert (n_active, n_selected) == (ref_active, ref_selected)
    if n_active:
        assert_allclose(losses.sum() / n_active, ref_loss, rtol=1e-12)
        assert_allclose(W / n_active, ref_W, rtol=1e-12, atol=1e-15)
    else:
        assert not W.any() and not losses.any()
    assert_array_equal(D2, D2_copy)
    assert_array_equal(allowed, allowed_copy)


@pytest.mark.parametrize("miner", [0, 2, 3, 4, 5])
def test_tracklet_loss_matches_the_two_kernel_path_for_any_thread_count(miner):
    # DeepTripletTracklets' loss (fused, anchors on threads) gives W bit for bit
    # as mine_allowed_triplets then triplet_loss_weights, for any thread count,
    # and no weight on a pair that is neither a positive nor an allowed negative.
    from skmetric.deep._triplet import mined_triplet_loss_weights

    rng = np.random.default_rng(1)
    D2, labels, allowed = _batch(rng, 150, 12)
    a, p, n = kernels.mine_allowed_triplets(D2, labels, allowed, 0.3, False, miner)
    two_kernels = kernels.triplet_loss_weights(D2, a, p, n, 0.3, False)
    forbidden = (labels[:, None] != labels[None, :]) & (allowed == 0)
    for n_threads in (1, 2, 3, 7):
        loss, active, selected, W = mined_triplet_loss_weights(
            D2, labels, 0.3, False, miner, n_threads, allowed)
        assert (active, selected) == (two_kernels[1], a.shape[0])
        assert active > 0
        assert_array_equal(W, two_kernels[2])
        assert_allclose(loss, two_kernels[0], rtol=1e-12)
        assert not W[forbidden].any()
