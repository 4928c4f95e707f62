"""MahalanobisXing against plain Euclidean kNN and metric-learn's MMC_Supervised.

Protocol: 5 stratified 70/30 splits (seed 0), ``StandardScaler`` fit on the training
part, kNN with k = 3 on the transformed data. metric-learn runs in its own env
(``python -m benchmarks.setup_peers --envs legacy``) as a subprocess, with the same
number of constraints as skmetric's default (``default_n_constraints``: similar
pairs and as many dissimilar pairs). Prints one markdown table per dataset, Xing's
objectives reached by each solver, whether the default fit is well posed (the rank
of the similar-pair scatter against the rank of the data it is learned from) and
the majority-class rate, and a summary of the targets; ``--quick`` runs a
seconds-long smoke version.

    python -m benchmarks.bench_xing [--quick] [--datasets iris,wine] [--no-peers]
        [--save PATH]
"""

import argparse
import statistics

import numpy as np

from benchmarks._data import available_datasets, load_dataset, make_splits, scaled
from benchmarks._harness import (
    evaluate_estimator,
    evaluate_peer,
    library_versions,
    markdown_table,
    save_results,
    summarize,
)
from skmetric import MahalanobisXing
from skmetric._xing import default_n_constraints, sample_label_pairs
from skmetric._xing_solver import _orthonormal_span, similar_whitening

DATASETS = (
    "iris",
    "wine",
    "breast_cancer",
    "digits",
    "segment",
    "vehicle",
    "ionosphere",
    "sonar",
    "balance",
    "vowel",
)
PEER = "metric_learn.MMC_Supervised"


def methods(n_samples, n_features, n_classes):
    """(label, skmetric factory or None, peer params or None) for every method."""
    n_constraints = default_n_constraints(n_samples, n_features, n_classes)
    return [
        ("euclidean", lambda: None, None),
        ("skmetric Xing full", lambda: MahalanobisXing(random_state=0), None),
        (
            "skmetric Xing diagonal",
            lambda: MahalanobisXing(diagonal=True, random_state=0),
            None,
        ),
        (
            "metric-learn MMC full",
            None,
            {"n_constraints": n_constraints, "random_state": 0},
        ),
        (
            "metric-learn MMC diagonal",
            None,
            {"n_constraints": n_constraints, "diagonal": True, "random_state": 0},
        ),
    ]


def xing_objectives(X, y, metric):
    """Xing's two objectives of a learned M, on fresh pairs (seed 12345, as many as
    skmetric's default).

    Full form: ``sum_D |.|_M`` after scaling M onto ``sum_S |.|_M^2 = 1`` (higher is
    better). Diagonal form: ``sum_S |.|_w^2 - log sum_D |.|_w`` of the diagonal w at
    its best scale (lower is better). Both are scale-free, so any two solvers'
    matrices compare.
    """
    n_pairs = default_n_constraints(*X.shape, int(y.max()) + 1)
    similar, dissimilar = sample_label_pairs(y, n_pairs, np.random.RandomState(12345))
    ds = X[similar[:, 0]] - X[similar[:, 1]]
    dd = X[dissimilar[:, 0]] - X[dissimilar[:, 1]]
    constraint = np.einsum("ij,jk,ik->", ds, metric, ds)
    full = np.sqrt(
        np.maximum(np.einsum("ij,jk,ik->i", dd, metric / constraint, dd), 0.0)
    ).sum()
    w = np.diag(metric)
    similar_w = (ds**2 @ w).sum()
    scale = 0.5 / similar_w
    diagonal = scale * similar_w - np.log(
        np.sqrt(scale * np.maximum(dd**2 @ w, 0.0)).sum()
    )
    return full, diagonal


def objective_lines(dataset, split, records):
    """Objectives reached on the first split by skmetric, metric-learn, identity."""
    train, test = split
    X_train, _ = scaled(dataset.X[train], dataset.X[test])
    y_train = dataset.y[train]
    lines = []
    for form, diagonal in (("full", False), ("diagonal", True)):
        ours = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X_train, y_train)
        values = {
            "skmetric": ours.get_mahalanobis_matrix(),
            "identity": np.eye(X_train.shape[1]),
        }
        peer = next(
            (
                r
                for r in records
                if r["method"] == f"metric-learn MMC {form}"
                and r["split"] == 0
                and r["status"] == "ok"
                and "metric" in r["extra"]
            ),
            None,
        )
        if peer is not None:
            values["metric-learn"] = np.asarray(peer["extra"]["metric"])
        index = 1 if diagonal else 0
        cells = ", ".join(
            f"{name} {xing_objectives(X_train, y_train, M)[index]:.4f}"
            for name, M in values.items()
        )
        better = "lower" if diagonal else "higher"
        lines.append(f"{dataset.name} {form} objective ({better} is better): {cells}")
    return lines


