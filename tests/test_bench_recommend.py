"""The recommendation benchmark: its baselines, splits, peers and a --quick run."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from benchmarks import bench_recommend as bench
from benchmarks._peers import env_problem
from benchmarks._rec_peers import fit_rec_peer

ROOT = Path(__file__).resolve().parent.parent


def _toy(seed=0, n_users=25, n_items=30, n=200):
    rng = np.random.default_rng(seed)
    X = np.unique(np.column_stack([rng.integers(0, n_users, n),
                                   rng.integers(0, n_items, n)]), axis=0)
    return X, n_users, n_items


@pytest.mark.parametrize("n_neighbors", [None, 3])
def test_item_knn_matches_its_definition(n_neighbors):
    X, n_users, n_items = _toy()
    R = np.zeros((n_users, n_items))
    R[X[:, 0], X[:, 1]] = 1.0
    norms = np.linalg.norm(R, axis=0)
    cosine = (R.T @ R) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(cosine, 0.0)
    if n_neighbors is not None:
        for row in cosine:  # keep the n largest of each item's similarities
            order = np.argsort(-row, kind="stable")
            row[order[n_neighbors:]] = 0.0
    users = np.arange(n_users)
    got = bench.ItemKNN(n_neighbors).fit(X, n_users, n_items).scores(users)
    expected = R @ cosine
    if n_neighbors is None:
        assert_allclose(got, expected, atol=1e-12)
    else:  # ties at the cut may keep another item of the same similarity
        kept = bench.ItemKNN(n_neighbors).fit(X, n_users, n_items).S_
        assert np.all(np.diff(kept.indptr) <= n_neighbors)
        assert_allclose(np.sort(kept.toarray(), axis=1), np.sort(cosine, axis=1),
                        atol=1e-12)


def test_popularity_and_genre_popularity():
    X = np.array([[0, 1], [1, 1], [1, 2], [2, 0]])
    scores = bench.Popularity().fit(X, 3, 4).scores(np.array([0, 2]))
    assert scores.tolist() == [[1, 2, 1, 0]] * 2
    genres = np.array([[1, 0], [0, 1], [1, 1], [1, 0]], dtype=bool)
    got = bench.genre_popularity_scores(X, genres, np.array([1]), np.array([0, 1, 3]))
    profile = np.array([1.0, 2.0]) / np.sqrt(5.0)  # items 1 and 2 of user 1
    assert_allclose(got, [[profile @ [1, 0], profile @ [0, 1], profile @ [1, 0]]])


def test_cold_start_split_holds_out_every_rating_of_a_tenth_of_the_items():
    X, _, n_items = _toy(1, n=400)
    warm, cold_rows, cold = bench.cold_start_split(X, n_items)
    rated = np.unique(X[:, 1])
    assert cold.shape[0] == round(0.1 * rated.shape[0])
    assert set(np.unique(X[cold_rows, 1])) == set(cold.tolist())
    assert not np.isin(X[warm, 1], cold).any()
    assert warm.shape[0] + cold_rows.shape[0] == X.shape[0]


def test_configurations_share_the_budget_and_start_with_the_defaults():
    for method in bench.GRIDS:
        configs = bench.configurations(method, 6)
        assert configs[0] == {} and len(configs) == 6
        assert len({tuple(sorted(c.items())) for c in configs}) == 6
        for config in configs[1:]:
            assert set(config) == set(bench.GRIDS[method])
    assert bench.configurations("popularity", 6) == [{}]


def test_movielens_positives_and_features():
    data = bench.load_movielens()
    assert data["X"].shape[0] == np.unique(data["X"], axis=0).shape[0]
    assert data["n_users"] == 671 and data["n_items"] == 9066
    assert data["item_features"].shape[0] == 9066
    assert np.all(data["item_features"][:, 20:].sum(axis=1) == 1)  # one decade each


needs_env = pytest.mark.skipif(env_problem("recommend") is not None,
                               reason="peer env 'recommend' not available")


@needs_env
@pytest.mark.parametrize("peer", ["implicit.ALS", "implicit.BPR", "lightfm.WARP"])
def test_peer_worker_returns_factors_that_rank_items(peer):
    X, n_users, n_items = _toy(2, n=300)
    features = np.eye(n_items)[:, :5]
    parts = [(X, n_users, n_items, None, {}),
             (X, n_users, n_items, features if peer == "lightfm.WARP" else None,
              {"random_state": 1})]
    results = fit_rec_peer(peer, parts, params={"iterations": 3} if "implicit" in
                           peer else {"epochs": 2}, warmup=parts[0][:4], timeout=120)
    for result in results:
        assert result["status"] == "ok", result["reason"]
        assert result["user_factors"].shape[0] == n_users
        assert result["item_factors"].shape[0] == n_items
        assert result["fit_time"] > 0 and result["extra"]["threads"]
    assert results[1]["extra"]["params"]["random_state"] == 1


def test_missing_env_is_reported_not_raised(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMETRIC_PEER_ENVS", str(tmp_path))
    X, n_users, n_items = _toy()
    result, = fit_rec_peer("implicit.ALS", [(X, n_users, n_items, None)])
    assert result["status"] == "missing" and result["user_factors"] is None


def test_bench_recommend_quick_run_prints_every_table(tmp_path):
    # One protocol here: the main job's --quick run covers both at defaults.
    saved = tmp_path / "records.json"
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_recommend",
                          "--quick", "--parts", "time,cold", "--save", str(saved)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         check=True).stdout
    assert "**each user's latest 20%**" in out and "**cold start**" in out
    assert "Targets:" in out
    for method in ("popularity", "item-kNN", "skmetric CML"):
        assert f"| {method} | defaults |" in out and f"| {method} | tuned" in out
    ours = [line for line in out.splitlines() if line.startswith("| skmetric CML")]
    assert len(ours) == 3  # defaults, tuned and cold start
    assert all("missing" not in line and "failed" not in line for line in ours)
    again = subprocess.run([sys.executable, "-m", "benchmarks.bench_recommend",
                            "--load", str(saved)], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, check=True).stdout
    tables = "".join(line for line in out.splitlines(keepends=True)
                     if not line.startswith("[bench_recommend]"))
    assert again == tables


def test_study_stop_epoch_follows_the_fit_stopping_rule():
    from benchmarks.bench_recommend_study import _stop_epoch

    assert _stop_epoch([1.0, 0.5, 0.499, 0.498, 0.497], 1e-2, 3) == 5
    assert _stop_epoch([1.0, 1.2, 1.4, 1.6, 1.8, 2.0], 1e-2, 3) is None
    assert _stop_epoch([1.0, 0.5, 0.8, 0.9, 0.5, 0.5, 0.5], 1e-2, 3) == 7


def test_study_uses_validation_parts_carved_from_training_only(monkeypatch):
    import skmetric.recommend as rec
    from benchmarks import bench_recommend_study as study

    data = bench.load_movielens(max_users=40)
    seen = []

    class Spy:
        def __init__(self, **params):
            self.tol, self.n_iter_no_change, self.loss_curve_ = 1e-2, 3, []

        def partial_fit(self, X):
            seen.append(X)
            self.loss_curve_.append(1.0)

    def spy_evaluate(fitted, X_sub, X_val, n_items):
        seen.append(X_val)
        return {"recall_at_10": 0.0, "ndcg_at_10": 0.0}

    monkeypatch.setattr(rec, "CollaborativeMetricLearning", Spy)
    monkeypatch.setattr(study, "evaluate", spy_evaluate)
    for protocol in bench.PROTOCOLS:
        seen.clear()
        study.study(protocol, data, ["base"], [1], {})
        X, times = data["X"], data["times"]
        _, test = bench.protocol_split(protocol, X, times)
        test_rows = {tuple(r) for r in X[test]}
        used = {tuple(r) for part in seen for r in part}
        assert used and not used & test_rows


def test_bench_threads_prints_every_setting_and_compares_the_vectors(capsys):
    from benchmarks import bench_recommend_threads as threads

    threads.main(["--repeats", "1", "--max-users", "40"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| defaults")
            or line.startswith("| covariance_weight=0")]
    assert [row.split("|")[2].strip() for row in rows] == ["1", "2", "1", "2"]
    assert out.count("bit-identical") == 2 and "DIFFER" not in out
