"""Deep embeddings: kNN accuracy and fit time of DeepSiamese and DeepTriplet.

Usage, from the repository root::

    python -m benchmarks.bench_deep [--quick] [--datasets digits,usps,...]
        [--n-splits 5] [--seed 0] [--methods NAME,...] [--peer | --peer-only]
        [--open-set] [--save PATH]

Every method sees the same ``StandardScaler``-scaled stratified splits (5 random
splits, 30 % test, never the source's canonical split) and is scored by the same
3-NN classifier: plain Euclidean, PCA to the embedding's dimension (capped at the
number of features), LMNN (when ``skmetric.LMNN`` exists), DeepSiamese and
DeepTriplet with each miner, all at their defaults. ``--peer`` adds a side-by-side
with pytorch-metric-learning (``python -m benchmarks.setup_peers`` makes its env):
the same ReLU MLP, triplet loss, semi-hard miner, margin, batch size and number of
epochs, reporting accuracy and time per epoch. ``--quick`` is a smoke run of a few
seconds: digits, one split, three epochs, no LMNN and no peer.

``--open-set`` measures what the embeddings are for, classes never seen in
training: on each of ``--n-splits`` class-disjoint splits
(:func:`~benchmarks._data.open_set_splits`, half the classes seen, training part
subsampled to 2000 rows), scaler and PCA(100) are fit on the training classes
only, and the unseen half is scored leave-one-out by MAP@R and precision@1, for
Euclidean, DeepSiamese and DeepTriplet at their defaults, and the matched
DeepTriplet beside pytorch-metric-learning's (same MLP, skip path, PK batches,
loss, miner, margin, Adam, epochs, one thread each, both timed over the whole
fit after an untimed warm-up fit).
"""

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import skmetric
from benchmarks._data import load_dataset, make_splits, open_set_splits, scaled
from benchmarks._harness import (
    evaluate_estimator,
    evaluate_peer,
    markdown_table,
    save_results,
    summarize,
)
from benchmarks._peer_worker import PEERS, TRIPLET_DEFAULTS
from benchmarks._peers import _call_worker, env_python
from skmetric.deep import DeepSiamese, DeepTriplet
from skmetric.metrics import map_at_r, precision_at_k

DATASETS = ("digits", "usps", "mnist_test10k", "olivetti", "yaleb32")
# Sets with at least 10 classes (5 seen in training).
OPEN_SET_DATASETS = ("olivetti", "yaleb32", "isolet", "digits", "vowel", "usps",
                     "mnist_test10k", "optdigits", "pendigits")
OPEN_SET_MAX_TRAIN = 2000
OPEN_SET_MAX_DIM = 100
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


def matched_m_per_class(n_classes, config=PEER_CONFIG):
    """Rows per class of the matched PK batches on ``n_classes`` classes.

    pytorch-metric-learning's ``MPerClassSampler`` needs ``m * n_classes >=
    batch_size`` and ``batch_size % m == 0``: the configured m, doubled until
    both hold (with 5 classes and batches of 128, m = 32).
    """
    m = config["m_per_class"]
    while m * n_classes < config["batch_size"] or config["batch_size"] % m:
        m *= 2
    return m