def well_posed_line(dataset, split):
    """Rank of the data and of the default similar pairs' scatter on the first split.

    The full metric is learned in the span of the similar-pair differences; the
    default fit is well posed when that span is the whole within-class span of the
    data (at most ``min(rank, n_train - n_classes)``).
    """
    train, test = split
    X_train, _ = scaled(dataset.X[train], dataset.X[test])
    y_train = dataset.y[train]
    n_pairs = default_n_constraints(*X_train.shape, dataset.n_classes)
    similar, dissimilar = sample_label_pairs(y_train, n_pairs, np.random.RandomState(0))
    used = np.unique(np.concatenate((similar.ravel(), dissimilar.ravel())))
    rows = X_train[used] - X_train[used].mean(axis=0)
    remap = np.full(X_train.shape[0], -1)
    remap[used] = np.arange(used.shape[0])
    data_rank = _orthonormal_span(rows / np.maximum(rows.std(axis=0), 1e-300))[0].shape[1]
    learned = similar_whitening(rows, remap[similar]).shape[1]
    majority = np.bincount(dataset.y[test]).max() / len(test)
    return (
        f"{dataset.name} default fit: {n_pairs} pairs of each kind; similar-pair "
        f"scatter of rank {learned} in data of rank {data_rank} "
        f"(within-class bound {min(data_rank, len(used) - dataset.n_classes)}); "
        f"majority-class rate {majority:.4f}"
    )


def run_dataset(name, *, n_splits, peers, timeout, max_train=None):
    dataset = load_dataset(name)
    splits = make_splits(
        dataset, n_splits=n_splits, seed=0, use_predefined=False, max_train=max_train
    )
    records = []
    n_train = len(splits[0][0])
    for label, factory, peer_params in methods(n_train, dataset.n_features,
                                               dataset.n_classes):
        if factory is not None:
            records += evaluate_estimator(
                factory, dataset, splits, 3, method=label, warmup=True
            )
        elif peers:
            records += evaluate_peer(
                PEER, peer_params, dataset, splits, 3, method=label, timeout=timeout,
                warmup=True,  # every method alike: an untimed warm-up fit first
            )
    lines = [well_posed_line(dataset, splits[0])]
    return records, lines + objective_lines(dataset, splits[0], records)


def target_summary(rows):
    """Lines stating, per dataset, the accuracy and speed comparisons of the issue."""
    by = {(r["dataset"], r["method"]): r for r in rows}
    lines, ratios = [], []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        euclid = by[(dataset, "euclidean")]["accuracy_mean"]
        for form in ("full", "diagonal"):
            ours = by.get((dataset, f"skmetric Xing {form}"))
            peer = by.get((dataset, f"metric-learn MMC {form}"))
            text = f"{dataset} {form}: skmetric {ours['accuracy_mean']:.4f}"
            text += f" vs euclidean {euclid:.4f}"
            if peer and peer["status"] == "ok":
                ratio = peer["fit_time_median"] / ours["fit_time_median"]
                ratios.append(ratio)
                text += (
                    f", metric-learn {peer['accuracy_mean']:.4f};"
                    f" metric-learn time / skmetric time = {ratio:.1f}"
                )
            lines.append(text)
    if ratios:
        lines.append(
            f"median time ratio over datasets and forms: "
            f"{statistics.median(ratios):.1f}"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 splits of iris and wine, no peers: a smoke test",
    )
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--save", default=None, help="write raw records (JSON, CSV)")
    args = parser.parse_args(argv)

    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    n_splits, peers = args.n_splits, not args.no_peers
    if args.quick:
        names, n_splits, peers = (
            names[:2] if args.datasets else ["iris", "wine"],
            2,
            False,
        )
    found = set(available_datasets())
    records, all_objectives = [], []
    for name in names:
        if name not in found:
            print(f"\n{name}: not found (set SKMETRIC_DATA to the data folder)")
            continue
        new, objectives = run_dataset(
            name, n_splits=n_splits, peers=peers, timeout=args.timeout
        )
        records += new
        all_objectives += objectives
        print(f"\n### {name}\n")
        print(markdown_table(summarize(new), ratio_to="skmetric Xing full"), flush=True)
        print("\n".join(objectives), flush=True)
    rows = summarize(records)
    print("\n" + "\n".join(target_summary(rows) + all_objectives))
    if args.save:
        save_results(args.save, records, library_versions())


if __name__ == "__main__":
    main()
