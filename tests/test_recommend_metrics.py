"""Top-k recommendation metrics against their definitions, written as plain loops."""

import math
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmetric.recommend import (
    RecommendationScorer,
    coverage,
    map_at_k,
    ndcg_at_k,
    ndcg_at_10_scorer,
    precision_at_k,
    recall_at_k,
    recall_at_10_scorer,
    top_k_items,
)

METRICS = {"recall": recall_at_k, "precision": precision_at_k, "ndcg": ndcg_at_k,
           "map": map_at_k}


def _brute_force(X_test, recommended, users, k):
    """Each metric per user from its textbook definition, then the mean."""
    relevant = {}
    for user, item in X_test.tolist():
        relevant.setdefault(user, set()).add(item)
    out = {name: [] for name in METRICS}
    for row, user in enumerate(users):
        rel = relevant.get(user, set())
        if not rel:
            continue
        top = [int(item) for item in recommended[row][:k]]
        hits = [item >= 0 and item in rel for item in top]
        out["recall"].append(sum(hits) / len(rel))
        out["precision"].append(sum(hits) / k)
        dcg = sum(1 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
        idcg = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(rel))))
        out["ndcg"].append(dcg / idcg)
        ap = 0.0
        for rank in range(k):
            if hits[rank]:
                ap += sum(hits[: rank + 1]) / (rank + 1)
        out["map"].append(ap / min(k, len(rel)))
    return {name: float(np.mean(values)) for name, values in out.items()}


def _random_case(seed, n_users=12, n_items=15, k=5):
    rng = np.random.default_rng(seed)
    X_test = np.column_stack([rng.integers(0, n_users, 40),
                              rng.integers(0, n_items, 40)])
    users = rng.permutation(n_users + 3)[:n_users]  # some rows have no test pair
    X_test[:, 0] = users[X_test[:, 0]]
    recommended = np.array([rng.permutation(n_items)[:k + 2] for _ in users])
    recommended[rng.random(recommended.shape) < 0.1] = -1
    # -1 may repeat; real items stay distinct within each row
    return X_test, recommended, users, k


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_metrics_match_brute_force(seed, name):
    X_test, recommended, users, k = _random_case(seed)
    X_copy, rec_copy = X_test.copy(), recommended.copy()
    expected = _brute_force(X_test, recommended, users.tolist(), k)[name]
    assert_allclose(METRICS[name](X_test, recommended, users=users, k=k), expected,
                    rtol=1e-12)
    assert_array_equal(X_test, X_copy)
    assert_array_equal(recommended, rec_copy)


def test_metrics_on_a_hand_computed_example():
    X_test = np.array([[0, 3], [0, 5], [0, 3], [1, 2], [2, 9]])  # (0, 3) twice
    recommended = np.array([[5, 1, 3], [0, 1, 4], [-1, -1, -1]])
    # user 0: hits at ranks 1 and 3 of 2 relevant; user 1: none; user 2: empty list
    assert_allclose(recall_at_k(X_test, recommended, k=3), (1 + 0 + 0) / 3)
    assert_allclose(precision_at_k(X_test, recommended, k=3), (2 / 3) / 3)
    ideal = 1 + 1 / math.log2(3)
    assert_allclose(ndcg_at_k(X_test, recommended, k=3),
                    (1 + 1 / 2) / ideal / 3)
    assert_allclose(map_at_k(X_test, recommended, k=3), (1 + 2 / 3) / 2 / 3)
    # k=1 reads only the first column
    assert_allclose(recall_at_k(X_test, recommended, k=1), 0.5 / 3)


def test_perfect_lists_score_one_and_users_without_test_pairs_are_skipped():
    X_test = np.array([[0, 1], [0, 2], [2, 7]])
    recommended = np.array([[2, 1, 0], [4, 5, 6], [7, 0, 1]])  # user 1 unscored
    for metric in (recall_at_k, ndcg_at_k, map_at_k):
        assert metric(X_test, recommended, k=3) == 1.0
    # ideal DCG over min(k, n_relevant): user 0 with k=1 is perfect too
    assert ndcg_at_k(X_test, recommended, k=1) == 1.0
    assert recall_at_k(X_test, recommended, k=1) == 0.75


def test_users_map_rows_to_user_ids():
    X_test = np.array([[10, 1], [4, 2]])
    recommended = np.array([[2, 0], [0, 1]])
    assert recall_at_k(X_test, recommended, users=[4, 10], k=1) == 0.5
    assert recall_at_k(X_test, recommended, users=[4, 10], k=2) == 1.0


def test_coverage_counts_distinct_items_in_the_top_k():
    recommended = np.array([[0, 1, 7], [1, 2, -1]])
    assert coverage(recommended, 10, k=2) == 0.3
    assert coverage(recommended, 10, k=3) == 0.4
    with pytest.raises(ValueError, match=re.escape("recommended lists the item id 7, "
                                                   "but n_items=5")):
        coverage(recommended, 5, k=3)


