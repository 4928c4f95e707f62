"""PNG figures of a main-job run (matplotlib, from the ``bench`` extra).

- ``<task>.png``: one heat-map per task, learned − Euclidean per dataset ×
  method on the task's headline metric, the numbers written in the cells;
- ``fit_time.png``: median fit time per method and dataset (closed-set task);
- ``lmnn_scaling.png``: LMNN fit time and the fit's own peak memory against n;
- ``projection.png``: digits test points embedded in 2-D by PCA, LMNN and
  DeepTriplet (unnormalised: a normalised 2-D embedding is a circle), equal
  aspect, limits robust to outliers, classes labelled.
"""

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FormatStrFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
)

from benchmarks._report import BASELINE, task_rows  # noqa: E402
from benchmarks._tasks import TASKS, ExternalTask  # noqa: E402

HERE = Path(__file__).resolve().parent

# One LMNN fit on make_classification data in a fresh interpreter (never a fork:
# a forked child's peak counts its parent's pages). The fit's own memory is the
# process's peak (VmHWM) minus its resident memory just before the fit.
_SCALING_PROBE = r"""
import json, sys, time, warnings
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
from skmetric import LMNN
from benchmarks._memory import current_rss_mb, peak_rss_mb
n = int(sys.argv[1])
X, y = make_classification(n_samples=n, n_features=50, n_informative=20,
                           n_classes=10, n_clusters_per_class=1, random_state=0)
X = StandardScaler().fit_transform(X)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # untimed warm-up on 200 rows
    LMNN(max_iter=2, random_state=0).fit(X[:200], y[:200])
before = current_rss_mb()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    start = time.perf_counter()
    model = LMNN(random_state=0).fit(X, y)
    elapsed = time.perf_counter() - start
converged = not any("Convergence" in w.category.__name__ for w in caught)
print(json.dumps({"n": n, "fit_time": elapsed, "peak_rss_mb": peak_rss_mb(),
                  "rss_before_mb": before, "fit_peak_mb": peak_rss_mb() - before,
                  "n_iter": int(model.n_iter_), "converged": converged}))
"""


def heatmap_values(rows, metric):
    """``(datasets, methods, matrix)`` of learned − Euclidean (NaN: not run)."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != BASELINE]
    methods = [m for m in methods
               if any(metric in r["delta"] for r in rows if r["method"] == m)]
    matrix = np.full((len(datasets), len(methods)), np.nan)
    for r in rows:
        if r["method"] in methods and metric in r["delta"]:
            matrix[datasets.index(r["dataset"]), methods.index(r["method"])] = (
                r["delta"][metric])
    return datasets, methods, matrix


def heatmap(rows, metric, title, path, over="splits"):
    datasets, methods, matrix = heatmap_values(rows, metric)
    if not methods:
        return None
    limit = max(np.nanmax(np.abs(matrix)) if np.isfinite(matrix).any() else 0, 0.01)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 + 0.95 * len(methods)),
                                    1.9 + 0.36 * len(datasets)))
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu", vmin=-limit,
                      vmax=limit, aspect="auto")
    ax.set_facecolor("0.85")
    for (i, j), value in np.ndenumerate(matrix):
        text = "–" if np.isnan(value) else f"{value:+.3f}"
        dark = np.isfinite(value) and abs(value) > 0.6 * limit
        ax.text(j, i, text, ha="center", va="center", fontsize=7,
                color="white" if dark else "black")
    ax.set_xticks(range(len(methods)), methods, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(datasets)), datasets, fontsize=8)
    ax.set_title(f"{title}\nlearned − Euclidean, mean over {over} (blue: better; "
                 "grey: not run)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fit_time_plot(rows, path):
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in dict.fromkeys(r["method"] for r in rows)
               if any(r["fit_time_median"] for r in rows if r["method"] == m)]
    if not methods:
        return None
    fig, ax = plt.subplots(figsize=(11, 4.5))
    markers = "osD^v<>ph*X"
    for k, method in enumerate(methods):
        xs, ys = [], []
        for i, d in enumerate(datasets):
            row = next((r for r in rows if r["dataset"] == d and r["method"] == method),
                       None)
            if row and row["fit_time_median"]:
                xs.append(i + (k - len(methods) / 2) * 0.06)
                ys.append(row["fit_time_median"])
        ax.scatter(xs, ys, label=method, s=20, marker=markers[k % len(markers)])
    ax.set_yscale("log")
    ax.set_xticks(range(len(datasets)), datasets, rotation=40, ha="right")
    ax.set_ylabel("median fit time (s, log scale)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def measure_lmnn_scaling(sizes):
    """LMNN fit time and the fit's own peak memory, each n in a fresh interpreter."""
    points = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", _SCALING_PROBE, str(n)],
                             capture_output=True, text=True, check=True,
                             cwd=HERE.parent)
        points.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return points


