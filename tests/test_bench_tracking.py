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
    seed_table,
    skmetric_methods,
    split_by_start,
    tracking_table,
    _Split,
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


def test_seed_table_means_and_spreads_by_hand():
    ours, peer = HISTOGRAM_TRACKLETS, "peer"
    records = [
        {"method": ours, "seed": 0, "status": "ok", "map_at_r": 0.90,
         "p_at_1": 0.96, "fit_time": 2.0},
        {"method": peer, "seed": 0, "status": "ok", "map_at_r": 0.80,
         "p_at_1": 0.90, "fit_time": 20.0},
        {"method": ours, "seed": 1, "status": "ok", "map_at_r": 0.94,
         "p_at_1": 0.98, "fit_time": 4.0},
        {"method": peer, "seed": 1, "status": "timeout", "map_at_r": None,
         "p_at_1": None, "fit_time": None},
    ]
    lines = seed_table(records).splitlines()
    assert lines[2] == "| 0 | 0.900 / 0.960 / 2.0 | 0.800 / 0.900 / 20.0 |"
    assert lines[3] == "| 1 | 0.940 / 0.980 / 4.0 | timeout |"
    # Mean over the seeds that ran; sample standard deviation; median time.
    assert lines[4] == ("| mean | 0.920 (sd 0.028) / 0.970 (sd 0.014) / median 3.0"
                        " | 0.800 (sd 0.000) / 0.900 (sd 0.000) / median 20.0 |")


def test_the_seed_reaches_the_learners_from_tracklets():
    split = _Split()
    Z = [skmetric_methods(split, True, 0, 0, random_state=seed)[
        HISTOGRAM_TRACKLETS]()(split.raw_test[:50]) for seed in (0, 0, 1)]
    np.testing.assert_array_equal(Z[0], Z[1])
    assert not np.allclose(Z[0], Z[2])


@pytest.mark.parametrize("case", ["crops_pairs", "frames_triplets"])
def test_bench_wide_times_a_case(case):
    from benchmarks.bench_wide import time_case

    median, seconds, n_warned = time_case(case, epochs=1, repeats=1,
                                          n_constraints=300)
    assert len(seconds) == 1 and median == seconds[0] > 0.0
    assert n_warned in (0, 1)
