"""K-means with side information, the setting of Xing et al. (NIPS 2002).

Protocol, per dataset, scaling and amount of side information, repeated with seeds
0..n_repetitions-1:

- scaling: ``raw`` features, as in the paper, or ``standardised`` (zero mean, unit
  variance over all points), the stronger Euclidean baseline;
- side information: a random subset of 10% (``little``) or 30% (``much``) of the
  points; every pair inside it is a constraint, similar when the two points share
  a class, dissimilar otherwise;
- methods: Euclidean K-means; K-means on the embedding of a metric learned from the
  pairs by MahalanobisXingPairs (full and diagonal) and by metric-learn's MMC (full and
  diagonal, in its own env through ``benchmarks._peers``);
- K-means: scikit-learn's, ``n_clusters`` = number of classes, ``n_init=10``, on all
  points;
- score: the paper's pairwise accuracy over all pairs of points, same-class pairs and
  different-class pairs each weighing 1/2: ``(P(same cluster | same class) +
  P(other cluster | other class)) / 2``;
- also the ROC AUC of the learned distance (minus it, as a similarity) on 2000
  held-out pairs of points outside the subset.

    python -m benchmarks.bench_clustering [--quick] [--datasets iris,wine]
        [--repetitions 5] [--no-peers] [--timeout 60] [--save PATH]
"""

import argparse
import time
import warnings
import zlib

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from benchmarks._data import available_datasets, load_dataset
from benchmarks._harness import library_versions, save_results
from benchmarks._peers import run_peer
from skmetric import MahalanobisXingPairs

DATASETS = (
    "iris",
    "wine",
    "balance",
    "ionosphere",
    "sonar",
    "vehicle",
    "segment",
    "breast_cancer",
)
SIDE_INFO = {"little": 0.1, "much": 0.3}
SCALINGS = ("raw", "standardised")
OURS = ("xing full", "xing diagonal")
PEERS = {"mmc full": {}, "mmc diagonal": {"diagonal": True}}
PEER = "metric_learn.MMC_pairs"
N_HELD_OUT = 2000


def _fit_xing_on_pairs(X, pairs, pair_labels, diagonal):
    """Fit the pair learner on explicit pairs of rows of X; the one place that does."""
    return MahalanobisXingPairs(diagonal=diagonal, preprocessor=X).fit(pairs, pair_labels)


def pairwise_accuracy(labels, clusters):
    """Xing et al.'s clustering accuracy over all pairs, each kind weighing 1/2.

    From the contingency table, without enumerating pairs: the fraction of
    same-class pairs put in one cluster and of different-class pairs split apart.
    """
    _, labels = np.unique(labels, return_inverse=True)
    _, clusters = np.unique(clusters, return_inverse=True)
    table = np.zeros((labels.max() + 1, clusters.max() + 1))
    np.add.at(table, (labels, clusters), 1.0)

    def n_pairs(counts):
        return (counts * (counts - 1) / 2).sum()

    together = n_pairs(table)
    same_class = n_pairs(table.sum(axis=1))
    same_cluster = n_pairs(table.sum(axis=0))
    total = n_pairs(np.array([labels.shape[0]]))
    different_class = total - same_class
    split_apart = different_class - (same_cluster - together)
    return 0.5 * (together / same_class + split_apart / different_class)


def side_information(y, fraction, rng):
    """Every pair inside a random subset of ``fraction`` of the points.

    Returns ``(subset, pairs, pair_labels)``: pairs (m, 2) int64 row indices and
    labels +1 (same class) or -1.
    """
    n = y.shape[0]
    subset = np.sort(rng.choice(n, size=max(2, int(round(fraction * n))), replace=False))
    left, right = np.triu_indices(subset.shape[0], k=1)
    pairs = np.column_stack((subset[left], subset[right])).astype(np.int64)
    return subset, pairs, np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)