def scaling_plot(points, path):
    n = [p["n"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.loglog(n, [p["fit_time"] for p in points], "o-")
    left.set_ylabel("LMNN fit time (s)")
    left.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    left.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    left.yaxis.set_minor_formatter(NullFormatter())
    # The limits end on 1-2-5 ticks, so the top and bottom values are labelled.
    left.set_ylim(*_tick_bounds([p["fit_time"] for p in points]))
    right.plot(n, [p["fit_peak_mb"] for p in points], "o-")
    right.set_xscale("log")
    right.set_ylim(bottom=0)
    right.set_ylabel("fit's peak memory above\nthe process before it (MB)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(FixedLocator(n))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{v:,}" for v in n])
        ax.set_xlabel("n (50 features, 10 classes)")
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"LMNN defaults, n = {n[0]:,} to {n[-1]:,} (make_classification, a fresh "
        "process per n): the main job's small run.\nThe 100k and 1M figures are "
        "bench_lmnn_scale's, another protocol (benchmarks/README.md).", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _tick_bounds(values):
    """The 1-2-5 values just below the smallest and just above the largest."""
    ticks = sorted(m * 10.0 ** e for e in range(-4, 6) for m in (1.0, 2.0, 5.0))
    low = max(t for t in ticks if t <= min(values))
    high = min(t for t in ticks if t >= max(values))
    return low, high


def _projection_models(quick):
    import skmetric
    from sklearn.decomposition import PCA

    models = {"PCA (Euclidean)": PCA(2, random_state=0)}
    if hasattr(skmetric, "LMNN"):
        models["LMNN"] = skmetric.LMNN(2, random_state=0)
    try:
        from skmetric.deep import DeepTriplet
    except ImportError:
        return models
    # normalize=False: the default L2-normalised embedding puts every point of a
    # 2-D map on the unit circle, which a scatter plot draws as a ring.
    models["DeepTriplet (normalize=False)"] = DeepTriplet(
        2, normalize=False, random_state=0, **({"max_iter": 3} if quick else {}))
    return models


def projection_plot(path, quick=False):
    """Digits test points in 2-D: one panel per model, each class labelled."""
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    models = _projection_models(quick)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.4))
    colors = plt.get_cmap("tab10")
    for ax, (name, model) in zip(np.atleast_1d(axes), models.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 2-D figure, not a reported fit
            model.fit(X_train, y_train)
        Z_train, Z = model.transform(X_train), model.transform(X_test)
        score = KNeighborsClassifier(3).fit(Z_train, y_train).score(Z, y_test)
        for c in range(10):
            ax.scatter(*Z[y_test == c].T, s=5, color=colors(c), alpha=0.5)
        for c in range(10):
            ax.text(*np.median(Z[y_test == c], axis=0), str(c), fontsize=13,
                    weight="bold", ha="center", va="center", color=colors(c),
                    bbox={"boxstyle": "circle,pad=0.15", "fc": "white",
                          "ec": colors(c), "alpha": 0.85})
        low, high = np.percentile(Z, [1, 99], axis=0)
        centre, half = (low + high) / 2, 0.55 * (high - low).max()
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: 3-NN accuracy in 2-D {score:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("digits test points, each class's label at its median", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# Fields of an external task's records that set its conditions (bench_clustering:
# raw or standardised features, little or much side information): each condition
# gets its own column, compared with the baseline under the same condition, rather
# than a mean over conditions the figure would not name.
_CONDITION_KEYS = ("scaling", "side_info")


def external_rows(records, metric, baseline):
    """Rows like :func:`task_rows` of an external task's records, for the heat-map:
    one column per method and condition (means over repetitions only)."""
    groups = {}
    for r in records:
        if r.get(metric) is None:
            continue
        condition = ", ".join(str(r[k]) for k in _CONDITION_KEYS if k in r)
        groups.setdefault((r["dataset"], r["method"], condition), []).append(r[metric])
    base = {(d, c): np.mean(v) for (d, m, c), v in groups.items() if m == baseline}
    rows = []
    for (d, m, c), v in groups.items():
        label = BASELINE if m == baseline else (f"{m} ({c})" if c else m)
        rows.append({"dataset": d, "method": label,
                     "delta": ({metric: np.mean(v) - base[(d, c)]}
                               if (d, c) in base else {})})
    return rows


def all_plots(document, out, quick=False):
    """Write every figure into ``out``; return their paths."""
    out = Path(out)
    paths = []
    for name, task in TASKS.items():
        if isinstance(task, ExternalTask):
            rows = external_rows(document.get("external", {}).get(name, []),
                                 task.metric, task.baseline)
            metric, title, over = task.metric, task.title, "repetitions"
        else:
            rows = task_rows(document["records"], name)
            metric, title = task.metrics[0][0], f"{task.title}: {task.metrics[0][1]}"
            over = "splits"
        if rows:
            paths.append(heatmap(rows, metric, title, out / f"{name}.png", over=over))
    closed = task_rows(document["records"], "closed")
    if closed:
        paths.append(fit_time_plot(closed, out / "fit_time.png"))
    import skmetric

    if hasattr(skmetric, "LMNN"):
        sizes = (500, 1000) if quick else (1000, 2000, 4000, 8000)
        points = measure_lmnn_scaling(sizes)
        (out / "lmnn_scaling.json").write_text(json.dumps(points, indent=1) + "\n")
        paths.append(scaling_plot(points, out / "lmnn_scaling.png"))
    paths.append(projection_plot(out / "projection.png", quick=quick))
    return [p for p in paths if p is not None]
