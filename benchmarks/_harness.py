"""Evaluate methods split by split, summarise them and write the results.

Every evaluation yields one record (a flat dict) per split with the same keys,
whether the method ran in this process or as a peer in its own env:
``method, dataset, split, n_train, n_test, n_features, status, reason,
accuracy, fit_time, version, extra``. :func:`summarize` turns records into one
row per (dataset, method) and :func:`markdown_table` prints the rows.
"""

import csv
import json
import math
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from importlib import metadata
from pathlib import Path

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from benchmarks._data import knn_accuracy, scaled
from benchmarks._peers import run_peer

RECORD_KEYS = (
    "method",
    "dataset",
    "split",
    "n_train",
    "n_test",
    "n_features",
    "status",
    "reason",
    "accuracy",
    "fit_time",
    "version",
    "extra",
)


def evaluate_estimator(
    factory,
    dataset,
    splits,
    n_neighbors=3,
    *,
    method=None,
    trace_memory=False,
    warmup=False,
    retrieval=False,
    max_dim=None,
):
    """Evaluate an in-process transformer (or plain Euclidean kNN) on each split.

    Per split: scale with :func:`~benchmarks._data.scaled`, time ``fit`` alone
    with ``time.perf_counter`` (and its process CPU time, all threads together,
    as ``extra['cpu_time']``), transform both parts and score them by kNN.

    Parameters
    ----------
    factory : callable
        Returns a fresh unfitted scikit-learn transformer, or None for plain
        Euclidean kNN on the scaled data (``fit_time`` is then None).
    dataset : Dataset
    splits : list of (ndarray, ndarray)
        From :func:`~benchmarks._data.make_splits`.
    n_neighbors : int, default=3
        ``k`` of the scoring ``KNeighborsClassifier``.
    method : str, default=None
        Label of the method; defaults to the estimator's class name, or
        ``'euclidean'``.
    trace_memory : bool, default=False
        Record the peak memory traced by ``tracemalloc`` during ``fit`` as
        ``extra['peak_memory_mb']`` (NumPy buffers are traced, numba's are not;
        tracing slows the fit, so time and memory are best measured apart).
    warmup : bool, default=False
        Fit once, untimed, on the first split before timing anything, so that
        numba compilation and first-call costs are not counted (the median over
        several splits mostly hides them anyway).
    retrieval : bool, default=False
        Also score the embedded test part by leave-one-out retrieval: MAP@R and
        precision@1 (:mod:`skmetric.metrics`) in ``extra``.
    max_dim : int, default=None
        Project data with more features on this many principal components after
        scaling (:func:`~benchmarks._data.scaled`).

    Returns
    -------
    records : list of dict
        One record per split.
    """
    records = []
    for i, (train, test) in enumerate(splits):
        X_train, X_test = scaled(dataset.X[train], dataset.X[test], max_dim)
        y_train, y_test = dataset.y[train], dataset.y[test]
        estimator = factory()
        if warmup and i == 0 and estimator is not None:
            clone(estimator).fit(X_train, y_train)
        name = method or (type(estimator).__name__ if estimator else "euclidean")
        fit_time, extra = None, {}
        if estimator is not None:
            if trace_memory:
                tracemalloc.start()
            fit_time, extra["cpu_time"], extra["converged"], _ = fit_recording(
                estimator, X_train, y_train)
            if trace_memory:
                extra["peak_memory_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
            extra["n_iter"] = getattr(estimator, "n_iter_", None)
            X_train, X_test = estimator.transform(X_train), estimator.transform(X_test)
        accuracy = knn_accuracy(X_train, y_train, X_test, y_test, n_neighbors)
        if retrieval:
            extra.update(retrieval_scores(X_test, y_test))
        records.append(
            _record(
                name,
                dataset,
                i,
                train,
                test,
                status="ok",
                accuracy=accuracy,
                fit_time=fit_time,
                version=_version_of(estimator),
                extra=extra,
            )
        )
    return records


_SHOWN = set()  # (category, message) of the warnings shown: each once per run


def fit_recording(estimator, X, y):
    """Fit ``estimator``, timed; record whether it converged.

    The fit's warnings are recorded, then shown once each per run (never
    silenced). ``converged`` is False when the fit emitted a
    ``ConvergenceWarning``, True when it did not and the estimator iterates
    (has ``n_iter_``), None otherwise (nothing to converge).

    Returns
    -------
    fit_time, cpu_time : float
        Wall-clock and process CPU seconds (all threads) of ``fit``.
    converged : bool or None
    messages : list of str
        The distinct warnings, as ``'Category: message'``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start, start_cpu = time.perf_counter(), time.process_time()
        estimator.fit(X, y)
        fit_time = time.perf_counter() - start
        cpu_time = time.process_time() - start_cpu
    for w in caught:
        key = (w.category, str(w.message))
        if key not in _SHOWN:
            _SHOWN.add(key)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    converged = False if warned else (True if hasattr(estimator, "n_iter_")
                                      else None)
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return fit_time, cpu_time, converged, messages


def retrieval_scores(Z, y):
    """``{'map_at_r': ..., 'precision_at_1': ...}`` of an embedding, leave-one-out."""
    from skmetric.metrics import map_at_r, precision_at_k

    return {"map_at_r": map_at_r(Z, y), "precision_at_1": precision_at_k(Z, y, 1)}


def evaluate_peer(
    peer,
    params,
    dataset,
    splits,
    n_neighbors=3,
    *,
    method=None,
    timeout=None,
    warmup=False,
    max_dim=None,
):
    """Evaluate a peer library on each split through :func:`run_peer`.

    ``max_dim`` is as in :func:`evaluate_estimator`.

    Parameters
    ----------
    peer : str
        A peer name, for example ``'metric_learn.LMNN'``.
    params : dict or None
        The peer's keyword arguments (see :mod:`benchmarks._peer_worker`).
    dataset : Dataset
    splits : list of (ndarray, ndarray)
    n_neighbors : int, default=3
    method : str, default=None
        Label of the method; defaults to ``peer``.
    timeout : float, default=None
        Seconds allowed per split.
    warmup : bool, default=False
        Fit once, untimed, before each timed fit (see :func:`run_peer`).

    Returns
    -------
    records : list of dict
        One record per split; a single record when the peer is missing, since
        every split would say the same.
    """
    records = []
    for i, (train, test) in enumerate(splits):
        X_train, X_test = scaled(dataset.X[train], dataset.X[test], max_dim)
        result = run_peer(
            peer,
            X_train,
            dataset.y[train],
            X_test,
            dataset.y[test],
            params=params,
            n_neighbors=n_neighbors,
            timeout=timeout,
            warmup=warmup,
        )
        records.append(_record(method or peer, dataset, i, train, test, **result))
        if result["status"] == "missing":
            break
    return records


def _record(method, dataset, split, train, test, **result):
    record = {
        "method": method,
        "dataset": dataset.name,
        "split": split,
        "n_train": len(train),
        "n_test": len(test),
        "n_features": dataset.n_features,
        "reason": "",
        **result,
    }
    return {key: record.get(key) for key in RECORD_KEYS}


def _version_of(estimator):
    module = "sklearn" if estimator is None else type(estimator).__module__
    return _package_version(module.split(".")[0])


def _package_version(module):
    """Return the installed version of top-level module ``module``, or None."""
    try:
        return metadata.version({"sklearn": "scikit-learn"}.get(module, module))
    except metadata.PackageNotFoundError:
        return getattr(sys.modules.get(module), "__version__", None)


def summarize(records):
    """Return one summary row per (dataset, method), in first-seen order.

    Parameters
    ----------
    records : list of dict
        From :func:`evaluate_estimator` and :func:`evaluate_peer`.

    Returns
    -------
    rows : list of dict
        ``dataset, method, status, reason, n_splits, n_ok, accuracy_mean,
        accuracy_std, fit_time_median, cpu_time_median, version``.
        ``status`` is ``'ok'`` only when every split is; otherwise the first
        other status, with its reason. The statistics cover the splits that
        succeeded (population standard deviation; None where no split
        succeeded or nothing was timed). CPU time counts all threads and is
        far less disturbed than wall time by other work on the machine.
    """
    groups = {}
    for record in records:
        groups.setdefault((record["dataset"], record["method"]), []).append(record)
    rows = []
    for (dataset, method), group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        bad = [r for r in group if r["status"] != "ok"]
        accuracies = [r["accuracy"] for r in ok]
        times = [r["fit_time"] for r in ok if r["fit_time"] is not None]
        cpu_times = [r["extra"]["cpu_time"] for r in ok if "cpu_time" in r["extra"]]
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "status": bad[0]["status"] if bad else "ok",
                "reason": bad[0]["reason"] if bad else "",
                "n_splits": len(group),
                "n_ok": len(ok),
                "accuracy_mean": statistics.fmean(accuracies) if ok else None,
                "accuracy_std": statistics.pstdev(accuracies) if ok else None,
                "fit_time_median": statistics.median(times) if times else None,
                "cpu_time_median": (
                    statistics.median(cpu_times) if cpu_times else None
                ),
                "version": next((r["version"] for r in group if r["version"]), None),
                "n_converged": sum(bool(r["extra"].get("converged")) for r in ok),
                "n_known": sum(r["extra"].get("converged") is not None for r in ok),
                "map_at_r_mean": _mean_extra(ok, "map_at_r"),
                "precision_at_1_mean": _mean_extra(ok, "precision_at_1"),
            }
        )
    return rows


def _mean_extra(records, key):
    values = [r["extra"][key] for r in records if r["extra"].get(key) is not None]
    return statistics.fmean(values) if values else None


def markdown_table(rows, ratio_to=None):
    """Format summary rows as a markdown table.

    Columns: accuracy mean ± std, median wall-clock fit time, median CPU time of the
    fit, optionally the ratio of median fit times, the fits that converged (when any
    record says; "n/a" for a method with nothing to converge), splits that
    succeeded, version. A method that is missing, failed or timed out shows its
    status and reason in the accuracy column.

    Parameters
    ----------
    rows : list of dict
        From :func:`summarize`.
    ratio_to : str, default=None
        A method name: adds a column with each method's median fit time
        divided by that method's on the same dataset (above 1 means slower).

    Returns
    -------
    table : str
    """
    header = ["dataset", "method", "accuracy", "median fit (s)", "median CPU (s)"]
    align = ["---", "---", "---:", "---:", "---:"]
    if ratio_to is not None:
        header.append(f"time / {ratio_to}")
        align.append("---:")
    retrieval = any(row.get("map_at_r_mean") is not None for row in rows)
    if retrieval:
        header += ["MAP@R", "P@1"]
        align += ["---:", "---:"]
    converged = any(row.get("n_known") for row in rows)
    if converged:
        header.append("converged")
        align.append("---:")
    header += ["splits", "version"]
    align += ["---:", "---"]
    reference = {
        row["dataset"]: row["fit_time_median"]
        for row in rows
        if row["method"] == ratio_to
    }
    lines = [_markdown_row(header), _markdown_row(align)]
    for row in rows:
        cells = [
            row["dataset"],
            row["method"],
            _accuracy_cell(row),
            _fmt(row["fit_time_median"], ".3g"),
            _fmt(row["cpu_time_median"], ".3g"),
        ]
        if ratio_to is not None:
            ref, fit_time = reference.get(row["dataset"]), row["fit_time_median"]
            cells.append(_fmt(fit_time / ref if ref and fit_time else None, ".3g"))
        if retrieval:
            cells += [_fmt(row.get("map_at_r_mean"), ".4f"),
                      _fmt(row.get("precision_at_1_mean"), ".4f")]
        if converged:
            cells.append(f"{row['n_converged']}/{row['n_known']}"
                         if row.get("n_known") else "n/a")
        cells += [f"{row['n_ok']}/{row['n_splits']}", row["version"] or "-"]
        lines.append(_markdown_row(cells))
    return "\n".join(lines)


def _accuracy_cell(row):
    cell = "-"
    if row["accuracy_mean"] is not None:
        cell = f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}"
    if row["status"] == "ok":
        return cell
    reason = " ".join(row["reason"].split()).replace("|", "/")
    if not row["n_ok"]:
        return f"{row['status']}: {reason}"
    n_bad = row["n_splits"] - row["n_ok"]
    return f"{cell} ({row['status']} on {n_bad} splits: {reason})"


def _markdown_row(cells):
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _fmt(value, spec):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def library_versions():
    """Return the versions of Python, the platform and the libraries in this process.

    Returns
    -------
    versions : dict of str to str
    """
    versions = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    for module in ("skmetric", "numpy", "scipy", "sklearn", "numba"):
        versions[module] = _package_version(module)
    return versions


def save_results(path, records, versions=None):
    """Write every raw record to ``<path>.json`` and ``<path>.csv``.

    Parameters
    ----------
    path : str or Path
        Output path; a ``.json`` or ``.csv`` suffix is replaced.
    records : list of dict
        From :func:`evaluate_estimator` and :func:`evaluate_peer`.
    versions : dict, default=None
        Library versions to store; defaults to :func:`library_versions`.
        Each record also holds its own method's version.

    Returns
    -------
    paths : tuple of Path
        The JSON and CSV files written.
    """
    path = Path(path)
    if path.suffix in (".json", ".csv"):
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = path.with_suffix(".json"), path.with_suffix(".csv")
    document = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": library_versions() if versions is None else versions,
        "records": records,
    }
    json_path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=RECORD_KEYS)
        writer.writeheader()
        for record in records:
            writer.writerow(
                {**record, "extra": json.dumps(record["extra"], default=str)}
            )
    return json_path, csv_path