def held_out_pairs(y, subset, rng):
    """Up to ``N_HELD_OUT`` random pairs of distinct points outside the subset."""
    outside = np.setdiff1d(np.arange(y.shape[0]), subset)
    pairs = rng.choice(outside, size=(2 * N_HELD_OUT, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]][:N_HELD_OUT]
    return pairs, y[pairs[:, 0]] == y[pairs[:, 1]]


def _components_from_metric(metric):
    values, vectors = np.linalg.eigh((metric + metric.T) / 2)
    return (vectors * np.sqrt(np.maximum(values, 0.0))).T


def _score(X, components, y, n_classes, test_pairs, same, seed):
    """Pairwise accuracy of K-means on the embedding, and the held-out ROC AUC."""
    Z = X if components is None else X @ components.T
    clusters = KMeans(n_clusters=n_classes, n_init=10, random_state=seed).fit_predict(Z)
    accuracy = pairwise_accuracy(y, clusters)
    auc = None
    if 0 < same.sum() < same.shape[0]:
        distances = np.linalg.norm(Z[test_pairs[:, 0]] - Z[test_pairs[:, 1]], axis=1)
        auc = float(roc_auc_score(same, -distances))
    return accuracy, auc


def _run_ours(method, X, pairs, pair_labels):
    """(components, converged, fit_time, status) of a MahalanobisXing fit."""
    start = time.perf_counter()
    try:
        # Recorded, not hidden: a ConvergenceWarning becomes converged=False in the
        # records and the table's count of fits that did not converge.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = _fit_xing_on_pairs(X, pairs, pair_labels, method == "xing diagonal")
    except ValueError as exc:
        return None, None, time.perf_counter() - start, f"failed: {exc}"
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model.components_, converged, time.perf_counter() - start, "ok"


def _run_peer(method, X, y, subset, timeout):
    partial = np.full(y.shape[0], -1, dtype=np.int64)
    partial[subset] = y[subset]
    result = run_peer(PEER, X, partial, X[:2], y[:2], params=PEERS[method],
                      timeout=timeout)
    if result["status"] != "ok":
        return None, None, result["fit_time"], f"{result['status']}: {result['reason']}"
    metric = result["extra"].get("metric")
    if metric is None:
        return None, None, result["fit_time"], "failed: no metric returned"
    return _components_from_metric(np.asarray(metric)), None, result["fit_time"], "ok"


def _repetition(dataset, scaling, side, repetition, peers, timeout):
    """Records of every method for one (dataset, scaling, side info, repetition)."""
    X, y = dataset.X, dataset.y
    if scaling == "standardised":
        X = StandardScaler().fit_transform(X)
    seed = zlib.crc32(f"{dataset.name}/{side}/{repetition}".encode())
    rng = np.random.default_rng(seed)
    subset, pairs, pair_labels = side_information(y, SIDE_INFO[side], rng)
    test_pairs, same = held_out_pairs(y, subset, rng)
    methods = ["euclidean", *OURS, *(PEERS if peers else ())]
    records = []
    for method in methods:
        if method == "euclidean":
            components, converged, fit_time, status = None, None, 0.0, "ok"
        elif method in OURS:
            components, converged, fit_time, status = _run_ours(method, X, pairs,
                                                                pair_labels)
        else:
            components, converged, fit_time, status = _run_peer(method, X, y, subset,
                                                                timeout)
        accuracy = auc = None
        if status == "ok":
            accuracy, auc = _score(X, components, y, dataset.n_classes, test_pairs,
                                   same, repetition)
        records.append({
            "dataset": dataset.name, "scaling": scaling, "side_info": side,
            "method": method, "repetition": repetition,
            "pairwise_accuracy": accuracy, "roc_auc": auc, "converged": converged,
            "fit_time": fit_time, "status": status,
            "n_pairs": int(pairs.shape[0]), "n_similar": int((pair_labels > 0).sum()),
            "extra": {},
        })
    return records


