"""Per-user splitters: partitions, fractions, time order, and use as ``cv=``."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV, cross_val_score

from skmetric.recommend import (
    UserRandomSplit,
    UserTimeSplit,
    ndcg_at_10_scorer,
    recall_at_10_scorer,
    top_k_items,
)


def _interactions(seed, n_users=30, n_items=40):
    """Distinct (user, item) pairs, users with 1 to 25 interactions, shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        count = int(rng.integers(1, 26))
        rows += [(user, int(item)) for item in rng.choice(n_items, count, False)]
    X = np.array(rows)[rng.permutation(len(rows))]
    times = rng.integers(0, 50, size=len(X))  # many equal timestamps
    return X, times


def _check_partition(X, train, test, test_size, min_interactions=2):
    assert np.intersect1d(train, test).size == 0
    assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(X)))
    assert_array_equal(train, np.sort(train))
    assert_array_equal(test, np.sort(test))
    for user in np.unique(X[:, 0]):
        n_user = int(np.sum(X[:, 0] == user))
        n_test = int(np.sum(X[test, 0] == user))
        if n_user < min_interactions:
            assert n_test == 0
            continue
        if isinstance(test_size, float):
            expected = min(max(int(np.floor(test_size * n_user + 0.5)), 1), n_user - 1)
        else:
            expected = min(test_size, n_user - 1)
        assert n_test == expected
        assert n_user - n_test >= 1


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("test_size", [0.2, 0.5, 0.9, 1, 3])
def test_user_random_split_partitions_each_user(seed, test_size):
    X, _ = _interactions(seed)
    X_copy = X.copy()
    splits = list(UserRandomSplit(test_size, n_splits=3, random_state=seed).split(X))
    assert len(splits) == 3
    for train, test in splits:
        _check_partition(X, train, test, test_size)
    assert not all(np.array_equal(splits[0][1], other[1]) for _, other in splits[1:])
    assert_array_equal(X, X_copy)


def test_user_random_split_is_reproducible_and_varies_with_the_seed():
    X, _ = _interactions(0)
    first = [test for _, test in UserRandomSplit(random_state=3).split(X)]
    again = [test for _, test in UserRandomSplit(random_state=3).split(X)]
    other = [test for _, test in UserRandomSplit(random_state=4).split(X)]
    for a, b in zip(first, again):
        assert_array_equal(a, b)
    assert not all(np.array_equal(a, c) for a, c in zip(first, other))


def test_user_random_split_draws_every_interaction_eventually():
    X = np.column_stack([np.zeros(10, int), np.arange(10)])
    held = np.zeros(10, int)
    for _, test in UserRandomSplit(0.2, n_splits=200, random_state=0).split(X):
        held[test] += 1
    assert held.min() > 10  # each of the 10 interactions is held out ~40 times


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("test_size", [0.2, 0.5, 1, 2])
def test_user_time_split_holds_out_the_latest(seed, test_size):
    X, times = _interactions(seed)
    times_copy = times.copy()
    (train, test), = list(UserTimeSplit(test_size).split(X, groups=times))
    _check_partition(X, train, test, test_size)
    for user in np.unique(X[test, 0]):
        train_rows = train[X[train, 0] == user]
        test_rows = test[X[test, 0] == user]
        latest_train = max((times[r], r) for r in train_rows)
        earliest_test = min((times[r], r) for r in test_rows)
        assert latest_train < earliest_test  # ties ordered by row
    assert_array_equal(times, times_copy)


def test_user_time_split_by_hand_and_with_datetimes():
    X = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 5], [1, 6]])
    times = np.array([5, 1, 9, 9, 3, 2, 2])
    (train, test), = UserTimeSplit(0.4).split(X, groups=times)
    assert test.tolist() == [2, 3, 6]  # user 0: both at t=9; user 1: the later row
    dates = np.array(["2020-01-05", "2020-01-01", "2020-01-09", "2020-01-09",
                      "2020-01-03", "2020-01-02", "2020-01-02"], dtype="datetime64[D]")
    (_, test_dates), = UserTimeSplit(0.4).split(X, groups=dates)
    assert_array_equal(test_dates, test)


