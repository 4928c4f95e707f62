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

Methods (budgets in brackets): raw pixels (standardised), PCA(32) of them, a
colour-histogram
descriptor (per-channel 16-bin histograms of the upper and lower halves of the
crop, Hellinger-mapped), LMNN with tracklet ids as classes (noisy labels: one
person owns several tracklets, and LMNN's impostors include tracklets of the same
person) [max_iter=LMNN_ITERATIONS], MahalanobisXingPairs (diagonal) from 20000
``pairs_from_tracklets``, DeepTripletTriplets from 20000
``triplets_from_tracklets`` [TRIPLET_EPOCHS epochs], DeepTripletTracklets
(mining among co-occurring tracklets) [defaults: up to 100 epochs], the
Pipeline ColorHistogram((32, 16, 3), n_bins=8, n_stripes=3, value_range=(0,
256)) + DeepTripletTracklets() (the same learner on colour histograms of 3
stripes, chosen on a validation split of the training tracklets, see
PIPELINE_STRIPES; from the raw crops; defaults: up to 100 epochs; those
histograms alone are a row too), and pytorch-metric-learning (in its own
env) with the same network, loss, miner, batches and as many epochs as each
learner from tracklets ran, on the same input (standardised pixels, or the
histograms). Every method is fitted
on one thread after an untimed warm-up fit on six training tracklets.

Whole-frame table (video_frames): leave one video out; a method is fitted on
the temporal triplets of the other three videos (``triplets_from_sequence``,
positive_window=1, negative_window=2) and scored on the held-out video by the
fraction of frames t for which frame t+1 is nearer than t+2, and t+10 nearer
than t+20 (DeepTripletTriplets on 2000 triplets, TRIPLET_EPOCHS epochs).

    python -m benchmarks.bench_tracking [--quick] [--no-peers] [--no-frames]
        [--repeats 3] [--timeout 600] [--save PATH] [--methods A,B]
        [--seeds 0,1,2,3,4]

