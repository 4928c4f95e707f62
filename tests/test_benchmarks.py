"""The main job as a user runs it, and the pieces of its tasks and report."""

import hashlib
import io
import json
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks import _harness, _methods, _report, _tasks
from benchmarks.__main__ import parse_args
from benchmarks._data import _make_dataset, load_dataset, open_set_splits
from benchmarks._progress import Progress

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=True)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.glob("*")) if p.is_file()}


def test_main_benchmark_quick_run_covers_every_task(tmp_path):
    before = _digest(RESULTS)
    out = _run("benchmarks", "--quick", "--no-plots", "--output", str(tmp_path))
    assert _digest(RESULTS) == before  # tracked reference results untouched
    assert "\r" not in out.stderr  # a redirected log gets plain lines
    assert "[benchmarks] 1/" in out.stderr and "left)" in out.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    records = document["records"]
    # Every skmetric estimator of the main job, linear and deep, not Xing alone.
    labels = {m.label for m in _methods.skmetric_methods().values()}
    assert labels <= {r["method"] for r in records}
    tasks = {(r["task"], r["dataset"]) for r in records}
    assert {("closed", "iris"), ("closed", "wine"), ("openset", "digits"),
            ("verification", "digits")} <= tasks
    assert ("openset", "iris") not in tasks  # fewer than 10 classes
    assert all(r["status"] == "ok" for r in records)
    for r in records:
        assert set(r["scores"]) == {k for k, _ in _tasks.TASKS[r["task"]].metrics} | (
            {"n_pairs"} if r["task"] == "verification" else set())
    methods = {(r["method"], r["task"]) for r in records}
    for name in ("NCA", "MLKR", "LFDA", "Covariance", "RCA"):  # classic learners
        assert {(name, "closed"), (name, "openset")} <= methods
    xing = [r for r in records if r["method"] == "MahalanobisXing"]
    assert all(isinstance(r["converged"], bool) and r["threads"] for r in xing)
    text = (tmp_path / "results.md").read_text()
    for task in ("closed", "openset", "verification", "tracking"):
        assert _tasks.TASKS[task].title in text
    assert {r["method"] for r in document["external"]["tracking"]} >= {
        "raw pixels (standardised)", "DeepTripletTracklets"}
    assert "better than Euclidean on" in text and "converged" in text
    recommendation = document["external"]["recommendation"]
    ours = {"popularity", "item-kNN", "skmetric CML"}
    assert {(r["protocol"], r["method"]) for r in recommendation} >= {
        (protocol, method) for protocol in ("random", "time") for method in ours}
    assert all(r["status"] == "ok" and r["recall_at_10"] is not None
               for r in recommendation if r["method"] in ours)
    assert _tasks.TASKS["recommendation"].title in text


def test_unmatched_peers_are_left_out_of_the_tables_with_a_note():
    # pytorch-metric-learning's main-job runs were not like for like with
    # DeepTriplet: no column of theirs, and the note saying where the matched
    # comparison is.
    # The main job no longer runs it; an earlier run's record of it (injected
    # here into the committed results) must still be rendered that way.
    document = json.loads((RESULTS / "results.json").read_text())
    assert not any(r["method"] in _report.UNMATCHED for r in document["records"])
    for task in ("openset", "verification"):
        record = next(r for r in document["records"]
                      if r["task"] == task and r["method"] == "DeepTriplet")
        document["records"].append(
            dict(record, method="pytorch-metric-learning",
                 library="pytorch-metric-learning"))
    for text in (_report.readme_block(document), _report.full_block(document),
                 _report.results_markdown(document)):
        # (The tracking table's matched pytorch-metric-learning row has a
        # longer name; the unmatched method is a cell of its own.)
        tables = [line for line in text.splitlines() if line.startswith("|")]
        assert not any("| pytorch-metric-learning |" in line for line in tables)
        assert "benchmarks.bench_deep" in text
    assert "pytorch-metric-learning" not in _methods.PEER_METHODS


def test_default_output_is_an_untracked_folder():
    args = parse_args([])
    assert Path(args.output) == ROOT / "benchmarks" / "output"
    assert "output/" in (ROOT / "benchmarks" / ".gitignore").read_text().split()


