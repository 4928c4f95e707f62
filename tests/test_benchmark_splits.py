"""The benchmark's class-disjoint (open-set) splits."""

import numpy as np
import pytest

from benchmarks._data import _make_dataset, open_set_splits, scaled


def _dataset(n_classes=10, per_class=7, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    return _make_dataset("toy", rng.normal(size=(y.size, 4)), rng.permutation(y))


@pytest.mark.parametrize("n_classes", [2, 3, 10, 11])
def test_open_set_splits_put_no_class_on_both_sides(n_classes):
    data = _dataset(n_classes)
    splits = open_set_splits(data, n_splits=3, seed=0)
    assert len(splits) == 3
    for train, test in splits:
        seen, unseen = set(data.y[train]), set(data.y[test])
        assert not seen & unseen
        assert seen | unseen == set(range(n_classes))
        assert len(seen) == n_classes // 2
        assert len(train) + len(test) == data.n_samples
    if n_classes >= 10:  # three seeded permutations of 10+ classes differ
        assert len({tuple(np.unique(data.y[tr])) for tr, _ in splits}) == 3


def test_open_set_splits_are_reproducible_and_subsample_training_only():
    data = _dataset(10, 20)
    first = open_set_splits(data, n_splits=2, seed=3, max_train=50)
    again = open_set_splits(data, n_splits=2, seed=3, max_train=50)
    for (tr1, te1), (tr2, te2) in zip(first, again):
        np.testing.assert_array_equal(tr1, tr2)
        np.testing.assert_array_equal(te1, te2)
        assert len(tr1) == 50 and len(te1) == 100
        assert not set(data.y[tr1]) & set(data.y[te1])


def test_scaler_is_fit_on_training_classes_only():
    data = _dataset(10, 20)
    X = data.X.copy()
    train, test = open_set_splits(data, n_splits=1)[0]
    X[test] += 100.0  # unseen classes far away: a scaler fit on them would move
    X_train, X_test = scaled(X[train], X[test])
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-12)
    assert np.all(X_test.mean(axis=0) > 10.0)
