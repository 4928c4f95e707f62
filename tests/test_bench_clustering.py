"""The clustering-with-side-information benchmark: its score and a --quick run."""

import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_clustering import (
    clustering_records,
    clustering_table,
    pairwise_accuracy,
    side_information,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_accuracy_matches_enumerating_the_pairs(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=25)
    clusters = rng.integers(0, 4, size=25)
    same, different = [], []
    for i, j in combinations(range(25), 2):
        together = clusters[i] == clusters[j]
        (same if labels[i] == labels[j] else different).append(
            together if labels[i] == labels[j] else not together)
    expected = 0.5 * (np.mean(same) + np.mean(different))
    assert np.isclose(pairwise_accuracy(labels, clusters), expected, rtol=1e-12)


def test_pairwise_accuracy_of_a_perfect_and_a_single_clustering():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert pairwise_accuracy(labels, np.array([5, 5, 3, 3, 1, 1])) == 1.0
    assert pairwise_accuracy(labels, np.zeros(6)) == 0.5


def test_side_information_is_every_pair_of_the_subset():
    y = np.repeat([0, 1, 2], 20)
    subset, pairs, labels = side_information(y, 0.1, np.random.default_rng(0))
    assert subset.shape == (6,)
    assert pairs.shape == (15, 2)
    assert set(np.unique(pairs)) == set(subset)
    assert np.array_equal(labels > 0, y[pairs[:, 0]] == y[pairs[:, 1]])


def test_clustering_records_and_table_quick():
    records = clustering_records(["iris"], quick=True)
    keys = {"dataset", "scaling", "side_info", "method", "repetition",
            "pairwise_accuracy", "roc_auc", "converged", "fit_time", "status"}
    assert all(keys <= set(r) for r in records)
    assert {(r["scaling"], r["side_info"]) for r in records} == {
        (s, i) for s in ("raw", "standardised") for i in ("little", "much")}
    assert {r["method"] for r in records} == {"euclidean", "xing full",
                                              "xing diagonal"}
    assert all(r["status"] == "ok" and 0.5 <= r["pairwise_accuracy"] <= 1.0
               for r in records)
    table = clustering_table(records)
    assert "| iris | much |" in table
    assert "xing full: ahead of Euclidean K-means in" in table


def test_bench_clustering_quick_run():
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_clustering",
                          "--quick"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=True)
    assert "| wine | little |" in out.stdout
    assert "raw features" in out.stdout and "standardised features" in out.stdout