def matched_triplet(m_per_class=PEER_CONFIG["m_per_class"]):
    """DeepTriplet set up as the pytorch-metric-learning peer is."""
    return DeepTriplet(
        PEER_CONFIG["n_components"],
        hidden_layer_sizes=tuple(PEER_CONFIG["hidden_layer_sizes"]),
        batch_size=PEER_CONFIG["batch_size"],
        learning_rate_init=PEER_CONFIG["learning_rate"],
        margin=PEER_CONFIG["margin"],
        miner=PEER_CONFIG["miner"],
        n_samples_per_class=m_per_class,
        skip=PEER_CONFIG["skip"],
        max_iter=PEER_CONFIG["max_epochs"],
        early_stopping=False,  # run every epoch, as the peer
        n_iter_no_change=PEER_CONFIG["max_epochs"],
        alpha=PEER_CONFIG["weight_decay"],  # 0: Adam without weight decay
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
    m_per_class = matched_m_per_class(dataset.n_classes)
    ours = evaluate_estimator(
        lambda: matched_triplet(m_per_class), dataset, splits, 3,
        method="DeepTriplet (matched)", warmup=True,
    )
    for record in ours:
        extra = record["extra"]
        extra["time_per_epoch"] = record["fit_time"] / extra["n_iter"]
    theirs = evaluate_peer(
        "torch_pml.triplet",
        {**PEER_CONFIG, "m_per_class": m_per_class},
        dataset,
        splits,
        3,
        method="torch_pml.triplet",
        warmup=True,
    )
    return ours + theirs


def open_set_factories():
    """``{method: factory}`` of the in-process methods of the open-set table."""
    return {
        "euclidean": lambda: None,
        "DeepSiamese": lambda: DeepSiamese(random_state=0),
        "DeepTriplet": lambda: DeepTriplet(random_state=0),
        "DeepTriplet (matched)": matched_triplet,
    }


def run_open_set(dataset, methods, *, n_splits, seed, peer=True):
    """Open-set retrieval records of every method on one dataset's splits."""
    splits = open_set_splits(dataset, n_splits, seed, max_train=OPEN_SET_MAX_TRAIN)
    records = []
    for name, factory in open_set_factories().items():
        if methods and name not in methods:
            continue
        print(f"[bench_deep] open set {dataset.name}: {name}", flush=True)
        for i, (train, test) in enumerate(splits):
            X_train, X_test = scaled(dataset.X[train], dataset.X[test],
                                     OPEN_SET_MAX_DIM)
            y_train, y_test = dataset.y[train], dataset.y[test]
            n_classes = len(np.unique(y_train))
            record = {"dataset": dataset.name, "method": name, "split": i,
                      "n_train_classes": n_classes}
            estimator = (factory(matched_m_per_class(n_classes))
                         if name == "DeepTriplet (matched)" else factory())
            if estimator is not None:
                if i == 0:  # untimed warm-up: numba's compilation and caches
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        clone(estimator).fit(X_train, y_train)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start, start_cpu = time.perf_counter(), time.process_time()
                    estimator.fit(X_train, y_train)
                    record["fit_time"] = time.perf_counter() - start
                    record["cpu_time"] = time.process_time() - start_cpu
                record["converged"] = not any(
                    issubclass(w.category, ConvergenceWarning) for w in caught)
                record["n_iter"] = estimator.n_iter_
                X_test = estimator.transform(X_test)
            records.append({**record, **_retrieval(X_test, y_test)})
    if peer and (not methods or "torch_pml.triplet" in methods):
        print(f"[bench_deep] open set {dataset.name}: torch_pml.triplet", flush=True)
        for i, (train, test) in enumerate(splits):
            X_train, X_test = scaled(dataset.X[train], dataset.X[test],
                                     OPEN_SET_MAX_DIM)
            n_classes = len(np.unique(dataset.y[train]))
            config = {**PEER_CONFIG, "m_per_class": matched_m_per_class(n_classes)}
            result, Z_test = peer_embedding("torch_pml.triplet", config,
                                            X_train, dataset.y[train], X_test)
            record = {"dataset": dataset.name, "method": "torch_pml.triplet",
                      "split": i, "status": result["status"],
                      "reason": result["reason"], "fit_time": result["fit_time"],
                      "cpu_time": result["extra"].get("cpu_time"),
                      "n_iter": result["extra"].get("n_iter"), "converged": None,
                      "threads": result["extra"].get("torch_threads"),
                      "m_per_class": config["m_per_class"]}
            if Z_test is not None:
                record.update(_retrieval(Z_test, dataset.y[test]))
            records.append(record)
            if result["status"] == "missing":
                break
    return records


def _retrieval(Z, y):
    return {"map_at_r": map_at_r(Z, y), "precision_at_1": precision_at_k(Z, y, 1)}


def peer_embedding(peer, params, X_train, y_train, X_test, timeout=600):
    """Fit a peer in its env (untimed warm-up first); return its result and the
    embedded test rows (None unless it succeeded)."""
    python = env_python(PEERS[peer].env)
    if not python.exists():
        return {"status": "missing", "reason": f"no peer env at {python}",
                "fit_time": None, "extra": {}}, None
    with tempfile.TemporaryDirectory(prefix="skmetric-peer-") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "data.npz", X_train=X_train,
                 y_train=np.asarray(y_train, dtype=np.int64), X_test=X_test)
        spec = {"peer": peer, "params": params, "data": str(tmp / "data.npz"),
                "output": str(tmp / "output.npz"), "warmup": True}
        (tmp / "spec.json").write_text(json.dumps(spec))
        result = _call_worker(python, tmp / "spec.json", tmp, timeout)
        if result["status"] != "ok":
            return result, None
        with np.load(tmp / "output.npz", allow_pickle=False) as output:
            return result, output["test"]