@pytest.mark.parametrize("splitter, groups, error, message", [
    (UserTimeSplit(), None, ValueError,
     "UserTimeSplit needs the timestamp of each interaction as groups"),
    (UserTimeSplit(), np.array(["a"] * 4), TypeError,
     "groups must hold the timestamps as numbers or datetime64"),
    (UserTimeSplit(), np.arange(3), ValueError,
     "groups must hold one timestamp per interaction, shape (4,); got shape (3,)"),
    (UserTimeSplit(), np.array([1.0, np.nan, 2.0, 3.0]), ValueError,
     "groups (timestamps) holds NaN or infinity."),
    (UserTimeSplit(test_size=1.5), np.arange(4), ValueError,
     "test_size as a float is each user's held-out fraction and must lie in (0, 1)"),
    (UserTimeSplit(test_size=0), np.arange(4), ValueError,
     "must be at least 1; got 0"),
    (UserRandomSplit(test_size="a"), None, TypeError,
     "test_size must be a float in (0, 1) or a positive int"),
    (UserRandomSplit(n_splits=0), None, ValueError,
     "n_splits must be a positive integer; got 0."),
    (UserRandomSplit(min_interactions=1), None, ValueError,
     "min_interactions must be an integer of at least 2"),
])
def test_splitters_reject_bad_input(splitter, groups, error, message):
    X = np.array([[0, 1], [0, 2], [1, 1], [1, 3]])
    with pytest.raises(error, match=re.escape(message)):
        next(splitter.split(X, groups=groups))


def test_splitters_reject_float_ids():
    with pytest.raises(TypeError, match="X must hold integer ids; got dtype float64"):
        next(UserRandomSplit().split(np.array([[0.0, 1.0], [0.0, 2.0]])))


class _CoOccurrence(BaseEstimator):
    """A small item-to-item recommender: co-occurrence counts raised to ``power``."""

    def __init__(self, power=1.0):
        self.power = power

    def fit(self, X, y=None):
        X = np.asarray(X)
        self.n_users_, self.n_items_ = 60, 40
        self.seen_ = X
        R = np.zeros((self.n_users_, self.n_items_))
        R[X[:, 0], X[:, 1]] = 1.0
        self.user_items_ = R
        self.similarity_ = (R.T @ R) ** self.power
        np.fill_diagonal(self.similarity_, 0.0)
        return self

    def recommend(self, users, n=10, exclude_seen=True):
        users = np.asarray(users)
        scores = self.user_items_[users] @ self.similarity_
        return top_k_items(scores, n, exclude=self.seen_ if exclude_seen else None,
                           users=users)


def _clustered(seed):
    """Two communities of users, each liking its own half of the items."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(60):
        half = (user % 2) * 20
        rows += [(user, half + int(item)) for item in rng.choice(20, 8, False)]
    X = np.array(rows)
    return X, rng.integers(0, 1000, len(X))


def test_splitters_work_as_cv_in_cross_val_score_and_grid_search():
    X, times = _clustered(0)
    random_scores = cross_val_score(_CoOccurrence(), X,
                                    cv=UserRandomSplit(n_splits=3, random_state=0),
                                    scoring=recall_at_10_scorer)
    assert random_scores.shape == (3,)
    assert random_scores.min() > 0.45  # 10 of a community's 20 items: chance 0.25
    time_scores = cross_val_score(_CoOccurrence(), X, cv=UserTimeSplit(),
                                  groups=times, scoring=ndcg_at_10_scorer)
    assert time_scores.shape == (1,) and np.isfinite(time_scores[0])
    search = GridSearchCV(_CoOccurrence(), {"power": [0.0, 1.0]},
                          cv=UserTimeSplit(), scoring=recall_at_10_scorer,
                          error_score="raise").fit(X, groups=times)
    # power 0 scores every co-occurring item alike: ties by item id, worse
    assert search.best_params_ == {"power": 1.0}
    assert search.cv_results_["mean_test_score"][0] < search.best_score_


def test_splitter_and_scorer_tune_collaborative_metric_learning():
    from skmetric.recommend import CollaborativeMetricLearning

    X, times = _clustered(1)
    search = GridSearchCV(
        CollaborativeMetricLearning(8, max_iter=5, random_state=0, n_jobs=1),
        {"margin": [0.25, 1.0]}, cv=UserTimeSplit(), scoring=recall_at_10_scorer,
        error_score="raise").fit(X, groups=times)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    # the scorer ranks with the training items of the fold excluded
    (train, test), = UserTimeSplit().split(X, groups=times)
    model = CollaborativeMetricLearning(8, max_iter=5, random_state=0,
                                        n_jobs=1).fit(X[train])
    lists = model.recommend(np.unique(X[test, 0]), n=10)
    seen = {tuple(pair) for pair in X[train].tolist()}
    for user, row in zip(np.unique(X[test, 0]), lists):
        assert not any((int(user), int(item)) in seen for item in row if item >= 0)
