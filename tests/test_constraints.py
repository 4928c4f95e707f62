"""The constraint builders never pair rows across their stated boundaries, give
the documented sizes, are seeded, sample uniformly, and reject hostile input."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.stats import chisquare

from skmetric.constraints import (
    pairs_from_labels,
    pairs_from_sequence,
    pairs_from_tracklets,
    triplets_from_labels,
    triplets_from_sequence,
    triplets_from_tracklets,
)


def _random_tracklets(seed, n_tracklets=12, n_frames=60):
    """Tracklets with random spans and lengths, rows shuffled (unsorted)."""
    rng = np.random.default_rng(seed)
    tracklets, frames = [], []
    for t in range(n_tracklets):
        start = rng.integers(0, n_frames)
        length = rng.integers(1, 12)
        f = np.arange(start, start + length)
        keep = rng.random(length) < 0.8  # gaps: missed detections
        keep[0] = True
        tracklets.extend([t] * int(keep.sum()))
        frames.extend(f[keep].tolist())
    order = rng.permutation(len(frames))
    return np.array(tracklets)[order] * 7 + 3, np.array(frames)[order]


def _cooccurring(tracklets, frames):
    return {(u, v) for u, fu in zip(tracklets, frames)
            for v, fv in zip(tracklets, frames) if fu == fv and u != v}


@pytest.mark.parametrize("seed", range(6))
def test_triplets_from_tracklets_respect_the_boundaries(seed):
    tracklets, frames = _random_tracklets(seed)
    triplets = triplets_from_tracklets(tracklets, frames, 300, random_state=seed)
    together = _cooccurring(tracklets, frames)
    a, p, n = triplets.T
    assert np.all(tracklets[a] == tracklets[p]) and np.all(a != p)
    assert all((tracklets[i], tracklets[j]) in together for i, j in zip(a, n))
    assert len({tuple(t) for t in triplets}) == triplets.shape[0]


@pytest.mark.parametrize("seed", range(6))
def test_pairs_from_tracklets_respect_the_boundaries(seed):
    tracklets, frames = _random_tracklets(seed)
    pairs, y = pairs_from_tracklets(tracklets, frames, 200, random_state=seed)
    together = _cooccurring(tracklets, frames)
    same = tracklets[pairs[:, 0]] == tracklets[pairs[:, 1]]
    assert_array_equal(same, y == 1)
    assert all((tracklets[i], tracklets[j]) in together
               for i, j in pairs[y == -1])
    assert np.all(pairs[:, 0] < pairs[:, 1])
    assert len({tuple(q) for q in pairs}) == pairs.shape[0]


def test_triplets_from_tracklets_enumerate_all_when_few():
    # Tracklet 0 (3 rows) overlaps tracklet 1 (2 rows) at frame 1 and 2;
    # tracklet 2 meets nobody, tracklet 3 has one row seen with tracklet 0.
    tracklets = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    frames = np.array([0, 1, 2, 1, 2, 8, 9, 0])
    triplets = triplets_from_tracklets(tracklets, frames, 1000, random_state=0)
    expected = set()
    for a in range(8):
        for p in range(8):
            if p == a or tracklets[p] != tracklets[a]:
                continue
            for n in range(8):
                pair = {tracklets[a], tracklets[n]}
                if pair in ({0, 1}, {0, 3}):
                    expected.add((a, p, n))
    assert {tuple(t) for t in triplets.tolist()} == expected
    assert not np.isin(triplets, [5, 6]).any()  # tracklet 2 meets nobody


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("positive_window, negative_window", [(1, 2), (2, 5)])
def test_sequence_builders_respect_the_windows(seed, positive_window,
                                               negative_window):
    rng = np.random.default_rng(seed)
    sequences = rng.integers(0, 3, 90)
    frames = rng.permutation(200)[:90]  # gaps, unsorted
    triplets = triplets_from_sequence(
        frames, 400, sequences=sequences, positive_window=positive_window,
        negative_window=negative_window, random_state=seed)
    a, p, n = triplets.T
    assert np.all(sequences[a] == sequences[p])
    assert np.all(np.abs(frames[a] - frames[p]) <= positive_window)
    assert np.all(a != p)
    far = np.abs(frames[a] - frames[n]) >= negative_window
    assert np.all(far | (sequences[a] != sequences[n]))
    pairs, y = pairs_from_sequence(frames, 300, sequences=sequences,
                                   positive_window=positive_window,
                                   negative_window=negative_window,
                                   random_state=seed)
    i, j = pairs.T
    gap = np.abs(frames[i] - frames[j])
    same = sequences[i] == sequences[j]
    assert np.all(same[y == 1] & (gap[y == 1] <= positive_window))
    assert np.all(~same[y == -1] | (gap[y == -1] >= negative_window))


@pytest.mark.parametrize("seed", range(4))
def test_label_builders_respect_the_classes(seed):
    rng = np.random.default_rng(seed)
    y = rng.choice(["a", "b", "c", "d"], 80)
    triplets = triplets_from_labels(y, 500, random_state=seed)
    a, p, n = triplets.T
    assert np.all(y[a] == y[p]) and np.all(a != p) and np.all(y[a] != y[n])
    pairs, y_pairs = pairs_from_labels(y, 301, random_state=seed)
    assert_array_equal(y[pairs[:, 0]] == y[pairs[:, 1]], y_pairs == 1)
    assert (y_pairs == 1).sum() == 151 and (y_pairs == -1).sum() == 150


def test_builders_sizes_and_seeds():
    y = np.repeat(np.arange(4), 10)
    first = triplets_from_labels(y, 123, random_state=7)
    assert first.shape == (123, 3) and first.dtype == np.int64
    assert_array_equal(first, triplets_from_labels(y, 123, random_state=7))
    assert not np.array_equal(first, triplets_from_labels(y, 123, random_state=8))
    # Fewer distinct triplets than asked: all of them, once each.
    small = triplets_from_labels([0, 0, 1], 50, random_state=0)
    assert sorted(map(tuple, small.tolist())) == [(0, 1, 2), (1, 0, 2)]
    pairs, y_pairs = pairs_from_labels([0, 0, 1], 10, random_state=0)
    assert (y_pairs == 1).sum() == 1 and (y_pairs == -1).sum() == 2


def test_triplets_from_labels_are_uniform():
    # Class 0 has 3 rows, class 1 has 2: anchors of class 0 have 2 * 2 triplets,
    # of class 1 1 * 3; the sampler must pick each of the 18 triplets equally.
    y = np.array([0, 0, 0, 1, 1])
    counts = {}
    for seed in range(400):
        for t in triplets_from_labels(y, 4, random_state=seed).tolist():
            counts[tuple(t)] = counts.get(tuple(t), 0) + 1
    assert len(counts) == 18
    assert chisquare(list(counts.values())).pvalue > 1e-3
    # Large sets go through rejection sampling: uniform over anchors' classes.
    y = np.repeat([0, 1], [30, 10])
    triplets = triplets_from_labels(y, 2000, random_state=0)
    share = np.mean(y[triplets[:, 0]] == 0)
    expected = 30 * 29 * 10 / (30 * 29 * 10 + 10 * 9 * 30)
    assert abs(share - expected) < 0.04


def test_builders_reject_hostile_input():
    with pytest.raises(ValueError, match="frames must be non-negative; got -1"):
        triplets_from_sequence([3, -1, 4])
    with pytest.raises(ValueError, match=re.escape(
            "frame 2 appears twice in one sequence")):
        triplets_from_sequence([1, 2, 2, 3])
    with pytest.raises(ValueError, match="must exceed positive_window"):
        triplets_from_sequence(np.arange(5), positive_window=2, negative_window=2)
    with pytest.raises(ValueError, match="frames must hold integers"):
        pairs_from_sequence([0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="is seen twice in frame 1"):
        triplets_from_tracklets([0, 0, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="no two tracklets are seen in the same"):
        triplets_from_tracklets([0, 0, 1, 1], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="no two tracklets are seen in the same"):
        pairs_from_tracklets([0, 0, 1, 1], [0, 1, 2, 3])
    # Overlapping tracklets of one row each: negatives but no positive.
    with pytest.raises(ValueError, match="no tracklet of at least 2 rows"):
        triplets_from_tracklets([0, 1], [5, 5])
    with pytest.raises(ValueError, match="tracklets has 2 entries; expected 3"):
        triplets_from_tracklets([0, 1], [5, 5, 6])
    with pytest.raises(ValueError, match="n_triplets must be at least 1"):
        triplets_from_labels([0, 0, 1], 0)
    with pytest.raises(TypeError, match="n_pairs must be an int"):
        pairs_from_labels([0, 0, 1], 2.5)
    with pytest.raises(ValueError, match="y needs a class of at least 2 rows"):
        triplets_from_labels([0, 1, 2])
    with pytest.raises(ValueError, match="the labels give no dissimilar pair"):
        pairs_from_labels([0, 0, 0])


def test_single_row_tracklet_is_a_negative_only():
    tracklets = np.array([0, 0, 0, 1])
    frames = np.array([4, 5, 6, 5])
    triplets = triplets_from_tracklets(tracklets, frames, 100, random_state=0)
    assert not np.any(triplets[:, :2] == 3)  # never an anchor nor a positive
    assert np.all(triplets[:, 2] == 3)
    assert triplets.shape[0] == 6


def test_builders_leave_input_unchanged():
    frames = np.array([5, 3, 4, 1, 2, 0])
    copy = frames.copy()
    triplets_from_sequence(frames, 10, random_state=0)
    assert_array_equal(frames, copy)
