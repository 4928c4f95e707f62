"""Deep embeddings: kNN accuracy and fit time of DeepSiamese and DeepTriplet.

Usage, from the repository root::

    python -m benchmarks.bench_deep [--quick] [--datasets digits,usps,...]
        [--n-splits 5] [--seed 0] [--methods NAME,...] [--peer | --peer-only]
        [--save PATH]

Every method sees the same ``StandardScaler``-scaled stratified splits (5 random
splits, 30 % test, never the source's canonical split) and is scored by the same
3-NN classifier: plain Euclidean, PCA to the embedding's dimension (capped at the
number of features), LMNN (when ``skmetric.LMNN`` exists), DeepSiamese and
DeepTriplet with each miner, all at their defaults. ``--peer`` adds a side-by-side
with pytorch-metric-learning (``python -m benchmarks.setup_peers`` makes its env):
the same ReLU MLP, triplet loss, semi-hard miner, margin, batch size and number of
epochs, reporting accuracy and time per epoch. ``--quick`` is a smoke run of a few
seconds: digits, one split, three epochs, no LMNN and no peer.
"""

import argparse
import warnings

from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import skmetric
from benchmarks._data import load_dataset, make_splits
from benchmarks._harness import (
    evaluate_estimator,
    evaluate_peer,
    markdown_table,
    save_results,
    summarize,
)
from benchmarks._peer_worker import TRIPLET_DEFAULTS
from skmetric.deep import DeepSiamese, DeepTriplet

DATASETS = ("digits", "usps", "mnist_test10k", "olivetti", "yaleb32")
MINERS = ("semihard", "all", "hard", "batch_hard", "distance_weighted", "easy")
N_COMPONENTS = DeepTriplet().n_components

# The side-by-side with pytorch-metric-learning: one configuration for both.
PEER_CONFIG = TRIPLET_DEFAULTS


def method_factories(n_features, quick=False):
    """Return ``{method name: factory}``; a factory gives a fresh estimator."""
    epochs = {"max_iter": 3} if quick else {}
    factories = {
        "euclidean": lambda: None,
        f"PCA({min(N_COMPONENTS, n_features)})": lambda: PCA(
            min(N_COMPONENTS, n_features), random_state=0
        ),
    }
    if hasattr(skmetric, "LMNN") and not quick:
        factories["LMNN"] = lambda: skmetric.LMNN(random_state=0)
    factories["DeepSiamese"] = lambda: DeepSiamese(random_state=0, **epochs)
    for miner in MINERS:
        factories[f"DeepTriplet({miner})"] = lambda miner=miner: DeepTriplet(
            miner=miner, random_state=0, **epochs
        )
    return factories


def matched_triplet():
    """DeepTriplet set up as the pytorch-metric-learning peer is."""
    return DeepTriplet(
        PEER_CONFIG["n_components"],
        hidden_layer_sizes=tuple(PEER_CONFIG["hidden_layer_sizes"]),
        batch_size=PEER_CONFIG["batch_size"],
        learning_rate_init=PEER_CONFIG["learning_rate"],
        margin=PEER_CONFIG["margin"],
        miner=PEER_CONFIG["miner"],
        max_iter=PEER_CONFIG["max_epochs"],
        n_iter_no_change=PEER_CONFIG["max_epochs"],  # run every epoch, as the peer
        alpha=0.0,  # the peer's Adam has no weight decay
        random_state=0,
    )


def run(dataset, methods, *, n_splits, seed, quick):
    """Evaluate the chosen methods on one dataset; return the records."""
    splits = make_splits(dataset, n_splits=n_splits, seed=seed, use_predefined=False)
    records = []
    for name, factory in method_factories(dataset.n_features, quick).items():
        if methods and name not in methods:
            continue
        print(f"[bench_deep] {dataset.name}: {name}", flush=True)
        records += evaluate_estimator(
            factory, dataset, splits, 3, method=name, warmup=True
        )
    return records


def run_peer_comparison(dataset, *, n_splits, seed):
    """Matched DeepTriplet and pytorch-metric-learning runs; return the records."""
    splits = make_splits(dataset, n_splits=n_splits, seed=seed, use_predefined=False)
    print(f"[bench_deep] {dataset.name}: matched DeepTriplet vs torch_pml", flush=True)
    ours = evaluate_estimator(
        matched_triplet, dataset, splits, 3, method="DeepTriplet (matched)", warmup=True
    )
    for record in ours:
        extra = record["extra"]
        extra["time_per_epoch"] = record["fit_time"] / extra["n_iter"]
    theirs = evaluate_peer(
        "torch_pml.triplet",
        PEER_CONFIG,
        dataset,
        splits,
        3,
        method="torch_pml.triplet",
        warmup=True,
    )
    return ours + theirs


def epoch_table(records):
    """Markdown table of accuracy and median time per epoch of the matched runs."""
    lines = [
        "| dataset | method | accuracy | median time / epoch (s) | splits |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    groups = {}
    for record in records:
        groups.setdefault((record["dataset"], record["method"]), []).append(record)
    for (dataset, method), group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            lines.append(
                f"| {dataset} | {method} | {group[0]['status']}: "
                f"{' '.join(group[0]['reason'].split())[:80]} | - | 0 |"
            )
            continue
        accuracies = sorted(r["accuracy"] for r in ok)
        mean = sum(accuracies) / len(accuracies)
        std = (sum((a - mean) ** 2 for a in accuracies) / len(accuracies)) ** 0.5
        epochs = sorted(r["extra"]["time_per_epoch"] for r in ok)
        lines.append(
            f"| {dataset} | {method} | {mean:.4f} ± {std:.4f} | "
            f"{epochs[len(epochs) // 2]:.3f} | {len(ok)}/{len(group)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="", help="comma-separated method names")
    parser.add_argument(
        "--peer",
        action="store_true",
        help="add the side-by-side with pytorch-metric-learning",
    )
    parser.add_argument(
        "--peer-only", action="store_true", help="run only the side-by-side"
    )
    parser.add_argument("--save", default=None, help="path of the JSON/CSV output")
    args = parser.parse_args(argv)
    datasets = args.datasets or ("digits" if args.quick else ",".join(DATASETS))
    n_splits = 1 if args.quick else args.n_splits
    methods = {m for m in args.methods.split(",") if m}
    records, peer_records = [], []
    with warnings.catch_warnings():
        # Runs stopped by max_iter are part of the measurement, not a failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in datasets.split(","):
            dataset = load_dataset(name)
            if not args.peer_only:
                records += run(
                    dataset,
                    methods,
                    n_splits=n_splits,
                    seed=args.seed,
                    quick=args.quick,
                )
            if (args.peer or args.peer_only) and not args.quick:
                peer_records += run_peer_comparison(
                    dataset, n_splits=n_splits, seed=args.seed
                )
    if records:
        print(markdown_table(summarize(records)))
    if peer_records:
        print(epoch_table(peer_records))
    if args.save:
        for path in save_results(args.save, records + peer_records):
            print(f"[bench_deep] wrote {path}")


if __name__ == "__main__":
    main()
