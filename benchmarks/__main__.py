"""The main job: skmetric's estimators against Euclidean distance and the peers.

    python -m benchmarks [--quick] [--no-peers] [--tasks closed,openset,...]
        [--datasets NAME,...] [--estimators KEY,...] [--peers LABEL,...]
        [--splits 3] [--max-train 2000] [--max-dim 100] [--timeout 60]
        [--output benchmarks/output] [--update-readme] [--no-plots]
        [--from-json RESULTS_JSON]

Tasks (:mod:`benchmarks._tasks`):

- closed-set kNN: every dataset, the same splits for every method (the
  dataset's own train/test split where it has one, otherwise 3 stratified
  70/30 splits from seed 0), 3-NN accuracy on the learned embedding;
- open-set retrieval and verification on unseen classes: every dataset with at
  least 10 classes, 3 class-disjoint splits (half the classes for training),
  MAP@R / R-precision / P@1 leave-one-out within the unseen part, and ROC AUC,
  calibrated accuracy and TAR at FAR = 1e-2 on balanced pairs of unseen points;
- any task registered with :func:`benchmarks._tasks.register_external`.

Every part is scaled by a ``StandardScaler`` fit on the training part; data with
more than ``--max-dim`` (100) features are projected on that many principal
components fit on the training part; training parts larger than
``--max-train`` are subsampled, stratified. Warm-up, convergence and threads
are handled alike for every method (:mod:`benchmarks._methods`).

Peers run in their own virtualenvs; missing ones are created at the start of
the run (``python -m benchmarks.setup_peers``, about 2 GB, a minute or two
with a warm pip cache), or the run stops at once with the one-line fix.
``--no-peers`` skips them.

Writes to ``--output`` (default ``benchmarks/output``, not tracked):
``results.md``, ``results.json`` (every raw number, versions, machine, load),
``results.csv`` and the figures. The tracked reference results are refreshed
only on request: ``--output benchmarks/results --update-readme`` also rewrites
the README's generated block from this run's tables.
"""

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._data import (
    available_datasets,
    load_dataset,
    make_splits,
    open_set_splits,
)
from benchmarks._harness import library_versions
from benchmarks._methods import PEER_METHODS, embed_splits, skmetric_methods
from benchmarks._progress import Progress
from benchmarks._report import results_markdown, update_readmes
from benchmarks._tasks import TASKS, ExternalTask

HERE = Path(__file__).resolve().parent
BUNDLED = ("iris", "wine", "breast_cancer", "digits")
# estimators None: every skmetric estimator of the main job (linear, classic, deep).
QUICK = {"datasets": "iris,wine,digits", "estimators": None, "max_train": 300}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None,
                        help=f"comma-separated, among {', '.join(TASKS)} "
                             "(default: all)")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated names (default: every one found)")
    parser.add_argument("--estimators", default=None,
                        help="comma-separated keys: euclidean, pca, xing, "
                             "xing_diagonal, lmnn, siamese, triplet, and the "
                             "classic learners nca, mlkr, lfda, covariance, rca, "
                             "itml, sdml, lsml, scml (default: all)")
    parser.add_argument("--peers", default="all",
                        help=f"'all' or comma-separated labels among "
                             f"{', '.join(PEER_METHODS)}")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip the peer libraries (a fast run)")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--max-train", type=int, default=2000,
                        help="subsample larger training parts (0: never)")
    parser.add_argument("--max-dim", type=int, default=100,
                        help="project data with more features on this many "
                             "principal components (0: never)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds allowed for one peer fit")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of every task: iris, wine and digits "
                             "(300 training rows), one split, every skmetric "
                             "estimator, no peers")
    parser.add_argument("--output", default=str(HERE / "output"))
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the README's generated block from this run")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--from-json", default=None, metavar="RESULTS_JSON",
                        help="fit nothing: render the tables, figures (and with "
                             "--update-readme the README block) of an earlier run")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets = args.datasets or QUICK["datasets"]
        args.estimators = args.estimators or QUICK["estimators"]
        args.max_train, args.splits, args.no_peers = QUICK["max_train"], 1, True
    return args


def plan(args):
    """Return ``(dataset names, methods, task names)`` of the run."""
    found = available_datasets()
    names = args.datasets.split(",") if args.datasets else list(found)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise SystemExit(f"unknown datasets {unknown}; available: {found}")
    estimators = skmetric_methods()
    keys = args.estimators.split(",") if args.estimators else list(estimators)
    unknown = [k for k in keys if k not in estimators]
    if unknown:
        raise SystemExit(f"unknown or missing estimators {unknown}; "
                         f"available: {sorted(estimators)}")
    if "euclidean" not in keys:
        keys.insert(0, "euclidean")  # every table is relative to it
    methods = [estimators[k] for k in keys]
    if not args.no_peers:
        labels = list(PEER_METHODS) if args.peers == "all" else args.peers.split(",")
        bad = [p for p in labels if p not in PEER_METHODS]
        if bad:
            raise SystemExit(f"unknown peers {bad}; available: {list(PEER_METHODS)}")
        methods += [PEER_METHODS[p] for p in labels]
    tasks = args.tasks.split(",") if args.tasks else list(TASKS)
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise SystemExit(f"unknown tasks {bad}; available: {list(TASKS)}")
    return names, methods, tasks