def clustering_records(datasets=None, *, n_repetitions=5, quick=False, peers=True,
                       timeout=60):
    """One record per (dataset, scaling, side info, method, repetition).

    Keys: dataset, scaling, side_info, method, repetition, pairwise_accuracy,
    roc_auc (None where the held-out pairs are all of one kind or the fit failed),
    converged (bool for skmetric, None for Euclidean and the peers), fit_time (s),
    status ('ok' or the reason), n_pairs, n_similar. ``quick``: iris and wine, one
    repetition, no peers.
    """
    names = list(datasets or DATASETS)
    if quick:
        names, n_repetitions, peers = (list(datasets)[:2] if datasets else
                                       ["iris", "wine"]), 1, False
    found = set(available_datasets())
    records = []
    for name in names:
        if name not in found:
            continue
        dataset = load_dataset(name)
        for scaling in SCALINGS:
            for side in SIDE_INFO:
                for repetition in range(n_repetitions):
                    records += _repetition(dataset, scaling, side, repetition, peers,
                                           timeout)
    return records


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def clustering_table(records):
    """Markdown tables: mean pairwise accuracy per method for every dataset x side
    info (one table per scaling), the cells where each method beats Euclidean
    K-means, and fits that failed or did not converge."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    lines = []
    for scaling in dict.fromkeys(r["scaling"] for r in records):
        part = [r for r in records if r["scaling"] == scaling]
        cells = list(dict.fromkeys((r["dataset"], r["side_info"]) for r in part))
        lines += [f"\n#### {scaling} features: pairwise accuracy (mean over "
                  f"repetitions; ROC AUC of held-out pairs in brackets)\n",
                  "| dataset | side info | " + " | ".join(methods) + " |",
                  "| --- | --- |" + " ---: |" * len(methods)]
        means = {}
        for dataset, side in cells:
            row = []
            for method in methods:
                mine = [r for r in part if (r["dataset"], r["side_info"],
                                            r["method"]) == (dataset, side, method)]
                accuracy = _mean(r["pairwise_accuracy"] for r in mine)
                auc = _mean(r["roc_auc"] for r in mine)
                means[(dataset, side, method)] = accuracy
                if accuracy is None:
                    row.append("-")
                else:
                    row.append(f"{accuracy:.3f}" + (f" ({auc:.3f})" if auc else ""))
            lines.append(f"| {dataset} | {side} | " + " | ".join(row) + " |")
        lines.append("")
        for method in methods[1:]:
            wins = sum(
                1 for dataset, side in cells
                if means[(dataset, side, method)] is not None
                and means[(dataset, side, method)] > means[(dataset, side, "euclidean")]
            )
            scored = [means[(d, s, method)] for d, s in cells
                      if means[(d, s, method)] is not None]
            average = f"{np.mean(scored):.4f}" if scored else "-"
            lines.append(f"- {scaling}, {method}: ahead of Euclidean K-means in "
                         f"{wins} of {len(cells)} cells; mean accuracy {average}")
        lines.append(f"- {scaling}, euclidean: mean accuracy "
                     f"{np.mean([means[(d, s, 'euclidean')] for d, s in cells]):.4f}")
    problems = [r for r in records if r["status"] != "ok" or r["converged"] is False]
    lines.append(f"\n{len(problems)} fits failed or did not converge"
                 + (":" if problems else "."))
    for r in problems:
        state = r["status"] if r["status"] != "ok" else "did not converge"
        lines.append(f"- {r['dataset']} {r['scaling']} {r['side_info']} "
                     f"{r['method']} rep {r['repetition']}: {state[:120]}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="iris and wine, one repetition, no peers: seconds")
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--save", default=None, help="write raw records (JSON, CSV)")
    args = parser.parse_args(argv)
    names = args.datasets.split(",") if args.datasets else None
    records = clustering_records(names, n_repetitions=args.repetitions,
                                 quick=args.quick, peers=not args.no_peers,
                                 timeout=args.timeout)
    print(clustering_table(records), flush=True)
    if args.save:
        save_results(args.save, records, library_versions())


if __name__ == "__main__":
    main()
