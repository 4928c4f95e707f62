"""Bad input gets a clear ValueError or TypeError naming the problem."""

import re

import numpy as np
import pytest

from skmetric import MahalanobisXing


def test_private_sklearn_imports_still_exist():
    # skmetric._validation is the only module that imports private scikit-learn
    # helpers; if scikit-learn moves them, this fails before anything else does.
    from sklearn.utils._param_validation import (  # noqa: F401
        Interval,
        StrOptions,
        validate_parameter_constraints,
    )

    from skmetric import _validation

    assert _validation.Interval is Interval


def _data(n=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.repeat([0, 1], n // 2)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_xing_rejects_non_finite_X(value):
    X, y = _data()
    X[3, 1] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        MahalanobisXing().fit(X, y)


def test_xing_rejects_1d_X():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        MahalanobisXing().fit(np.arange(10.0), np.repeat([0, 1], 5))


def test_xing_rejects_mismatched_lengths():
    X, y = _data()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MahalanobisXing().fit(X, y[:-1])


def test_xing_rejects_single_class():
    X, _ = _data()
    with pytest.raises(
        ValueError,
        match=re.escape("needs at least 2 classes in y to learn a metric; got a single "
                        "class 7"),
    ):
        MahalanobisXing().fit(X, np.full(X.shape[0], 7))


def test_xing_rejects_singleton_class_with_counts():
    X, y = _data()
    y[0] = 5
    with pytest.raises(
        ValueError, match=re.escape("these classes have fewer (5: 1)")
    ):
        MahalanobisXing().fit(X, y)


def test_xing_requires_y_or_pairs():
    X, _ = _data()
    with pytest.raises(ValueError, match="requires y to be passed"):
        MahalanobisXing().fit(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"max_iter": 0}, "The 'max_iter' parameter of MahalanobisXing must be"),
        ({"max_iter": 2.5}, "The 'max_iter' parameter of MahalanobisXing must be"),
        ({"tol": -1.0}, "The 'tol' parameter of MahalanobisXing must be"),
        ({"n_constraints": 0}, "The 'n_constraints' parameter"),
        ({"diagonal": "yes"}, "The 'diagonal' parameter"),
        ({"n_components": 0}, "The 'n_components' parameter"),
    ],
)
def test_xing_rejects_bad_hyper_parameters(params, message):
    X, y = _data()
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        MahalanobisXing(**params).fit(X, y)


def test_xing_rejects_too_many_components():
    X, y = _data()
    with pytest.raises(
        ValueError, match=re.escape("n_components=4 must be at most the number of "
                                    "features, 3")
    ):
        MahalanobisXing(n_components=4).fit(X, y)


PAIRS = np.array([[0, 1], [2, 3], [0, 15], [4, 12]])
LABELS = np.array([1, 1, -1, -1])


@pytest.mark.parametrize(
    "pairs, labels, error, message",
    [
        (np.array([[0, 1, 2]]), [1], ValueError,
         "pairs must have shape (n_pairs, 2); got shape (1, 3)"),
        (np.array([0, 1]), [1], ValueError, "pairs must have shape (n_pairs, 2)"),
        (np.array([[0, 20], [1, 2]]), [1, -1], ValueError,
         "pairs refers to row 20, outside the 20 rows of X"),
        (np.array([[-1, 2], [1, 2]]), [1, -1], ValueError,
         "pairs refers to row -1, outside the 20 rows of X"),
        (np.array([[0.5, 2], [1, 2]]), [1, -1], TypeError,
         "pairs must hold integer row indices"),
        (np.array([["a", "b"]]), [1], TypeError, "pairs must be an integer array"),
        (np.zeros((0, 2), dtype=int), [], ValueError, "pairs is empty"),
        (PAIRS, [1, 1], ValueError, "pair_labels must have shape (4,)"),
        (PAIRS, [1, 2, -1, -1], ValueError, "pair_labels must be 1 (similar)"),
        (PAIRS, ["x", "y", "x", "y"], TypeError, "pair_labels must be numeric"),
        (PAIRS, [1, 1, 1, 1], ValueError, "every pair is similar"),
        (PAIRS, [-1, 0, -1, 0], ValueError, "every pair is dissimilar"),
        (PAIRS, None, ValueError, "pair_labels is required with pairs"),
    ],
)
def test_xing_rejects_bad_pairs(pairs, labels, error, message):
    X, _ = _data()
    with pytest.raises(error, match=re.escape(message)):
        MahalanobisXing().fit(X, pairs=pairs, pair_labels=labels)


def test_xing_rejects_pairs_of_identical_rows_only():
    X, _ = _data()
    X[1] = X[0]
    with pytest.raises(ValueError, match=re.escape("every dissimilar pair joins two "
                                                   "identical rows")):
        MahalanobisXing().fit(X, pairs=[[2, 3], [0, 1]], pair_labels=[1, -1])
    with pytest.raises(ValueError, match=re.escape("every similar pair joins two "
                                                   "identical rows")):
        MahalanobisXing().fit(X, pairs=[[0, 1], [2, 3]], pair_labels=[1, -1])


def test_xing_transform_rejects_wrong_width():
    X, y = _data()
    model = MahalanobisXing(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but MahalanobisXing is "
                                         "expecting 3 features"):
        model.transform(X[:, :2])


def test_pair_distance_rejects_wrong_shape():
    X, y = _data()
    model = MahalanobisXing(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=re.escape("pairs must have shape "
                                                   "(n_pairs, 2, 3); got shape (4, 3)")):
        model.pair_distance(X[:4])
