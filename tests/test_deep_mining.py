"""Each miner selects exactly the triplets of its definition; the distance-weighted
sampler draws with the frequencies of its formula."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import chi2, chisquare

from skmetric import _kernels as kernels
from skmetric.deep._triplet import (
    DISTANCE_WEIGHTED_MIN,
    MINERS,
    mined_triplet_loss_weights,
)

from . import _reference as ref

# Anchors 0 and 1 share class 0 and are 2.0 apart; rows 2..6 are singletons of other
# classes (negatives only). delta[a, n] is chosen against delta(a, p) = 2.0 and a
# margin of 0.5: values are dyadic, so the boundaries are hit exactly.
LABELS = np.array([0, 0, 1, 2, 3, 4, 5], dtype=np.int64)
MARGIN = 0.5
ROW_0 = [0.0, 2.0, 1.0, 2.0, 2.25, 2.5, 4.0]    # hard, hard (=), semi, semi (=), easy
ROW_1 = [2.0, 0.0, 3.0, 0.5, 2.75, 2.375, 2.0]  # easy, hard, easy, semi, hard (=)
EXPECTED = {
    "all": [(0, 1, n) for n in range(2, 7)] + [(1, 0, n) for n in range(2, 7)],
    "hard": [(0, 1, 2), (0, 1, 3), (1, 0, 3), (1, 0, 6)],
    "semihard": [(0, 1, 4), (0, 1, 5), (1, 0, 5)],
    "easy": [(0, 1, 6), (1, 0, 2), (1, 0, 4)],
    "batch_hard": [(0, 1, 2), (1, 0, 3)],
}


def _hand_built(squared):
    delta = np.ones((7, 7))
    np.fill_diagonal(delta, 0.0)
    delta[0], delta[:, 0] = ROW_0, ROW_0
    delta[1], delta[:, 1] = ROW_1, ROW_1
    # D2 is delta itself (squared distances) or its square (exact for these values).
    return np.ascontiguousarray(delta if squared else delta**2)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("miner", sorted(EXPECTED))
def test_deep_miner_selects_exactly_its_definition(miner, squared):
    D2 = _hand_built(squared)
    got = kernels.mine_triplets(D2, LABELS, MARGIN, squared, MINERS[miner])
    assert sorted(zip(*(g.tolist() for g in got))) == sorted(EXPECTED[miner])


def test_deep_miners_partition_all_valid_triplets():
    # easy, semihard and hard (with delta(a,n) = delta(a,p) counted hard) split
    # 'all' exactly when no negative sits strictly between equal distances.
    rng = np.random.default_rng(0)
    E = rng.normal(size=(30, 4))
    labels = rng.integers(0, 4, size=30).astype(np.int64)
    D2 = kernels.pairwise_sq_dists(E, E)
    sets = {
        name: set(zip(*(g.tolist() for g in kernels.mine_triplets(
            D2, labels, 0.3, False, MINERS[name]))))
        for name in ("all", "easy", "semihard", "hard")
    }
    assert sets["easy"] | sets["semihard"] | sets["hard"] == sets["all"]
    assert not (sets["easy"] & sets["semihard"] or sets["easy"] & sets["hard"]
                or sets["semihard"] & sets["hard"])


def test_deep_batch_hard_breaks_ties_by_first_index():
    D2 = np.array([[0.0, 1.0, 1.0, 2.0, 2.0],
                   [1.0, 0.0, 1.0, 2.0, 2.0],
                   [1.0, 1.0, 0.0, 2.0, 2.0],
                   [2.0, 2.0, 2.0, 0.0, 1.0],
                   [2.0, 2.0, 2.0, 1.0, 0.0]])
    labels = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    a, p, n = kernels.mine_triplets(D2, labels, 0.1, True, MINERS["batch_hard"])
    assert_array_equal(a, [0, 1, 2, 3, 4])
    assert_array_equal(p, [1, 0, 0, 4, 3])
    assert_array_equal(n, [3, 3, 3, 0, 0])


def _draw_counts(D2, labels, margin, squared, n_dims, n_draws, seed):
    rng = np.random.default_rng(seed)
    b = labels.shape[0]
    counts = np.zeros((b, b, b))
    for _ in range(n_draws):
        a, p, n = kernels.distance_weighted_triplets(
            D2, labels, margin, squared, n_dims, DISTANCE_WEIGHTED_MIN,
            rng.random((b, b)))
        counts[a, p, n] += 1
    return counts


def _sphere_batch(seed, b, n_dims, n_classes, spread=1.0):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(b, n_dims))
    E[:, 0] += 1.0 / spread  # a common direction: distances from ~0.2 to ~1.8
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    labels = (np.arange(b) % n_classes).astype(np.int64)
    return kernels.pairwise_sq_dists(E, E), labels


def _pooled_chisquare(observed, expected, min_expected=5.0):
    """Chi-square statistic and degrees of freedom, the cells expected fewer than
    ``min_expected`` times pooled into one."""
    small = expected < min_expected
    observed = np.append(observed[~small], observed[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    keep = expected > 0
    observed, expected = observed[keep], expected[keep]
    return float(((observed - expected) ** 2 / expected).sum()), expected.shape[0] - 1


# In n_dims = 3 the factor (1 - d^2/4)^((n_dims - 3)/2) of the weights is 1: only
# 8 and 64 dimensions test it (and the exponent n_dims - 2 at some size).
@pytest.mark.parametrize("n_dims", [3, 8, 64])
@pytest.mark.parametrize("squared, margin", [(False, 0.4), (True, 0.6), (False, 4.0)])
def test_deep_distance_weighted_frequencies_match_the_formula(squared, margin, n_dims):
    D2, labels = _sphere_batch(0, 10, n_dims, 2, spread=0.3)
    counts = _draw_counts(D2, labels, margin, squared, n_dims, 4000, seed=1)
    statistic, dof, n_tested = 0.0, 0, 0
    for a in range(10):
        for p in range(10):
            if a == p or labels[a] != labels[p]:
                continue
            probs = ref.distance_weighted_probabilities(
                D2, labels, a, p, margin, squared, n_dims, DISTANCE_WEIGHTED_MIN)
            observed = counts[a, p]
            if probs.sum() == 0:
                assert observed.sum() == 0
                continue
            assert_array_equal(observed[probs == 0], 0)
            support = probs > 0
            stat, df = _pooled_chisquare(observed[support],
                                         probs[support] * observed.sum())
            if df == 0:
                continue
            statistic, dof, n_tested = statistic + stat, dof + df, n_tested + 1
    assert n_tested >= 10
    # One test over all (a, p) pairs at once: the sum of independent chi-square
    # statistics is chi-square with the summed degrees of freedom.
    assert chi2.sf(statistic, dof) > 1e-3


@pytest.mark.parametrize("n_dims", [3, 8, 64])
def test_deep_distance_weighted_inversion_matches_the_formula(n_dims):
    # The draw is by inversion of the cumulative weights: with the uniform set to
    # each midpoint of a grid of G cells, the share of the grid that picks n is
    # its probability up to 1/G at each end of its interval.
    D2, labels = _sphere_batch(2, 10, n_dims, 2, spread=0.3)
    grid = 4000
    counts = np.zeros((10, 10, 10))
    for u in (np.arange(grid) + 0.5) / grid:
        a, p, n = kernels.distance_weighted_triplets(
            D2, labels, 4.0, False, n_dims, DISTANCE_WEIGHTED_MIN, np.full((10, 10), u))
        counts[a, p, n] += 1
    for a, p in zip(*np.nonzero(counts.sum(axis=2))):
        probs = ref.distance_weighted_probabilities(
            D2, labels, a, p, 4.0, False, n_dims, DISTANCE_WEIGHTED_MIN)
        assert_allclose(counts[a, p] / grid, probs, rtol=0, atol=2.0 / grid)


def test_deep_distance_weighted_frequencies_depend_on_the_dimension():
    # The same distances give other frequencies in 3 and in 64 dimensions: the
    # test above at 64 dimensions would catch a sampler that ignores n_dims.
    D2, labels = _sphere_batch(0, 10, 64, 2, spread=0.3)
    low = ref.distance_weighted_probabilities(D2, labels, 0, 2, 4.0, False, 3,
                                              DISTANCE_WEIGHTED_MIN)
    high = ref.distance_weighted_probabilities(D2, labels, 0, 2, 4.0, False, 64,
                                               DISTANCE_WEIGHTED_MIN)
    assert np.abs(low - high).max() > 0.1


def test_deep_distance_weighted_weights_cap_small_distances():
    # Below 0.5 every distance weighs as 0.5 (lambda = 1/q(0.5)), so two negatives
    # at 0.1 and 0.3 are drawn equally often.
    d = np.array([0.0, 1.0, 0.1, 0.3])
    D2 = np.zeros((4, 4))
    D2[0] = D2[:, 0] = d**2
    D2[1, 2:] = D2[2:, 1] = 1.0
    D2[2, 3] = D2[3, 2] = 0.04
    labels = np.array([0, 0, 1, 2], dtype=np.int64)
    probs = ref.distance_weighted_probabilities(D2, labels, 0, 1, 0.5, False, 16, 0.5)
    assert_allclose(probs, [0, 0, 0.5, 0.5])
    counts = _draw_counts(D2, labels, 0.5, False, 16, 2000, seed=3)
    assert chisquare(counts[0, 1, 2:], [1000, 1000]).pvalue > 1e-3


def test_deep_distance_weighted_does_not_underflow_in_high_dimension():
    # In 2048 dimensions the weight of a distance near 1 is ~e^-1200 times the cap;
    # the same-class entries (at the cap) are masked before the maximum is taken,
    # so the other-class weights do not all underflow to zero.
    rng = np.random.default_rng(0)
    b, n_dims = 8, 2048
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2], dtype=np.int64)
    D2 = np.full((b, b), 1.0) + rng.uniform(0.0, 0.4, size=(b, b))
    D2 = (D2 + D2.T) / 2
    same = labels[:, None] == labels[None, :]
    D2[same] = 0.01
    np.fill_diagonal(D2, 0.0)
    a, p, n = kernels.distance_weighted_triplets(
        D2, labels, 2.0, False, n_dims, DISTANCE_WEIGHTED_MIN, rng.random((b, b)))
    assert a.shape[0] == int(same.sum() - b)  # one negative for every (a, p)
    probs = ref.distance_weighted_probabilities(D2, labels, 0, 1, 2.0, False, n_dims,
                                                DISTANCE_WEIGHTED_MIN)
    assert np.isfinite(probs).all() and probs.sum() == pytest.approx(1.0)
    assert probs[np.argmin(np.where(labels != 0, D2[0], np.inf))] == probs.max()


@pytest.mark.parametrize("squared", [False, True])
def test_deep_all_miner_loss_equals_the_loss_of_its_non_easy_part(squared):
    # DeepTriplet(miner='all') mines only the non-easy triplets: easy ones have zero
    # loss, so the loss and W are those of every valid triplet.
    rng = np.random.default_rng(0)
    E = rng.normal(size=(40, 3))
    labels = rng.integers(0, 4, size=40).astype(np.int64)
    D2 = kernels.pairwise_sq_dists(E, E)
    every = kernels.mine_triplets(D2, labels, 0.3, squared, kernels.MINER_ALL)
    part = kernels.mine_triplets(D2, labels, 0.3, squared, kernels.MINER_NOT_EASY)
    assert 0 < part[0].shape[0] < every[0].shape[0]
    full = kernels.triplet_loss_weights(D2, *every, 0.3, squared)
    fast = kernels.triplet_loss_weights(D2, *part, 0.3, squared)
    assert full[1] == fast[1]
    assert_allclose(full[0], fast[0], rtol=1e-12)
    assert_allclose(full[2], fast[2], rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("miner", sorted(set(MINERS) - {"distance_weighted"}))
def test_deep_fused_miner_and_loss_match_reference(miner, squared, seed):
    # The fused kernel, run on ranges of anchors, equals mining then the loss, in
    # NumPy (the distance-weighted sampler draws its triplets and is not fused).
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(48, 5))
    E /= np.linalg.norm(E, axis=1)[:, None]
    labels = rng.integers(0, 6, size=48).astype(np.int64)
    D2 = kernels.pairwise_sq_dists(E, E)
    D2_copy = D2.copy()
    W = np.zeros((48, 48))
    losses = np.zeros(48)
    counts = np.zeros((48, 2), dtype=np.int64)
    for start, stop in ((0, 17), (17, 18), (18, 48)):
        kernels.triplet_rows_loss_weights(D2, labels, np.zeros((0, 0), np.uint8),
                                          0.3, squared, MINERS[miner], start, stop,
                                          W, losses, counts)
    ref_loss, ref_active, ref_selected, ref_W = ref.mined_triplet_loss_weights(
        D2, labels, 0.3, squared, MINERS[miner])
    n_active, n_selected = counts.sum(axis=0)
    assert (n_active, n_selected) == (ref_active, ref_selected)
    if miner != "easy":
        assert n_active > 0
        assert_allclose(losses.sum() / n_active, ref_loss, rtol=1e-12)
        assert_allclose(W / n_active, ref_W, rtol=1e-12, atol=1e-15)
    else:
        assert not W.any() and not losses.any()
    assert_array_equal(D2, D2_copy)
    # The estimator's wrapper gives W bit for bit as skmetric's two-kernel path.
    loss, active, selected, W = mined_triplet_loss_weights(
        D2, labels, 0.3, squared, MINERS[miner], 3)
    a, p, n = kernels.mine_triplets(D2, labels, 0.3, squared, MINERS[miner])
    two_kernels = kernels.triplet_loss_weights(D2, a, p, n, 0.3, squared)
    assert (active, selected) == (two_kernels[1], a.shape[0])
    assert_array_equal(W, two_kernels[2])
    assert_allclose(loss, two_kernels[0], rtol=1e-12)


@pytest.mark.parametrize("miner", ["semihard", "all", "batch_hard"])
def test_deep_fused_miner_does_not_depend_on_the_thread_count(miner):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(200, 8))
    labels = rng.integers(0, 20, size=200).astype(np.int64)
    D2 = kernels.pairwise_sq_dists(E, E)
    results = [mined_triplet_loss_weights(D2, labels, 0.2, False, MINERS[miner],
                                          n_threads) for n_threads in (1, 2, 3, 7)]
    for other in results[1:]:
        assert other[:3] == results[0][:3]
        assert_array_equal(other[3], results[0][3])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, n_labels", [(1, 1), (2, 1), (7, 3), (48, 6), (60, 30)])
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("kind", ["normal", "zeros"])
def test_contrastive_rows_kernel_matches_reference(seed, b, n_labels, hard, kind):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(b, 4)) if kind == "normal" else np.zeros((b, 4))
    labels = rng.integers(0, n_labels, size=b).astype(np.int64)
    D2 = kernels.pairwise_sq_dists(E, E)
    scores = D2 if hard else rng.random((b, b))
    D2_copy, scores_copy = D2.copy(), scores.copy()
    W = np.zeros((b, b))
    losses = np.zeros((b, 2))
    counts = np.zeros((b, 3), dtype=np.int64)
    for start, stop in ((0, b // 3), (b // 3, b // 3 + 1), (b // 3 + 1, b)):
        kernels.contrastive_rows_loss_weights(D2, labels, scores, 1.2,
                                              min(start, b), min(stop, b), W,
                                              losses, counts)
    ref_W, ref_losses, ref_counts = ref.contrastive_rows_loss_weights(
        D2, labels, scores, 1.2)
    assert_array_equal(counts, ref_counts)
    assert_allclose(losses, ref_losses, rtol=1e-12, atol=1e-15)
    assert_allclose(W, ref_W, rtol=1e-12, atol=1e-15)
    assert_array_equal(D2, D2_copy)
    assert_array_equal(scores, scores_copy)


@pytest.mark.parametrize("hard", [False, True])
def test_siamese_pair_loss_matches_the_two_kernel_path_for_any_thread_count(hard):
    # DeepSiamese's loss (pairs chosen and weighted anchor by anchor on
    # threads) gives W bit for bit as contrastive_pairs then
    # contrastive_loss_weights, whatever the number of threads.
    from skmetric.deep._siamese import mined_pair_loss_weights

    rng = np.random.default_rng(0)
    E = rng.normal(size=(200, 6)) * 0.3
    labels = rng.integers(0, 20, size=200).astype(np.int64)
    D2 = kernels.pairwise_sq_dists(E, E)
    scores = D2 if hard else rng.random((200, 200))
    left, right, similar = kernels.contrastive_pairs(labels, scores)
    loss2, active2, W2 = kernels.contrastive_loss_weights(D2, left, right, similar,
                                                          1.0)
    assert active2 > (similar == 1).sum()  # some negatives are active
    for n_threads in (1, 2, 3, 7):
        loss, active, n_pairs, W = mined_pair_loss_weights(D2, labels, scores,
                                                           1.0, n_threads)
        assert (active, n_pairs) == (active2, left.shape[0])
        assert_array_equal(W, W2)
        assert_allclose(loss, loss2, rtol=1e-12)
