"""Reference figures: Euclidean kNN and the peer libraries, side by side.

Usage, from the repository root (after ``python -m benchmarks.setup_peers``)::

    python -m benchmarks.bench_reference [--datasets digits] [--n-splits 5]
        [--seed 0] [--n-neighbors 3] [--max-train N] [--timeout S] [--warmup]
        [--peers NAME,...] [--ratio-to pylmnn.LMNN] [--save PATH]

Every method sees the same ``StandardScaler``-scaled stratified splits and is
scored by the same ``KNeighborsClassifier``; peers run in their own envs, one at
a time. Prints a markdown table per run; ``--save`` writes the raw records as
JSON and CSV.
"""

import argparse

from benchmarks._data import load_dataset, make_splits
from benchmarks._harness import (
    evaluate_estimator,
    evaluate_peer,
    markdown_table,
    save_results,
    summarize,
)


def peer_params(n_neighbors):
    """Return ``{peer: params}``: each peer at its defaults, with k set where used."""
    return {
        "metric_learn.MMC_Supervised": {"random_state": 0},
        "metric_learn.LMNN": {"n_neighbors": n_neighbors, "random_state": 0},
        "pylmnn.LMNN": {"n_neighbors": n_neighbors, "random_state": 0},
        "mlpack.lmnn": {"k": n_neighbors, "seed": 1},
        "sklearn.NCA": {"random_state": 0},
        "metric_learn.NCA": {"random_state": 0},
        "torch_pml.triplet": {"random_state": 0},
    }


DEFAULT_PEERS = (
    "metric_learn.MMC_Supervised",
    "metric_learn.LMNN",
    "pylmnn.LMNN",
    "mlpack.lmnn",
    "sklearn.NCA",
)


def run(
    dataset,
    peers,
    *,
    n_splits=5,
    seed=0,
    n_neighbors=3,
    max_train=None,
    timeout=None,
    warmup=False,
):
    """Evaluate Euclidean kNN and ``peers`` on one dataset; return the records."""
    splits = make_splits(dataset, n_splits=n_splits, seed=seed, max_train=max_train)
    records = evaluate_estimator(lambda: None, dataset, splits, n_neighbors)
    params = peer_params(n_neighbors)
    for peer in peers:
        print(f"[bench_reference] {dataset.name}: {peer}", flush=True)
        records += evaluate_peer(
            peer,
            params.get(peer, {}),
            dataset,
            splits,
            n_neighbors,
            timeout=timeout,
            warmup=warmup,
        )
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits")
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-neighbors", type=int, default=3)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--warmup", action="store_true")
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS))
    parser.add_argument("--ratio-to", default="pylmnn.LMNN")
    parser.add_argument("--save", default=None, help="path of the JSON/CSV output")
    args = parser.parse_args(argv)
    records = []
    for name in args.datasets.split(","):
        records += run(
            load_dataset(name),
            [peer for peer in args.peers.split(",") if peer],
            n_splits=args.n_splits,
            seed=args.seed,
            n_neighbors=args.n_neighbors,
            max_train=args.max_train,
            timeout=args.timeout,
            warmup=args.warmup,
        )
    print(markdown_table(summarize(records), ratio_to=args.ratio_to))
    if args.save:
        for path in save_results(args.save, records):
            print(f"[bench_reference] wrote {path}")


if __name__ == "__main__":
    main()