def open_set_table(records):
    """Markdown table: MAP@R and P@1 (mean ± std over splits), fit time, and
    MAP@R minus Euclidean's, per dataset and method."""
    lines = [
        "| dataset | seen classes | method | MAP@R | learned − Euclidean | P@1 | "
        "median fit (s) | converged | splits |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    groups = {}
    for record in records:
        groups.setdefault(record["dataset"], {}).setdefault(
            record["method"], []).append(record)
    for dataset, methods in groups.items():
        base = [r["map_at_r"] for r in methods.get("euclidean", [])]
        seen = methods.get("euclidean", [{}])[0].get("n_train_classes", "")
        for method, group in methods.items():
            ok = [r for r in group if "map_at_r" in r]
            if not ok:
                lines.append(f"| {dataset} | {seen} | {method} | "
                             f"{group[0].get('status')}: {group[0].get('reason')} "
                             "| | | | | 0 |")
                continue
            maps = [r["map_at_r"] for r in ok]
            p1 = [r["precision_at_1"] for r in ok]
            diff = ""
            if base and method != "euclidean":
                diff = f"{statistics.fmean(maps) - statistics.fmean(base):+.3f}"
            times = [r["fit_time"] for r in ok if r.get("fit_time") is not None]
            fit = f"{statistics.median(times):.2f}" if times else "-"
            conv = [r["converged"] for r in ok if r.get("converged") is not None]
            conv = f"{sum(conv)}/{len(conv)}" if conv else "-"
            lines.append(
                f"| {dataset} | {seen} | {method} | {statistics.fmean(maps):.3f} ± "
                f"{statistics.pstdev(maps):.3f} | {diff} | "
                f"{statistics.fmean(p1):.3f} ± {statistics.pstdev(p1):.3f} | {fit} | "
                f"{conv} | {len(ok)}/{len(group)} |"
            )
    return "\n".join(lines)


def speed_table(records):
    """Per dataset: MAP@R of the matched DeepTriplet and of the peer, whether
    the gap is within one standard deviation, and the ratios of median fit
    times, wall-clock and CPU (peer / skmetric; above 1: skmetric faster)."""
    lines = ["| dataset | matched DeepTriplet MAP@R | torch_pml MAP@R | within 1 std "
             "| median fit ours / pml (s) | wall ratio (pml / ours) | CPU ratio |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    groups = {}
    for record in records:
        groups.setdefault(record["dataset"], {}).setdefault(
            record["method"], []).append(record)
    for dataset, methods in groups.items():
        ours = [r for r in methods.get("DeepTriplet (matched)", []) if "map_at_r" in r]
        theirs = [r for r in methods.get("torch_pml.triplet", []) if "map_at_r" in r]
        if not ours or not theirs:
            continue
        a = [r["map_at_r"] for r in ours]
        b = [r["map_at_r"] for r in theirs]
        gap = abs(statistics.fmean(a) - statistics.fmean(b))
        within = gap <= max(statistics.pstdev(a), statistics.pstdev(b))
        wall = [statistics.median(r["fit_time"] for r in group)
                for group in (ours, theirs)]
        cpu = [statistics.median(r.get("cpu_time") or np.nan for r in group)
               for group in (ours, theirs)]
        lines.append(f"| {dataset} | {statistics.fmean(a):.3f} ± "
                     f"{statistics.pstdev(a):.3f} | {statistics.fmean(b):.3f} ± "
                     f"{statistics.pstdev(b):.3f} | {'yes' if within else 'no'} | "
                     f"{wall[0]:.2f} / {wall[1]:.2f} | {wall[1] / wall[0]:.2f} | "
                     f"{cpu[1] / cpu[0]:.2f} |")
    return "\n".join(lines)


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
    parser.add_argument(
        "--open-set", action="store_true",
        help="retrieval on unseen classes instead of the closed-set kNN table",
    )
    parser.add_argument("--no-peer", action="store_true",
                        help="leave pytorch-metric-learning out of --open-set")
    parser.add_argument("--save", default=None, help="path of the JSON/CSV output")
    args = parser.parse_args(argv)
    if args.open_set:
        return main_open_set(args)
    datasets = args.datasets or ("digits" if args.quick else ",".join(DATASETS))
    n_splits = 1 if args.quick else args.n_splits
    methods = {m for m in args.methods.split(",") if m}
    records, peer_records = [], []
    # A ConvergenceWarning (a run stopped by max_iter) is shown, not hidden.
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


def main_open_set(args):
    """The ``--open-set`` run: print the table, optionally save the records."""
    datasets = args.datasets or ("digits" if args.quick else
                                 ",".join(OPEN_SET_DATASETS))
    n_splits = 1 if args.quick else args.n_splits
    methods = {m for m in args.methods.split(",") if m}
    records = []
    for name in datasets.split(","):
        records += run_open_set(load_dataset(name), methods, n_splits=n_splits,
                                seed=args.seed,
                                peer=not (args.quick or args.no_peer))
        if args.save:  # after every dataset, so that a long run keeps its records
            Path(args.save).write_text(json.dumps(records, indent=1, default=float))
    print(f"Threads: skmetric trains with 1 BLAS thread; torch_pml.triplet with "
          f"torch.set_num_threads({PEER_CONFIG['n_threads']}).")
    print(open_set_table(records))
    print(speed_table(records))
    if args.save:
        print(f"[bench_deep] wrote {args.save}")


if __name__ == "__main__":
    main()