def test_readme_block_equals_the_committed_results():
    document = json.loads((RESULTS / "results.json").read_text())
    generated = _report.readme_generated_part(ROOT / "README.md")
    assert generated is not None, "README lacks the generated-block markers"
    assert generated == _report.readme_block(document, "benchmarks/results")
    # Every table of the run, in benchmarks/README.md, figures beside it.
    generated = _report.readme_generated_part(ROOT / "benchmarks" / "README.md")
    assert generated is not None, "benchmarks/README.md lacks the markers"
    assert generated == _report.full_block(document, "results")
    for name in ("closed", "openset", "verification"):
        assert (RESULTS / f"{name}.png").is_file()


def _labels(n_classes, per_class):
    return np.repeat(np.arange(n_classes), per_class)


@pytest.mark.parametrize("n_classes, per_class", [(20, 10), (5, 1200)])
def test_verification_pairs_are_balanced_and_unseen_only(n_classes, per_class):
    # (20, 10) enumerates every pair; (5, 1200) samples them by rejection.
    rng = np.random.default_rng(0)
    y = rng.permutation(_labels(2 * n_classes, per_class))
    data = _make_dataset("toy", rng.normal(size=(y.size, 3)), y)
    train, test = open_set_splits(data, n_splits=1, seed=1)[0]
    y_test = data.y[test]
    left, right, same = _tasks.verification_pairs(y_test, 700, rng)
    assert same.sum() == (~same).sum() == 700 or same.sum() == (~same).sum()
    assert np.array_equal(same, y_test[left] == y_test[right])
    assert np.all(left != right)
    assert len({(min(a, b), max(a, b)) for a, b in zip(left, right)}) == len(left)
    seen = set(data.y[train])
    assert not seen & set(y_test[left]) and not seen & set(y_test[right])


def test_verification_pairs_limited_by_same_class_pairs():
    y = _labels(20, 10)  # 20 * 45 = 900 same-class pairs
    left, right, same = _tasks.verification_pairs(y, 5000, np.random.default_rng(0))
    assert same.sum() == (~same).sum() == 900


def test_calibrated_threshold_and_tar_at_far():
    distances = np.array([0.1, 0.2, 0.3, 0.35, 0.5, 0.6])
    same = np.array([True, True, True, False, False, False])
    assert 0.3 < _tasks.calibrated_threshold(distances, same) < 0.35
    rng = np.random.default_rng(0)
    negatives = rng.uniform(1, 2, size=1000)
    positives = np.r_[np.full(900, 0.5), np.full(100, 3.0)]
    d = np.r_[positives, negatives]
    s = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    assert _tasks.tar_at_far(d, s) == pytest.approx(0.9)
    assert _tasks.tar_at_far(d[:1400], s[:1400]) is None  # 400 negatives only


def test_in_process_fit_records_non_convergence_and_still_warns():
    from skmetric import LMNN

    method = _methods.Method("LMNN", "skmetric",
                             lambda c: LMNN(max_iter=1, random_state=0))
    dataset = load_dataset("iris")
    splits = [(np.arange(0, 150, 2), np.arange(1, 150, 2))]
    _harness._SHOWN.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit, = _methods.embed_splits(method, dataset, splits)
    assert fit["status"] == "ok" and fit["converged"] is False
    assert any("ConvergenceWarning" in w.category.__name__ for w in caught)
    assert fit["Z_test"].shape == (75, 4) and fit["fit_time"] > 0


def test_peer_worker_fits_every_part_in_one_process_with_warmup():
    from benchmarks._peers import embed_peer

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.repeat(np.arange(3), 20)
    parts = [(X[:40], y[:40], X[40:]), (X[20:], y[20:], X[:20])]
    results = embed_peer("sklearn.NCA", parts, params={"max_iter": 2},
                         warmup=(X[:30], y[:30]))
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert results[0]["Z_test"].shape == (20, 3)
    assert results[0]["extra"]["converged"] is False  # stopped at max_iter=2
    assert results[0]["extra"]["threads"]


def test_progress_writes_plain_lines_without_carriage_returns():
    stream = io.StringIO()
    with Progress(2, stream=stream) as progress:
        progress.step("first")
        progress.step("second")
    text = stream.getvalue()
    assert "\r" not in text and "1/2 first" in text and "about" in text


def test_heatmap_of_a_task_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks import _plots

    cells = [("a", "Euclidean", 0), ("a", "LMNN", 0.1), ("b", "Euclidean", 0),
             ("b", "LMNN", -0.2)]
    rows = [{"dataset": d, "method": m,
             "delta": {} if m == "Euclidean" else {"accuracy": v}} for d, m, v in cells]
    assert _plots.heatmap_values(rows, "accuracy")[2].tolist() == [[0.1], [-0.2]]
    path = _plots.heatmap(rows, "accuracy", "toy", tmp_path / "toy.png")
    assert path.stat().st_size > 1000