@pytest.mark.parametrize("seed", range(5))
def test_top_k_items_breaks_ties_by_smaller_item_and_excludes(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_items, k = 6, 30, 8
    scores = rng.integers(0, 4, size=(n_rows, n_items)).astype(float)  # many ties
    users = rng.permutation(20)[:n_rows]
    exclude = np.column_stack([rng.integers(0, 20, 60), rng.integers(0, n_items, 60)])
    scores_copy = scores.copy()
    got = top_k_items(scores, k, exclude=exclude, users=users)
    for row, user in enumerate(users):
        seen = set(exclude[exclude[:, 0] == user, 1].tolist())
        candidates = [j for j in range(n_items) if j not in seen]
        expected = sorted(candidates, key=lambda j: (-scores[row, j], j))[:k]
        expected += [-1] * (k - len(expected))
        assert got[row].tolist() == expected
    assert_array_equal(scores, scores_copy)


def test_top_k_items_pads_with_minus_one():
    scores = np.array([[1.0, 2.0, 3.0]])
    assert top_k_items(scores, 5).tolist() == [[2, 1, 0, -1, -1]]
    everything = np.array([[0, 0], [0, 1], [0, 2]])
    assert top_k_items(scores, 2, exclude=everything).tolist() == [[-1, -1]]


def test_top_k_items_rejects_non_finite_scores():
    with pytest.raises(ValueError, match="scores must be finite"):
        top_k_items(np.array([[1.0, np.nan]]), 1)


@pytest.mark.parametrize("X_test, recommended, kwargs, error, message", [
    (np.array([[0, 1.0]]), np.array([[1]]), {}, TypeError,
     "X_test must hold integer ids; got dtype float64"),
    (np.array([[-1, 1]]), np.array([[1]]), {}, ValueError,
     "X_test holds the user id -1; user ids must be non-negative"),
    (np.array([[0, 1, 2]]), np.array([[1]]), {}, ValueError,
     "X_test must be an integer array of shape (n_interactions, 2)"),
    (np.array([[0, 1]]), np.array([[1, 1]]), {"k": 2}, ValueError,
     "recommended row 0 lists item 1 twice among its first 2 entries"),
    (np.array([[0, 1]]), np.array([[1, -2]]), {"k": 2}, ValueError,
     "recommended holds the item id -2"),
    (np.array([[0, 1]]), np.array([[1]]), {"k": 2}, ValueError,
     "recommended has 1 columns, fewer than k=2"),
    (np.array([[0, 1]]), np.array([[1]]), {"k": 0}, ValueError,
     "k must be a positive integer; got 0"),
    (np.array([[3, 1]]), np.array([[1]]), {}, ValueError,
     "X_test holds interactions of 1 user(s) without a row in recommended "
     "(users 3)"),
    (np.array([[0, 1]]), np.array([[1], [2]]), {"users": [0, 0]}, ValueError,
     "users lists user 0 more than once"),
    (np.array([[0, 1]]), np.array([[1], [2]]), {"users": [0]}, ValueError,
     "users has 1 entries but there are 2 rows"),
    (np.array([[0, 1]]), np.array([[2]]), {"users": [1]}, ValueError,
     "X_test holds interactions of 1 user(s) without a row"),
    (np.array([[0, 1]]), np.array([[2], [3]]), {"users": [1, 2]}, ValueError,
     "X_test holds interactions of 1 user(s)"),
])
def test_metrics_reject_bad_input(X_test, recommended, kwargs, error, message):
    kwargs.setdefault("k", 1)
    with pytest.raises(error, match=re.escape(message)):
        recall_at_k(X_test, recommended, **kwargs)


def test_empty_test_set_raises():
    with pytest.raises(ValueError, match="X_test is empty"):
        recall_at_k(np.empty((0, 2), dtype=int), np.array([[1]]), k=1)


class _Lookup:
    """A stand-in recommender: fixed scores, training items excluded on request."""

    def __init__(self, scores, X_train):
        self.scores, self.X_train = scores, X_train
        self.calls = []

    def recommend(self, users, n=10, exclude_seen=True):
        self.calls.append((np.asarray(users).tolist(), n, exclude_seen))
        exclude = self.X_train if exclude_seen else None
        return top_k_items(self.scores[users], n, exclude=exclude, users=users)


def test_scorer_recommends_for_the_test_users_without_their_training_items():
    rng = np.random.default_rng(0)
    scores = rng.random((5, 20))
    X_train = np.array([[0, int(np.argmax(scores[0]))], [3, 4]])
    X_test = np.array([[3, 1], [0, 2], [3, 7]])
    model = _Lookup(scores, X_train)
    users = np.array([0, 3])
    expected = recall_at_k(
        X_test, top_k_items(scores[users], 10, exclude=X_train, users=users),
        users=users, k=10)
    assert recall_at_10_scorer(model, X_test) == expected
    assert model.calls == [([0, 3], 10, True)]
    assert RecommendationScorer("map", k=3)(model, X_test, None) == map_at_k(
        X_test, top_k_items(scores[users], 3, exclude=X_train, users=users),
        users=users, k=3)
    assert repr(ndcg_at_10_scorer) == "RecommendationScorer('ndcg', k=10)"


def test_scorer_rejects_an_estimator_without_recommend_and_bad_metric():
    with pytest.raises(TypeError, match="needs a fitted recommender"):
        recall_at_10_scorer(object(), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="metric must be one of"):
        RecommendationScorer("auc")
