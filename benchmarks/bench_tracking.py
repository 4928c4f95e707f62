"""Tracking: an appearance metric learned from tracklets alone, on real pedestrians.

Data: ``tracking/pedestrians.npz`` (1850 colour crops, 32 x 16 x 3, of 106
tracklets from a street video; see the data README) and, for the whole-frame
table, ``tracking/video_frames.npz`` (four short videos, 64 x 48 grey frames).

Association protocol (pedestrians):

- train on the tracklets that start in the first half of the video (frame <
  397.5: 51 tracklets, 771 crops), test on the others (55 tracklets, 1079
  crops). The same people walk through both halves, as for a tracker running
  on one scene: the test measures a metric learned earlier on the same scene,
  not on unseen people;
- supervision: tracklet ids and frames only (same tracklet = same person; seen
  in the same frame = different people). No identity labels;
- every test crop queries a gallery made of the crops of its own tracklet at
  least ``MIN_GAP`` = 10 frames away (the positives) and every crop of the test
  tracklets seen in the same frame as its tracklet at least once (certain
  negatives); queries with no positive or no negative are skipped;
- scores: MAP@R (R = number of positives of the query) and P@1, averaged over
  queries; fit seconds (one thread each: BLAS, numba and torch).

Methods: raw pixels (standardised), PCA(32) of them, a colour-histogram
descriptor (per-channel 16-bin histograms of the upper and lower halves of the
crop, Hellinger-mapped), LMNN with tracklet ids as classes (noisy labels: one
person owns several tracklets, and LMNN's impostors include tracklets of the same
person), MahalanobisXingPairs from ``pairs_from_tracklets``, DeepTripletTriplets
from ``triplets_from_tracklets``, DeepTripletTracklets (mining among
co-occurring tracklets), and pytorch-metric-learning (in its own env) with the
same network, loss, miner, batches and epochs as DeepTripletTracklets.

Whole-frame table (video_frames): leave one video out; a method is fitted on
the temporal triplets of the other three videos (``triplets_from_sequence``,
positive_window=1, negative_window=2) and scored on the held-out video by the
fraction of frames t for which frame t+1 is nearer than t+2, and t+10 nearer
than t+20.

    python -m benchmarks.bench_tracking [--quick] [--no-peers] [--no-frames]
        [--repeats 3] [--timeout 600] [--save PATH]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks._data import data_dir
from skmetric import LMNN, MahalanobisXingPairs
from skmetric.constraints import (
    pairs_from_tracklets,
    triplets_from_sequence,
    triplets_from_tracklets,
)
from skmetric.deep import DeepTripletTracklets, DeepTripletTriplets

MIN_GAP = 10  # frames between a query and its positives
SPLIT_FRAME = 397.5  # tracklets starting before it train, the others test
N_PCA = 32
N_BINS = 16
N_TRIPLETS = 20000
N_PAIRS = 20000


def load_pedestrians():
    data = np.load(data_dir() / "tracking" / "pedestrians.npz")
    return (data["X"], data["tracklet"].astype(np.int64),
            data["frame"].astype(np.int64), (int(data["height"]),
                                             int(data["width"])))


def split_by_start(tracklets, frames, split_frame=SPLIT_FRAME):
    """Boolean mask of training rows: tracklets that start before the split."""
    start = np.full(tracklets.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(start, tracklets, frames)
    return start[tracklets] < split_frame


def association_queries(tracklets, frames, min_gap=MIN_GAP):
    """For every row: its gallery (positives, negatives) of the protocol."""
    ids = np.unique(tracklets)
    alive = {t: set(frames[tracklets == t].tolist()) for t in ids}
    together = {t: [u for u in ids if u != t and alive[t] & alive[u]] for t in ids}
    queries = []
    for q in range(tracklets.shape[0]):
        t = tracklets[q]
        positives = np.flatnonzero((tracklets == t)
                                   & (np.abs(frames - frames[q]) >= min_gap))
        negatives = np.flatnonzero(np.isin(tracklets, together[t]))
        if positives.size and negatives.size:
            queries.append((q, positives, negatives))
    return queries


def association_scores(Z, queries):
    """Mean MAP@R and P@1 of the queries in the embedding Z."""
    ap, p1 = [], []
    for q, positives, negatives in queries:
        gallery = np.concatenate((positives, negatives))
        relevant = np.concatenate((np.ones(positives.size, bool),
                                   np.zeros(negatives.size, bool)))
        d = ((Z[gallery] - Z[q]) ** 2).sum(axis=1)
        ranked = relevant[np.argsort(d, kind="stable")]
        r = positives.size
        hits = ranked[:r]
        precision = np.cumsum(hits) / np.arange(1, r + 1)
        ap.append(float(np.sum(precision * hits) / r))
        p1.append(float(ranked[0]))
    return float(np.mean(ap)), float(np.mean(p1))


def colour_histograms(X, shape, n_bins=N_BINS):
    """Per-channel histograms of the upper and lower halves, Hellinger-mapped."""
    height, width = shape
    crops = X.reshape(-1, height, width, 3)
    features = []
    for part in (crops[:, : height // 2], crops[:, height // 2:]):
        flat = part.reshape(part.shape[0], -1, 3)
        for c in range(3):
            bins = np.minimum(flat[:, :, c].astype(np.int64) * n_bins // 256,
                              n_bins - 1)
            counts = np.zeros((X.shape[0], n_bins))
            np.add.at(counts, (np.repeat(np.arange(X.shape[0]), bins.shape[1]),
                               bins.ravel()), 1.0)
            features.append(np.sqrt(counts / bins.shape[1]))
    return np.hstack(features)