@pytest.mark.parametrize("script", ["benchmarks.bench_xing"])
def test_estimator_benchmark_quick_run(script):
    out = _run(script, "--quick")
    assert "skmetric Xing full" in out.stdout


def test_classic_benchmark_quick_run():
    out = _run("benchmarks.bench_classic", "--quick")
    assert "skmetric Covariance" in out.stdout
    assert "| learner | accuracy within noise or better |" in out.stdout


def test_harness_table_has_a_converged_column():
    from skmetric import LMNN

    from benchmarks._data import make_splits
    from benchmarks._harness import evaluate_estimator, markdown_table, summarize

    dataset = load_dataset("iris")
    splits = make_splits(dataset, n_splits=2)
    records = evaluate_estimator(lambda: None, dataset, splits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records += evaluate_estimator(lambda: LMNN(max_iter=1, random_state=0),
                                      dataset, splits, method="LMNN")
    table = markdown_table(summarize(records))
    assert "| converged |" in table.splitlines()[0]
    lmnn = next(line for line in table.splitlines() if "| LMNN |" in line)
    euclid = next(line for line in table.splitlines() if "| euclidean |" in line)
    assert "| 0/2 |" in lmnn and "| n/a |" in euclid


def test_pca_baseline_runs_on_data_with_fewer_than_32_features():
    dataset = load_dataset("digits")
    narrow = _make_dataset("narrow", dataset.X[:, :10], dataset.y)
    splits = open_set_splits(narrow, n_splits=1)
    fit, = _methods.embed_splits(_methods.skmetric_methods()["pca"], narrow, splits)
    assert fit["status"] == "ok" and fit["Z_test"].shape[1] == 10


def test_clustering_figure_keeps_its_conditions_apart():
    pytest.importorskip("matplotlib")  # the bench extra
    # clustering.png averaged raw and standardised features and both amounts of
    # side information into one column per method (wine read -0.024 where the
    # tables range from -0.254 to +0.204): one column per method and condition.
    from benchmarks import _plots

    document = json.loads((RESULTS / "results.json").read_text())
    records = document["external"]["clustering"]
    task = _tasks.TASKS["clustering"]
    rows = _plots.external_rows(records, task.metric, task.baseline)
    labels = {r["method"] for r in rows} - {_report.BASELINE}
    assert len(labels) == 8  # {full, diagonal} x {raw, standardised} x {little, much}

    def mean(method, scaling, side):
        return np.mean([r[task.metric] for r in records
                        if (r["dataset"], r["method"], r["scaling"], r["side_info"])
                        == ("wine", method, scaling, side)])

    row = next(r for r in rows if r["dataset"] == "wine"
               and r["method"] == "xing full (standardised, little)")
    expected = (mean("xing full", "standardised", "little")
                - mean("euclidean", "standardised", "little"))
    assert abs(row["delta"][task.metric] - expected) < 1e-12
    assert expected < -0.2


def test_figures_label_their_extremes_and_do_not_draw_a_normalised_circle():
    pytest.importorskip("matplotlib")  # the bench extra
    from benchmarks import _plots

    # lmnn_scaling.png's time axis ends on labelled 1-2-5 ticks around the data.
    assert _plots._tick_bounds([0.24, 0.44, 1.18, 4.03]) == (0.2, 5.0)
    assert _plots._tick_bounds([1.0, 2.0]) == (1.0, 2.0)
    # projection.png: a 2-D L2-normalised embedding would lie on the unit circle.
    models = _plots._projection_models(quick=True)
    deep = [m for name, m in models.items() if name.startswith("DeepTriplet")]
    assert deep and all(m.normalize is False for m in deep)


def test_each_peer_is_planned_on_the_datasets_its_where_names():
    from benchmarks.__main__ import BUNDLED, runs_on
    from benchmarks._methods import PEER_METHODS

    names = ["iris", "wine", "breast_cancer", "digits", "usps", "isolet"]
    planned = {label: [n for n in names if runs_on(method, n)]
               for label, method in PEER_METHODS.items()}
    assert planned["mlpack lmnn"] == ["iris", "wine", "breast_cancer"]
    assert planned["metric-learn LMNN"] == ["iris", "wine", "breast_cancer"]
    assert planned["metric-learn MMC"] == ["iris", "wine"]
    assert planned["pylmnn"] == names
    bundled = replace(PEER_METHODS["pylmnn"], where="bundled")
    assert [n for n in names if runs_on(bundled, n)] == list(BUNDLED)