def ensure_peers(methods):
    """Create missing peer envs now (first use), or stop with the fix."""
    from benchmarks._peers import missing_envs

    peers = [m.peer for m in methods if m.peer]
    missing = missing_envs(peers)
    if not missing:
        return
    from benchmarks.setup_peers import create_env

    for env, reason in missing.items():
        print(f"[benchmarks] peer env {env!r} {reason}: creating it "
              f"(python -m benchmarks.setup_peers --envs {env})", flush=True)
        status, seconds, size = create_env(env)
        print(f"[benchmarks] peer env {env!r}: {status} in {seconds:.0f} s, "
              f"{size:.0f} MB", flush=True)
        if status not in ("created", "present"):
            raise SystemExit(
                f"peer env {env!r} could not be created; fix with "
                f"`python -m benchmarks.setup_peers --envs {env}` or run with "
                f"--no-peers")


def _splits(kind, dataset, args):
    max_train = args.max_train or None
    if kind == "closed":
        return make_splits(dataset, n_splits=args.splits, seed=0, max_train=max_train)
    return open_set_splits(dataset, n_splits=args.splits, seed=0, max_train=max_train)


def runs_on(method, name):
    """Whether ``method`` runs on the dataset ``name`` (its ``where``)."""
    if method.where == "all":
        return True
    return name in (BUNDLED if method.where == "bundled" else method.where)


def jobs(args, names, methods, tasks):
    """``(kind, dataset, method, tasks of that kind that apply)`` to run."""
    kinds = {}
    for name in tasks:
        if not isinstance(TASKS[name], ExternalTask):
            kinds.setdefault(TASKS[name].split_kind, []).append(TASKS[name])
    planned = []
    for kind, kind_tasks in kinds.items():
        for name in names:
            dataset = load_dataset(name)
            applying = [t for t in kind_tasks if t.applies(dataset)]
            if not applying:
                continue
            for method in methods:
                if kind in method.tasks and runs_on(method, name):
                    planned.append((kind, dataset, method, applying))
    return planned


def run_job(kind, dataset, method, applying, args):
    """Fit one method on every split of one dataset; score every task."""
    splits = _splits(kind, dataset, args)
    fits = embed_splits(method, dataset, splits, max_dim=args.max_dim or None,
                        timeout=args.timeout)
    records = []
    for i, ((train, test), fit) in enumerate(zip(splits, fits)):
        for task in applying:
            scores, status, reason = {}, fit["status"], fit["reason"]
            if status == "ok":
                rng = np.random.default_rng([i, len(task.name)])
                try:
                    scores = task.score(fit["Z_train"], fit["y_train"], fit["Z_test"],
                                        fit["y_test"], rng)
                except ValueError as exc:  # for example a collapsed embedding
                    status, reason = "failed", f"scoring: {exc}"
            records.append({
                "task": task.name, "dataset": dataset.name, "method": method.label,
                "library": method.library, "split": i, "n_train": len(train),
                "n_test": len(test), "n_features": dataset.n_features,
                "status": status, "reason": reason,
                **{k: fit[k] for k in ("fit_time", "cpu_time", "converged",
                                       "n_iter", "threads", "version", "warnings")},
                "scores": scores,
            })
    return records


def run(args):
    names, methods, tasks = plan(args)
    if any(m.peer for m in methods):
        ensure_peers(methods)
    planned = jobs(args, names, methods, tasks)
    external = [TASKS[t] for t in tasks if isinstance(TASKS[t], ExternalTask)]
    records, external_records = [], {}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "records.partial.jsonl"  # what a stopped run leaves behind
    log.write_text("")
    with Progress(len(planned) + len(external)) as progress:
        for kind, dataset, method, applying in planned:
            progress.step(f"{kind}: {dataset.name}, {method.label}")
            new = run_job(kind, dataset, method, applying, args)
            with log.open("a") as file:
                file.writelines(json.dumps(r, default=str) + "\n" for r in new)
            records += new
        for task in external:
            progress.step(f"{task.name}")
            external_records[task.name] = task.run(
                quick=args.quick, peers=not args.no_peers, timeout=args.timeout)
    return records, external_records


def machine():
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.system()}")


def write_outputs(document, args):
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    text = results_markdown(document)
    (out / "results.md").write_text(text)
    (out / "records.partial.jsonl").unlink(missing_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1, default=str)
                                      + "\n")
    with (out / "results.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["task", "dataset", "method", "split", "status", "metric",
                         "value", "fit_time", "converged"])
        for r in document["records"]:
            for key, value in r["scores"].items() or [("", None)]:
                writer.writerow([r["task"], r["dataset"], r["method"], r["split"],
                                 r["status"], key, value, r["fit_time"],
                                 r["converged"]])
    print(text)
    if not args.no_plots:
        try:
            from benchmarks import _plots
        except ImportError as exc:  # matplotlib is in the bench extra
            print(f"plots skipped: {exc}")
        else:
            for path in _plots.all_plots(document, out, quick=args.quick):
                print(f"wrote {path}")
    if args.update_readme:
        figures = _relative(out)
        for path in update_readmes(HERE.parent, document, figures):
            print(f"updated {path}")


def _relative(path):
    try:
        return str(Path(path).resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        write_outputs(json.loads(Path(args.from_json).read_text()), args)
        return 0
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    records, external = run(args)
    document = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "versions": library_versions(),
        "args": {**vars(args), "output": _relative(args.output)},
        "elapsed_s": time.perf_counter() - start,
        "load_average": [load_start,
                         os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
        "records": records,
        "external": external,
    }
    write_outputs(document, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