``--seeds`` replaces the tables by a seed study of the pipeline and the peer on
its histograms (one fit each per seed, the same seed for both; mean and
standard deviation over seeds), to tell a lead from seed-to-seed noise.
"""

import argparse
import contextlib
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks._data import data_dir
from benchmarks._harness import library_versions
from benchmarks._peers import embed_peer
from skmetric import LMNN, MahalanobisXingPairs
from skmetric.constraints import (
    pairs_from_tracklets,
    triplets_from_sequence,
    triplets_from_tracklets,
)
from skmetric.deep import DeepTripletTracklets, DeepTripletTriplets
from skmetric.preprocessing import ColorHistogram

MIN_GAP = 10  # frames between a query and its positives
SPLIT_FRAME = 397.5  # tracklets starting before it train, the others test
N_PCA = 32
N_BINS = 16
N_TRIPLETS = 20000
N_PAIRS = 20000
# Epoch budgets of the slow learners in the full table (the 2-core machine is
# shared): DeepTripletTriplets passes over 20000 triplets (60000 rows) an epoch.
TRIPLET_EPOCHS = 20
LMNN_ITERATIONS = 100
PEER = "torch_pml.tracklet_triplet"
# skmetric's learner from tracklets on the colour histograms (a Pipeline of
# ColorHistogram and DeepTripletTracklets, both at their defaults but for the
# crops' layout); the peer is run on the same histograms.
HISTOGRAM_TRACKLETS = "ColorHistogram + DeepTripletTracklets"
# The pipeline's histograms: 3 stripes, 8 bins per channel. Chosen on a
# validation split of the TRAINING tracklets only (34 tracklets starting before
# frame 250 to fit, the other 17 to score: 177 queries of the protocol), mean
# MAP@R / P@1 of DeepTripletTracklets() over seeds 0-2: 3 stripes x 8 bins
# 0.933 / 0.985, 4 x 8 0.930 / 0.983, 2 x 12 0.920 / 0.981, 2 x 16 (the
# baseline's) 0.899 / 0.964; seed 0 only: 2 x 8 0.907 / 0.983, 2 x 32 0.887 /
# 0.944, 1 x 16 0.768 / 0.802. The same histograms without learning are a row
# of the table too.
PIPELINE_STRIPES, PIPELINE_BINS = 3, 8
# The learners from tracklets whose epochs the peer matches, and the input the
# peer is given for each (the input its skmetric counterpart sees).
DEEP_TRACKLET_METHODS = ("DeepTripletTracklets", HISTOGRAM_TRACKLETS)


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


def cooccurring_tracklets(codes, frames, n_tracklets):
    """(k, k) bool: tracklet codes u != v seen in one frame at least once."""
    seen = np.zeros((n_tracklets, frames.max() + 1), dtype=bool)
    seen[codes, frames] = True
    together = (seen.astype(np.int64) @ seen.T.astype(np.int64)) > 0
    np.fill_diagonal(together, False)
    return together


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


def colour_histogram_transformer(shape, n_bins=N_BINS, n_stripes=2):
    """skmetric's ColorHistogram of the crops: per-channel ``n_bins``-bin
    histograms of ``n_stripes`` horizontal stripes (2: the upper and lower
    halves), Hellinger-mapped."""
    height, width = shape
    return ColorHistogram((height, width, 3), n_bins=n_bins, n_stripes=n_stripes,
                          value_range=(0, 256))


def colour_histograms(X, shape, n_bins=N_BINS, n_stripes=2):
    """Per-channel histograms of horizontal stripes, Hellinger-mapped."""
    return colour_histogram_transformer(shape, n_bins, n_stripes).fit_transform(X)


# ---- methods ---------------------------------------------------------------------

@contextlib.contextmanager
def _one_thread_env():
    """OMP/BLAS limited to one thread in worker processes started meanwhile."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: "1" for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _timed(fit):
    """Run ``fit()`` on one thread; return (result, seconds, warnings seen)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with threadpool_limits(1):
            start = time.perf_counter()
            result = fit()
            seconds = time.perf_counter() - start
    return result, seconds, sorted({f"{w.category.__name__}: {w.message}"[:120]
                                    for w in caught})


class _Split:
    """The train/test parts of pedestrians.npz, scaled on the training part."""

    def __init__(self):
        X, self.tracklet, self.frame, self.shape = load_pedestrians()
        self.train = split_by_start(self.tracklet, self.frame)
        raw = X.astype(np.float64)
        self.raw_train, self.raw_test = X[self.train], X[~self.train]
        scaler = StandardScaler().fit(raw[self.train])
        self.X_train = scaler.transform(raw[self.train])
        self.X_test = scaler.transform(raw[~self.train])
        self.histograms = colour_histograms(X, self.shape)
        self.pipeline_histograms = colour_histograms(X, self.shape, PIPELINE_BINS,
                                                     PIPELINE_STRIPES)
        self.t_train = self.tracklet[self.train]
        self.f_train = self.frame[self.train]
        self.queries = association_queries(self.tracklet[~self.train],
                                           self.frame[~self.train])


def _deep_tracklets(quick, max_iter=None, random_state=0):
    """DeepTripletTracklets with its defaults (``max_iter`` aside)."""
    max_iter = max_iter or (5 if quick else 100)
    return DeepTripletTracklets(max_iter=max_iter, random_state=random_state,
                                n_jobs=1)


def skmetric_methods(split, quick, n_triplets, n_pairs, deep_max_iter=None,
                     random_state=0):
    """``{label: fit() -> transform}`` of skmetric's learners and baselines
    (``random_state`` seeds the two learners from tracklets)."""
    def lmnn():
        return LMNN(max_iter=20 if quick else LMNN_ITERATIONS, random_state=0,
                    n_jobs=1).fit(
            split.X_train, split.t_train).transform

    def xing():
        pairs, similar = pairs_from_tracklets(split.t_train, split.f_train, n_pairs,
                                              random_state=0)
        return MahalanobisXingPairs(diagonal=True, preprocessor=split.X_train,
                                    max_iter=20 if quick else 1000).fit(
            pairs, similar).transform

    def deep_triplets():
        triplets = triplets_from_tracklets(split.t_train, split.f_train, n_triplets,
                                           random_state=0)
        return DeepTripletTriplets(max_iter=3 if quick else TRIPLET_EPOCHS,
                                   random_state=0, n_jobs=1,
                                   preprocessor=split.X_train).fit(
            triplets).transform

    def deep_tracklets():
        return _deep_tracklets(quick, deep_max_iter, random_state).fit(
            split.X_train,
                                                         split.t_train,
                                          frames=split.f_train).transform

    def histogram_tracklets():
        # The pipeline's input is the raw crops (its first step makes the
        # histograms); its transform takes raw crops too.
        model = make_pipeline(
            colour_histogram_transformer(split.shape, PIPELINE_BINS,
                                         PIPELINE_STRIPES),
            _deep_tracklets(quick, deep_max_iter, random_state))
        model.fit(split.raw_train, split.t_train,
                  deeptriplettracklets__frames=split.f_train)
        return model.transform

    return {
        "PCA(32)": lambda: PCA(N_PCA, random_state=0).fit(split.X_train).transform,
        "LMNN (tracklet ids as classes)": lmnn,
        "MahalanobisXingPairs diagonal (pairs_from_tracklets)": xing,
        "DeepTripletTriplets (triplets_from_tracklets)": deep_triplets,
        "DeepTripletTracklets": deep_tracklets,
        HISTOGRAM_TRACKLETS: histogram_tracklets,
    }


def _record(method, scores, seconds=None, status="ok", reason="", **extra):
    map_r, p1 = scores if scores is not None else (None, None)
    return {"dataset": "pedestrians", "method": method, "map_at_r": map_r,
            "p_at_1": p1, "fit_time": seconds, "status": status, "reason": reason,
            **extra}


def _peer_record(split, epochs, timeout, quick, deep_max_iter=None,
                 method="DeepTripletTracklets", random_state=0):
    """The peer with the network, loss, miner, batches and epochs of ``method``
    and its input (standardised pixels, or the colour histograms)."""
    if method == HISTOGRAM_TRACKLETS:
        X_train = split.pipeline_histograms[split.train]
        X_test = split.pipeline_histograms[~split.train]
        label = ("pytorch-metric-learning on the colour histograms (same network, "
                 "loss, batches, epochs)")
    else:
        X_train, X_test = split.X_train, split.X_test
        label = "pytorch-metric-learning (same network, loss, batches, epochs)"
    codes = np.unique(split.t_train, return_inverse=True)[1].astype(np.int64)
    cooccur = cooccurring_tracklets(codes, split.f_train, int(codes.max()) + 1)
    first = np.full(cooccur.shape[0], np.inf)
    last = np.full(cooccur.shape[0], -np.inf)
    np.minimum.at(first, codes, split.f_train)
    np.maximum.at(last, codes, split.f_train)
    model = _deep_tracklets(quick, deep_max_iter)
    params = {
        "hidden_layer_sizes": list(model.hidden_layer_sizes),
        "n_components": model.n_components, "max_epochs": int(epochs),
        "batch_size": model.batch_size, "m_per_class": model.n_samples_per_class,
        "learning_rate": model.learning_rate_init, "weight_decay": model.alpha,
        "margin": model.margin, "miner": model.miner,
        "cooccurring": np.argwhere(np.triu(cooccur)).tolist(),
        "mid_frames": (0.5 * (first + last)).tolist(), "n_threads": 1,
        "random_state": int(random_state),
    }
    warm = codes < 6  # the untimed warm-up: the first six tracklets
    with _one_thread_env():
        result = embed_peer(PEER, [(X_train, codes, X_test)],
                            params={**params}, timeout=timeout,
                            warmup=(X_train[warm], codes[warm]))[0]
    if result["status"] != "ok":
        return _record(label, None, status=result["status"],
                       reason=result["reason"])
    return _record(label, association_scores(result["Z_test"], split.queries),
                   result["fit_time"], version=result["version"],
                   epochs=result["extra"].get("n_iter"))


def tracking_records(quick=False, peers=True, timeout=None, repeats=1,
                     n_triplets=None, n_pairs=None, methods=None,
                     deep_max_iter=None):
    """Association records (one per method) on pedestrians.npz.

    Fit seconds are the median of ``repeats`` fits after one untimed warm-up
    fit on the first six training tracklets (every method, the peer included).
    ``methods`` restricts skmetric's learners to those labels; the peer runs,
    for each learner from tracklets (DeepTripletTracklets on pixels, and on
    the colour histograms), as many epochs as it did, on the same input.
    """
    n_triplets = n_triplets or (2000 if quick else N_TRIPLETS)
    n_pairs = n_pairs or (2000 if quick else N_PAIRS)
    split = _Split()
    records = [
        _record("raw pixels (standardised)",
                association_scores(split.X_test, split.queries)),
        _record("colour histogram (16 bins x RGB x 2 halves, Hellinger)",
                association_scores(split.histograms[~split.train], split.queries)),
        _record(f"colour histogram ({PIPELINE_BINS} bins x RGB x {PIPELINE_STRIPES} "
                "stripes, Hellinger: the pipeline's input)",
                association_scores(split.pipeline_histograms[~split.train],
                                   split.queries)),
    ]
    deep_epochs = {}
    learners = skmetric_methods(split, quick, n_triplets, n_pairs, deep_max_iter)
    for label, fit in learners.items():
        if methods is not None and label not in methods:
            continue
        _warm_up(label, split, quick)
        record, estimator = _fit_and_score(label, fit, split, repeats)
        if label in DEEP_TRACKLET_METHODS:
            deep_epochs[label] = estimator.n_iter_
        records.append(record)
    for label, epochs in deep_epochs.items() if peers else ():
        records.append(_peer_record(split, epochs, timeout, quick, deep_max_iter,
                                    method=label))
    return records


# The main job's tracking task: the baselines, the two learners from tracklets
# (DeepTripletTracklets on pixels and on the colour histograms) for a fixed
# budget of epochs and the peer for as many on the same inputs (about a minute
# and a half with the peer on the 2-core machine; seconds with --quick).
MAIN_JOB_EPOCHS = {True: 5, False: 30}


def _fit_and_score(label, fit, split, repeats=1):
    """``(record, last estimator)`` of ``repeats`` timed fits of a learner (the
    median time; the scores of the last fit, on raw crops for the pipeline)."""
    times, transform, seen = [], None, []
    for _ in range(repeats):
        transform, seconds, seen = _timed(fit)
        times.append(seconds)
    estimator = getattr(transform, "__self__", None)
    estimator = getattr(estimator, "steps", [[None, estimator]])[-1][1]
    X_test = split.raw_test if label == HISTOGRAM_TRACKLETS else split.X_test
    record = _record(label, association_scores(transform(X_test), split.queries),
                     float(np.median(times)),
                     epochs=getattr(estimator, "n_iter_", None), warnings=seen)
    return record, estimator


def main_job_records(quick=False, peers=True, timeout=None):
    """Records of the main job's tracking task (see :data:`MAIN_JOB_EPOCHS`)."""
    return tracking_records(quick=quick, peers=peers, timeout=timeout,
                            methods=set(DEEP_TRACKLET_METHODS),
                            deep_max_iter=MAIN_JOB_EPOCHS[bool(quick)])


