"""Smoke runs of the benchmark scripts (their --quick modes), as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=True)


def test_main_benchmark_quick_run_writes_tables(tmp_path):
    out = _run("benchmarks", "--quick", "--no-plots", "--output", str(tmp_path))
    assert "| iris | MahalanobisXing |" in out.stdout
    assert "| wine | euclidean |" in out.stdout
    assert "MAP@R" in out.stdout
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    methods = {(r["dataset"], r["method"]) for r in records}
    assert ("iris", "euclidean") in methods and ("wine", "MahalanobisXing") in methods
    assert all(r["status"] == "ok" for r in records)
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in records)
    assert (tmp_path / "results.md").read_text().startswith("Machine:")


@pytest.mark.parametrize("script", ["benchmarks.bench_xing"])
def test_estimator_benchmark_quick_run(script):
    out = _run(script, "--quick")
    assert "skmetric Xing full" in out.stdout
