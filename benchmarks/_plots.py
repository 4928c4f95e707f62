"""PNG figures of a benchmark run (matplotlib, from the ``bench`` extra).

- ``accuracy.png``: each method's kNN accuracy minus Euclidean's, per dataset;
- ``fit_time.png``: median fit time per method and dataset, log scale;
- ``lmnn_scaling.png``: LMNN fit time and peak memory against n (synthetic data);
- ``projection.png``: digits embedded in 2-D by PCA, LMNN and DeepTriplet.
"""

import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._harness import summarize  # noqa: E402

# Fit one LMNN on make_classification data in a fresh interpreter and print its fit
# time and the process's peak resident memory (what the OS saw, numba included).
_SCALING_PROBE = r"""
import json, resource, sys, time, warnings
import numpy as np
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
from skmetric import LMNN
n = int(sys.argv[1])
X, y = make_classification(n_samples=n, n_features=50, n_informative=20,
                           n_classes=10, n_clusters_per_class=1, random_state=0)
X = StandardScaler().fit_transform(X)
LMNN(max_iter=2, random_state=0).fit(X[:200], y[:200])  # compile outside the timing
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
warnings.simplefilter("ignore")
start = time.perf_counter()
model = LMNN(random_state=0).fit(X, y)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"n": n, "fit_time": elapsed, "peak_rss_mb": peak,
                  "rss_before_mb": before, "n_iter": int(model.n_iter_)}))
"""


def _method_order(rows):
    return list(dict.fromkeys(r["method"] for r in rows))


def accuracy_plot(rows, path):
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in _method_order(rows) if m != "euclidean"]
    by = {(r["dataset"], r["method"]): r["accuracy_mean"] for r in rows}
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.45 * len(datasets) * 1.2))
    height = 0.8 / max(len(methods), 1)
    for k, method in enumerate(methods):
        values = [
            100 * (by[(d, method)] - by[(d, "euclidean")])
            if by.get((d, method)) is not None and by.get((d, "euclidean")) is not None
            else np.nan
            for d in datasets
        ]
        ax.barh(np.arange(len(datasets)) + k * height, values, height, label=method)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(np.arange(len(datasets)) + 0.4 - height / 2, datasets)
    ax.invert_yaxis()
    ax.set_xlabel("kNN accuracy minus Euclidean kNN accuracy (points)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fit_time_plot(rows, path):
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in _method_order(rows) if m != "euclidean"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for k, method in enumerate(methods):
        xs, ys = [], []
        for i, d in enumerate(datasets):
            row = next((r for r in rows if r["dataset"] == d and r["method"] == method),
                       None)
            if row and row["fit_time_median"]:
                xs.append(i + (k - len(methods) / 2) * 0.05)
                ys.append(row["fit_time_median"])
        ax.scatter(xs, ys, label=method, s=18)
    ax.set_yscale("log")
    ax.set_xticks(range(len(datasets)), datasets, rotation=40, ha="right")
    ax.set_ylabel("median fit time (s, log scale)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def measure_lmnn_scaling(sizes):
    """LMNN fit time and peak memory for each n, each in a fresh interpreter."""
    points = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", _SCALING_PROBE, str(n)],
                             capture_output=True, text=True, check=True)
        points.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return points


def scaling_plot(points, path):
    n = [p["n"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.loglog(n, [p["fit_time"] for p in points], "o-")
    left.set_xlabel("n (50 features, 10 classes)")
    left.set_ylabel("LMNN fit time (s)")
    right.semilogx(n, [p["peak_rss_mb"] for p in points], "o-")
    right.set_xlabel("n")
    right.set_ylabel("peak resident memory (MB)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def projection_plot(path, quick=False):
    """Digits test points embedded in 2-D: PCA, then LMNN and DeepTriplet if present."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import skmetric

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    models = {"PCA (Euclidean)": PCA(2, random_state=0)}
    if hasattr(skmetric, "LMNN"):
        models["LMNN"] = skmetric.LMNN(2, random_state=0)
    try:
        from skmetric.deep import DeepTriplet

        models["DeepTriplet"] = DeepTriplet(2, random_state=0,
                                            **({"max_iter": 3} if quick else {}))
    except ImportError:
        pass
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4))
    for ax, (name, model) in zip(np.atleast_1d(axes), models.items()):
        Z = model.fit(X_train, y_train).transform(X_test)
        scatter = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=6)
        ax.set_title(f"digits, {name}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(scatter, ax=np.atleast_1d(axes).tolist(), ticks=range(10),
                 shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def all_plots(records, out, quick=False):
    """Write every figure into ``out``; return their paths."""
    out = Path(out)
    rows = summarize(records)
    paths = [out / "accuracy.png", out / "fit_time.png"]
    accuracy_plot(rows, paths[0])
    fit_time_plot(rows, paths[1])
    import skmetric

    if hasattr(skmetric, "LMNN"):
        sizes = (500, 1000) if quick else (1000, 2000, 4000, 8000)
        points = measure_lmnn_scaling(sizes)
        (out / "lmnn_scaling.json").write_text(json.dumps(points, indent=1))
        paths.append(out / "lmnn_scaling.png")
        scaling_plot(points, paths[-1])
    paths.append(out / "projection.png")
    projection_plot(paths[-1], quick=quick)
    return paths