def seed_records(seeds, quick=False, timeout=None, method=HISTOGRAM_TRACKLETS):
    """``method`` (a learner from tracklets) and the peer on its input, one fit
    each per seed (the seed of both the learner and the peer); the peer runs as
    many epochs as the learner did with the same seed. One record per method
    and seed, with its ``seed``."""
    split = _Split()
    _warm_up(method, split, quick)
    records = []
    for seed in seeds:
        fit = skmetric_methods(split, quick, 0, 0, random_state=seed)[method]
        record, estimator = _fit_and_score(method, fit, split)
        records.append(dict(record, seed=seed))
        records.append(dict(_peer_record(split, estimator.n_iter_, timeout, quick,
                                         method=method, random_state=seed),
                            seed=seed))
    return records


def seed_table(records):
    """Markdown table of :func:`seed_records`: per seed, then mean and spread."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    lines = ["| seed | " + " | ".join(f"{m}: MAP@R / P@1 / fit (s)" for m in methods)
             + " |", "|---|" + "---|" * len(methods)]
    by_seed = {}
    for r in records:
        by_seed.setdefault(r["seed"], {})[r["method"]] = r

    def cell(r):
        if r is None or r["status"] != "ok":
            return "-" if r is None else r["status"]
        return f"{r['map_at_r']:.3f} / {r['p_at_1']:.3f} / {r['fit_time']:.1f}"
    for seed, row in by_seed.items():
        lines.append(f"| {seed} | " + " | ".join(cell(row.get(m)) for m in methods)
                     + " |")
    summary = []
    for m in methods:
        ok = [r for r in records if r["method"] == m and r["status"] == "ok"]
        if not ok:
            summary.append("-")
            continue
        a = np.array([[r["map_at_r"], r["p_at_1"], r["fit_time"]] for r in ok])
        sd = a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(3)
        summary.append(f"{a[:, 0].mean():.3f} (sd {sd[0]:.3f}) / "
                       f"{a[:, 1].mean():.3f} (sd {sd[1]:.3f}) / "
                       f"median {np.median(a[:, 2]):.1f}")
    lines.append("| mean | " + " | ".join(summary) + " |")
    return "\n".join(lines)


def _warm_up(label, split, quick):
    """One untimed fit on the first six training tracklets (compiles kernels)."""
    if label.startswith("PCA"):
        return
    rows = np.isin(split.t_train, np.unique(split.t_train)[:6])
    small = _Split.__new__(_Split)
    small.X_train, small.t_train = split.X_train[rows], split.t_train[rows]
    small.f_train = split.f_train[rows]
    small.raw_train, small.shape = split.raw_train[rows], split.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            skmetric_methods(small, True, 200, 200)[label]()
        except ValueError:  # too little in the six tracklets: compile on the fit
            pass


def tracking_table(records):
    """Markdown table of the association records."""
    lines = ["| method | MAP@R | P@1 | fit (s) | epochs | note |",
             "|---|---|---|---|---|---|"]
    for r in records:
        if r["status"] != "ok":
            lines.append(f"| {r['method']} | - | - | - | - | {r['status']}: "
                         f"{r['reason'][:80]} |")
            continue
        seconds = "-" if r["fit_time"] is None else f"{r['fit_time']:.1f}"
        epochs = r.get("epochs") or "-"
        note = "; ".join(w.split(":")[0] for w in r.get("warnings", []))
        lines.append(f"| {r['method']} | {r['map_at_r']:.3f} | {r['p_at_1']:.3f} | "
                     f"{seconds} | {epochs} | {note} |")
    return "\n".join(lines)


# ---- whole frames: temporal order, leave one video out -----------------------------

def frame_order_scores(Z, frames):
    """Fractions of frames t with d(t, t+1) < d(t, t+2), d(t, t+10) < d(t, t+20)."""
    index = {f: i for i, f in enumerate(frames.tolist())}
    out = []
    for near, far in ((1, 2), (10, 20)):
        hits = [np.sum((Z[i] - Z[index[f + near]]) ** 2)
                < np.sum((Z[i] - Z[index[f + far]]) ** 2)
                for f, i in index.items() if f + far in index]
        out.append(float(np.mean(hits)))
    return out


def frame_order_records(quick=False, n_triplets=None):
    """Leave-one-video-out temporal-order records on video_frames.npz."""
    data = np.load(data_dir() / "tracking" / "video_frames.npz")
    X, video, frame = data["X"].astype(np.float64), data["video"], data["frame"]
    names = [str(n) for n in data["video_names"]]
    n_triplets = n_triplets or (500 if quick else 2000)
    records = []
    for held in range(len(names)):
        test = video == held
        scaler = StandardScaler().fit(X[~test])
        X_train, X_test = scaler.transform(X[~test]), scaler.transform(X[test])
        triplets = triplets_from_sequence(frame[~test], n_triplets,
                                          sequences=video[~test], random_state=0)
        methods = {
            "raw pixels": lambda: (lambda Z: Z),
            "PCA(32)": lambda: PCA(N_PCA, random_state=0).fit(X_train).transform,
            f"DeepTripletTriplets ({n_triplets} triplets_from_sequence)": lambda: (
                DeepTripletTriplets(max_iter=3 if quick else TRIPLET_EPOCHS,
                                    random_state=0, n_jobs=1,
                                    preprocessor=X_train)
                .fit(triplets).transform),
        }
        for label, fit in methods.items():
            transform, seconds, seen = _timed(fit)
            order = np.argsort(frame[test])
            near, far = frame_order_scores(transform(X_test)[order],
                                           frame[test][order])
            records.append({"dataset": f"video_frames/{names[held]}",
                            "method": label, "order_1_2": near, "order_10_20": far,
                            "fit_time": seconds, "status": "ok", "reason": "",
                            "warnings": seen})
    return records


def frame_order_table(records):
    lines = ["| held-out video | method | t+1 nearer than t+2 | t+10 nearer than "
             "t+20 | fit (s) |", "|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['dataset'].split('/')[-1]} | {r['method']} | "
                     f"{r['order_1_2']:.3f} | {r['order_10_20']:.3f} | "
                     f"{r['fit_time']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-frames", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--save", default=None)
    parser.add_argument("--methods", default=None,
                        help="comma-separated labels of skmetric's learners to "
                        "run (default: all), for example 'DeepTripletTracklets,"
                        f"{HISTOGRAM_TRACKLETS}'")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds: instead of the tables, fit "
                        f"{HISTOGRAM_TRACKLETS!r} and the peer on its histograms "
                        "once per seed (for example 0,1,2,3,4)")
    args = parser.parse_args(argv)
    methods = None if args.methods is None else set(args.methods.split(","))
    load = os.getloadavg()
    if args.seeds is not None:
        seeds = [int(s) for s in args.seeds.split(",")]
        records = seed_records(seeds, quick=args.quick, timeout=args.timeout)
        print(f"load average {load[0]:.2f} at the start", flush=True)
        print("## Association on pedestrians, one fit per seed\n")
        print(seed_table(records))
        print(f"\nload average before / after: {load[0]:.2f} / "
              f"{os.getloadavg()[0]:.2f}; one thread each.")
        return
    records = tracking_records(quick=args.quick, peers=not args.no_peers,
                               timeout=args.timeout, repeats=args.repeats,
                               methods=methods)
    print(f"load average {load[0]:.2f} at the start", flush=True)
    print("## Association on pedestrians (train: tracklets starting in the first "
          "half; test: the others)\n")
    print(tracking_table(records), flush=True)
    frames = [] if args.no_frames else frame_order_records(quick=args.quick)
    if frames:
        print("\n## Whole frames: temporal order, leave one video out\n")
        print(frame_order_table(frames))
    print(f"\nload average before / after: {load[0]:.2f} / "
          f"{os.getloadavg()[0]:.2f} (the machine is shared); one thread each.")
    if args.save:
        path = Path(args.save).with_suffix(".json")
        path.write_text(json.dumps({"versions": library_versions(),
                                    "load_average": [load[0], os.getloadavg()[0]],
                                    "association": records, "frames": frames},
                                   indent=1, default=str))


if __name__ == "__main__":
    main()
