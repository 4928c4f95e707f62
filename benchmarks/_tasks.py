"""The tasks of the main job: what is measured on each embedding.

Tasks of one split kind share their fits: the closed-set task fits on the
stratified splits of :func:`benchmarks._data.make_splits`; the open-set
retrieval and verification tasks both score the embeddings of one fit per
class-disjoint split of :func:`benchmarks._data.open_set_splits` (half the
classes for training, the other half never seen).

- ``closed``: kNN accuracy (k = 3) of the test part against the training part,
  on classes seen in training;
- ``openset``: MAP@R, R-precision and precision@1 of the unseen classes,
  leave-one-out within the unseen part (each unseen point queries the other
  unseen points);
- ``verification``: balanced same/different pairs of unseen-class points; ROC
  AUC of minus the distance, accuracy at the threshold that maximises accuracy
  on balanced pairs of *training*-class points, and TAR at FAR = 1e-2.

Adding a task scored on the same embeddings is one :class:`Task` in
:data:`TASKS`. A task that runs its own protocol (for example clustering with
side information) is an :class:`ExternalTask`: a function returning records
(dicts with at least ``dataset``, ``method`` and the metric) and one rendering
its markdown table; :func:`register_external` adds it, and the runner, the
report and the figures pick it up.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks._data import knn_accuracy

N_PAIRS = 5000  # verification pairs per side (same, different), at most
FAR = 1e-2
MIN_NEGATIVES_FOR_TAR = 500  # at least 5 accepted impostor pairs at FAR = 1e-2
ENUMERATE_LIMIT = 2_000_000  # enumerate all pairs of at most this many


@dataclass(frozen=True)
class Task:
    """A task scored on the embeddings of one split kind.

    ``score(Z_train, y_train, Z_test, y_test, rng)`` returns ``{metric: value}``;
    ``metrics`` lists ``(key, column title)``, the first being the headline
    metric of the win counts and the figure; ``applies(dataset)`` says whether
    the task runs on a dataset.
    """

    name: str
    title: str
    split_kind: str
    metrics: tuple
    score: object
    applies: object
    protocol: str

    @property
    def metric(self):
        return self.metrics[0][0]


@dataclass(frozen=True)
class ExternalTask:
    """A task with its own protocol: ``run(quick=, peers=, timeout=) -> records``
    and ``table(records) -> str``; ``metric`` and ``baseline`` (the method
    label learned methods are compared with) feed the summary and figure."""

    name: str
    title: str
    run: object
    table: object
    metric: str
    baseline: str
    protocol: str = ""


MIN_OPEN_SET_CLASSES = 10


def _closed_score(Z_train, y_train, Z_test, y_test, rng):
    return {"accuracy": knn_accuracy(Z_train, y_train, Z_test, y_test, 3)}


def _open_set_score(Z_train, y_train, Z_test, y_test, rng):
    from skmetric.metrics import retrieval_scores

    scores = retrieval_scores(Z_test, y_test, k=1)  # one ranking for the three
    return {"map_at_r": scores["map_at_r"], "r_precision": scores["r_precision"],
            "precision_at_1": scores["precision_at_k"]}


def _open_set_applies(dataset):
    return dataset.n_classes >= MIN_OPEN_SET_CLASSES


def verification_pairs(y, n_pairs, rng):
    """Balanced same-class and different-class pairs of rows of ``y``.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels of the points the pairs are drawn from (the unseen part, for
        the scores; the training part, for the threshold).
    n_pairs : int
        Pairs per side at most; fewer when fewer same-class pairs exist.
    rng : numpy.random.Generator

    Returns
    -------
    left, right : ndarray of shape (2 * m,), int64
        Row indices, ``left != right``, no pair drawn twice.
    same : ndarray of shape (2 * m,), bool
        True for the first ``m`` (same class), False for the last ``m``.
    """
    y = np.asarray(y)
    n = len(y)
    if n * (n - 1) // 2 <= ENUMERATE_LIMIT:
        left, right = np.triu_indices(n, k=1)
        is_same = y[left] == y[right]
        same_idx, diff_idx = np.flatnonzero(is_same), np.flatnonzero(~is_same)
        m = min(n_pairs, len(same_idx), len(diff_idx))
        chosen = np.concatenate([rng.choice(same_idx, m, replace=False),
                                 rng.choice(diff_idx, m, replace=False)])
        left, right = left[chosen], right[chosen]
    else:
        counts = np.bincount(np.unique(y, return_inverse=True)[1])
        n_same = int((counts * (counts - 1) // 2).sum())
        m = min(n_pairs, n_same)
        same_pairs = _sample_pairs(y, m, rng, same=True)
        diff_pairs = _sample_pairs(y, m, rng, same=False)
        left = np.concatenate([same_pairs[:, 0], diff_pairs[:, 0]])
        right = np.concatenate([same_pairs[:, 1], diff_pairs[:, 1]])
    same = np.zeros(len(left), dtype=bool)
    same[: len(left) // 2] = True
    return left.astype(np.int64), right.astype(np.int64), same


def _sample_pairs(y, m, rng, same):
    """``m`` distinct unordered pairs (rejection sampling; many pairs exist)."""
    members = {c: np.flatnonzero(y == c) for c in np.unique(y)}
    classes = np.array(list(members))
    sizes = np.array([len(members[c]) for c in classes], dtype=float)
    weights = sizes * (sizes - 1) if same else None
    found = set()
    while len(found) < m:
        k = 2 * (m - len(found)) + 16
        if same:
            chosen = rng.choice(classes, size=k, p=weights / weights.sum())
            pairs = [rng.choice(members[c], 2, replace=False) for c in chosen]
        else:
            pairs = rng.integers(0, len(y), size=(k, 2))
            pairs = [p for p in pairs if y[p[0]] != y[p[1]]]
        for i, j in pairs:
            found.add((min(i, j), max(i, j)))
            if len(found) == m:
                break
    return np.array(sorted(found), dtype=np.int64).reshape(-1, 2)


def _pair_distances(Z, left, right):
    return np.sqrt(((Z[left] - Z[right]) ** 2).sum(axis=1))


def calibrated_threshold(distances, same):
    """The distance threshold (accept ``d <= t``) of best accuracy on pairs."""
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    # accepting the first i pairs: correct = same among them + different after
    correct = np.concatenate([[0], np.cumsum(s)]) + np.concatenate(
        [[(~s).sum()], (~s).sum() - np.cumsum(~s)])
    cut = int(np.argmax(correct))
    if cut == 0:
        return -np.inf
    if cut == len(d):
        return np.inf
    return 0.5 * (d[cut - 1] + d[cut])


def tar_at_far(distances, same, far=FAR):
    """True accept rate at the threshold accepting a ``far`` share of impostors.

    None when there are fewer than :data:`MIN_NEGATIVES_FOR_TAR` different pairs.
    """
    negatives = np.sort(distances[~same])
    if len(negatives) < MIN_NEGATIVES_FOR_TAR:
        return None
    threshold = negatives[int(np.floor(far * len(negatives)))]
    return float(np.mean(distances[same] < threshold))


def _verification_score(Z_train, y_train, Z_test, y_test, rng):
    left, right, same = verification_pairs(y_train, N_PAIRS, rng)
    threshold = calibrated_threshold(_pair_distances(Z_train, left, right), same)
    left, right, same = verification_pairs(y_test, N_PAIRS, rng)
    distances = _pair_distances(Z_test, left, right)
    return {
        "roc_auc": float(roc_auc_score(same, -distances)),
        "accuracy_calibrated": float(np.mean((distances <= threshold) == same)),
        "tar_at_far_1e-2": tar_at_far(distances, same),
        "n_pairs": int(len(same)),
    }


TASKS = {
    "closed": Task(
        "closed", "Closed-set kNN classification", "closed",
        (("accuracy", "kNN accuracy"),), _closed_score, lambda dataset: True,
        "every dataset; its own train/test split where it has one, otherwise 3 "
        "stratified 70/30 splits (seed 0); 3-NN accuracy of the test part against "
        "the training part, the same classes on both sides; the slowest peers on "
        "the smaller bundled sets only (mlpack's LMNN and metric-learn's LMNN on "
        "iris, wine and breast_cancer, metric-learn's MMC on iris and wine: "
        "bench_lmnn and bench_xing compare them on digits); of the classic learners, "
        "LFDA, Covariance and RCA (closed form) on every dataset, NCA, MLKR, "
        "ITML, SDML, LSML and SCML on the bundled sets only."),
    "openset": Task(
        "openset", "Open-set retrieval on unseen classes", "open",
        (("map_at_r", "MAP@R"), ("r_precision", "R-precision"),
         ("precision_at_1", "P@1")),
        _open_set_score, _open_set_applies,
        "half the classes (seeded permutation) for training, the other half "
        "never seen; scaler and PCA fit on the training classes only; MAP@R, "
        "R-precision and precision@1 of the unseen part, leave-one-out within it; "
        "of the classic learners, LFDA, Covariance and RCA on every dataset, NCA, "
        "MLKR, ITML, SDML, LSML and SCML on the bundled sets only (digits)."),
    "verification": Task(
        "verification", "Verification on unseen classes", "open",
        (("roc_auc", "ROC AUC"), ("accuracy_calibrated", "accuracy"),
         ("tar_at_far_1e-2", "TAR@FAR=1e-2")),
        _verification_score, _open_set_applies,
        f"the same fits as the open-set task; up to {N_PAIRS} same-class and "
        f"as many different-class pairs of unseen points; ROC AUC of minus the "
        f"distance; accuracy at the threshold of best accuracy on balanced pairs "
        f"of training-class points; TAR at FAR = 1e-2 where there are at least "
        f"{MIN_NEGATIVES_FOR_TAR} different pairs."),
}


def register_external(task):
    """Add an :class:`ExternalTask` to :data:`TASKS` (the runner calls it)."""
    TASKS[task.name] = task
    return task


def _clustering_task():
    # Imported here: bench_clustering is also a script of its own.
    from benchmarks.bench_clustering import clustering_records, clustering_table

    return ExternalTask(
        "clustering", "Clustering with side information",
        # metric-learn's MMC on the same pairs takes about 320 peer fits of up to
        # a minute each: too long for the main job, so it runs side by side in
        # python -m benchmarks.bench_clustering (tables in the README).
        run=lambda quick, peers, timeout: clustering_records(
            quick=quick, peers=False, timeout=timeout),
        table=clustering_table, metric="pairwise_accuracy", baseline="euclidean",
        protocol="K-means with side information (Xing et al. 2002): K-means with "
        "n_clusters = number of classes on all points, Euclidean or in the metric "
        "learned from every pair inside a random 10% ('little') or 30% ('much') of "
        "the points, on raw and on standardised features, 5 repetitions; score: "
        "pairwise accuracy, same-class and different-class pairs weighing 1/2 each. "
        "metric-learn's MMC on the same pairs is left to python -m "
        "benchmarks.bench_clustering (about 320 peer fits of up to a minute).")


register_external(_clustering_task())


def _tracking_task():
    # Imported here: bench_tracking is also a script of its own.
    from benchmarks.bench_tracking import (
        MAIN_JOB_EPOCHS,
        main_job_records,
        tracking_table,
    )

    return ExternalTask(
        "tracking", "Tracking: association of pedestrian crops",
        run=main_job_records, table=tracking_table, metric="map_at_r",
        baseline="raw pixels (standardised)",
        protocol="pedestrians.npz (1850 crops of 106 tracklets): train on the "
        "tracklets that start in the first half of the video, test on the others "
        "(the same people may walk through both halves). Supervision: tracklet "
        "ids and frames only. Every test crop queries its own tracklet's crops at "
        "least 10 frames away among every crop of the tracklets seen with it; "
        "MAP@R and P@1. DeepTripletTracklets trains "
        f"{MAIN_JOB_EPOCHS[False]} epochs ({MAIN_JOB_EPOCHS[True]} with --quick), "
        "pytorch-metric-learning as many, same network, loss, miner and batches, "
        "one thread each. Full table: python -m benchmarks.bench_tracking.")


register_external(_tracking_task())
def _recommendation_task():
    # Imported here: bench_recommend is also a script of its own.
    from benchmarks.bench_recommend import (
        MAIN_JOB_PROTOCOL,
        main_job_records,
        main_job_table,
    )

    return ExternalTask(
        "recommendation", "Top-k recommendation on MovieLens",
        run=lambda quick, peers, timeout: main_job_records(
            quick=quick, peers=peers, timeout=timeout),
        table=main_job_table, metric="recall_at_10", baseline="popularity",
        protocol=MAIN_JOB_PROTOCOL)


register_external(_recommendation_task())
