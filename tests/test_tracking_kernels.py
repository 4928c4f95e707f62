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
