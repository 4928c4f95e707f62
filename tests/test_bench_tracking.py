"""The tracking benchmark: its association protocol, scores and descriptors, and
a quick run of the main job's tracking task."""

import numpy as np
import pytest

from benchmarks import _tasks
from benchmarks.bench_tracking import (
    HISTOGRAM_TRACKLETS,
    association_queries,
    association_scores,
    colour_histograms,
    cooccurring_tracklets,
    frame_order_scores,
    load_pedestrians,
    main_job_records,
    split_by_start,
    tracking_table,
)


def test_association_queries_follow_the_protocol():
    tracklet = np.array([0] * 15 + [1] * 15 + [2] * 15)
    frames = np.concatenate((np.arange(15), np.arange(5, 20), np.arange(40, 55)))
    queries = association_queries(tracklet, frames)
    for q, positives, negatives in queries:
        assert np.all(tracklet[positives] == tracklet[q])
        assert np.all(np.abs(frames[positives] - frames[q]) >= 10)
        assert np.all(tracklet[negatives] != tracklet[q])
        assert set(tracklet[negatives]) == {1 - tracklet[q]}  # 2 meets nobody
    # Rows of tracklet 2 have no co-occurring tracklet: no query.
    assert {tracklet[q] for q, _, _ in queries} == {0, 1}
    assert len(queries) == 10 + 10  # rows with a partner 10 frames away


def test_association_scores_by_hand():
    Z = np.array([[0.0], [1.0], [3.0], [2.0], [10.0]])
    # Query 0: positives 1 and 2, negatives 3 and 4: ranking 1+, 3-, 2+, 4-.
    queries = [(0, np.array([1, 2]), np.array([3, 4]))]
    map_r, p1 = association_scores(Z, queries)
    assert map_r == pytest.approx(0.5)  # R = 2: (1/1 * 1 + 0) / 2
    assert p1 == 1.0
    queries = [(0, np.array([2]), np.array([1]))]
    assert association_scores(Z, queries) == (0.0, 0.0)


def test_cooccurrence_and_split_on_the_data():
    X, tracklet, frames, shape = load_pedestrians()
    train = split_by_start(tracklet, frames)
    assert len(np.unique(tracklet[train])) == 51 and train.sum() == 771
    together = cooccurring_tracklets(tracklet, frames, tracklet.max() + 1)
    assert together.sum() == 2 * 220  # the data README's 220 pairs
    assert together.any(axis=1).all()
    H = colour_histograms(X[:5], shape)
    assert H.shape == (5, 96)
    assert np.allclose((H**2).sum(axis=1), 6.0)  # 6 histograms summing to 1


def test_frame_order_scores_by_hand():
    Z = np.arange(30, dtype=float)[:, None] ** 2  # farther in time, farther
    assert frame_order_scores(Z, np.arange(30)) == [1.0, 1.0]
    # A constant embedding orders nothing: ties count as wrong.
    assert frame_order_scores(np.ones((30, 1)), np.arange(30)) == [0.0, 0.0]


def test_main_job_tracking_task_quick():
    assert "tracking" in _tasks.TASKS
    records = main_job_records(quick=True, peers=False)
    methods = {r["method"] for r in records}
    assert {"raw pixels (standardised)", "DeepTripletTracklets",
            HISTOGRAM_TRACKLETS} <= methods
    assert all(r["status"] == "ok" and 0.0 <= r["map_at_r"] <= 1.0
               for r in records)
    table = tracking_table(records)
    assert "DeepTripletTracklets" in table and "MAP@R" in table


@pytest.mark.parametrize("case", ["crops_pairs", "frames_triplets"])
def test_bench_wide_times_a_case(case):
    from benchmarks.bench_wide import time_case

    median, seconds, n_warned = time_case(case, epochs=1, repeats=1,
                                          n_constraints=300)
    assert len(seconds) == 1 and median == seconds[0] > 0.0
    assert n_warned in (0, 1)
