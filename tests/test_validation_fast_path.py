"""The cheap common path of skmetric._validation agrees with scikit-learn's checks.

A plain float64 C-contiguous finite array (and 1-D integer labels) skips
scikit-learn's ``validate_data``; everything else goes through it. These tests
compare the two paths on the same input, and check that a remembered set of
valid hyper-parameters never lets an invalid one through.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils.validation import validate_data

from skmetric import LFDA, NCA, Covariance
from skmetric import _validation


def _slow_check_X(estimator, X, reset=True):
    return validate_data(estimator, X, reset=reset, dtype=np.float64, order="C",
                         ensure_min_samples=2 if reset else 1)


def _inputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    big = np.full((4, 2), 1e308)  # finite, but its sum overflows
    nan = X.copy()
    nan[2, 1] = np.nan
    inf = X.copy()
    inf[0, 0] = -np.inf
    return {
        "plain": X, "float32": X.astype(np.float32), "fortran": np.asfortranarray(X),
        "strided": X[:, ::2], "list": X.tolist(), "int": np.arange(12).reshape(6, 2),
        "big": big, "nan": nan, "inf": inf, "one row": X[:1],
        "no column": np.empty((5, 0)), "1-D": X[:, 0],
        "frame": pd.DataFrame(X, columns=["a", "b", "c"]),
    }


@pytest.mark.parametrize("name", list(_inputs()))
def test_check_X_matches_validate_data(name):
    X = _inputs()[name]
    fast_est, slow_est = Covariance(), Covariance()
    try:
        expected = _slow_check_X(slow_est, X)
    except ValueError as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            _validation.check_X(fast_est, X)
        return
    result = _validation.check_X(fast_est, X)
    assert_array_equal(result, expected)
    assert result.dtype == np.float64 and result.flags.c_contiguous
    assert fast_est.n_features_in_ == slow_est.n_features_in_
    assert (hasattr(fast_est, "feature_names_in_")
            == hasattr(slow_est, "feature_names_in_"))
    if name == "plain":
        assert result is X  # nothing converted, nothing copied


def test_check_X_plain_refit_forgets_feature_names():
    X = _inputs()["plain"]
    estimator = Covariance().fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    assert hasattr(estimator, "feature_names_in_")
    estimator.fit(X[:, :2])
    assert not hasattr(estimator, "feature_names_in_")
    assert estimator.n_features_in_ == 2


def test_check_X_plain_after_named_fit_still_warns():
    X = _inputs()["plain"]
    estimator = Covariance().fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        estimator.transform(X)


def test_check_X_plain_rejects_wrong_width_after_fit():
    X = _inputs()["plain"]
    estimator = Covariance().fit(X)
    with pytest.raises(ValueError, match=re.escape(
            "X has 2 features, but Covariance is expecting 3 features as input.")):
        estimator.transform(X[:, :2].copy())


@pytest.mark.parametrize("labels", [
    [0, 1, 2], [5, 9, 7], [-3, 0, 4], [2, 1000000, 7], [True, False, True],
])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.uint64, None])
def test_check_X_y_classes_encodes_as_unique(labels, dtype):
    if dtype is np.uint8 and max(labels) > 255 or dtype in (np.uint8, np.uint64) \
            and min(labels) < 0:
        pytest.skip("labels do not fit the dtype")
    rng = np.random.default_rng(1)
    y = np.asarray(rng.choice(labels, size=30), dtype=dtype)
    y[: len(labels)] = labels  # every label present
    X = rng.normal(size=(30, 2))
    _, encoded, classes = _validation.check_X_y_classes(LFDA(), X, y)
    expected_classes, expected = np.unique(y, return_inverse=True)
    assert_array_equal(classes, expected_classes)
    assert classes.dtype == expected_classes.dtype
    assert_array_equal(encoded, expected)
    assert encoded.dtype == np.int64 and encoded.ndim == 1


def test_check_X_y_classes_plain_still_rejects_small_classes():
    X = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ValueError, match=re.escape(
            "LFDA needs at least 2 samples in every class; these classes have "
            "fewer (7: 1).")):
        _validation.check_X_y_classes(LFDA(), X, np.array([3, 3, 3, 3, 7]))
    with pytest.raises(ValueError, match="got a single class 3"):
        _validation.check_X_y_classes(LFDA(), X, np.full(5, 3))


def test_check_X_y_classes_continuous_float_labels_still_rejected():
    X = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match="Unknown label type"):
        _validation.check_X_y_classes(LFDA(), X, np.linspace(0, 1, 6))


def test_check_X_y_classes_column_y_still_warns():
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array([[0], [0], [0], [1], [1], [1]])
    with pytest.warns(Warning, match="column-vector y was passed"):
        _validation.check_X_y_classes(LFDA(), X, y)


def test_check_params_remembers_only_valid_values():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.repeat([0, 1], 10)
    LFDA(n_neighbors=3).fit(X, y)
    LFDA(n_neighbors=3).fit(X, y)  # remembered now
    # 3.0 == 3 and hashes alike, but a float is not an int: still refused.
    with pytest.raises(ValueError, match="'n_neighbors' parameter of LFDA must be"):
        LFDA(n_neighbors=3.0).fit(X, y)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of LFDA must be"):
        LFDA(n_neighbors=0).fit(X, y)
    with pytest.raises(ValueError, match="'embedding_type' parameter of LFDA"):
        LFDA(n_neighbors=3, embedding_type="nope").fit(X, y)


def test_check_params_checks_array_values_every_time():
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.repeat([0, 1], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        NCA(init=np.eye(3), max_iter=2).fit(X, y)
    with pytest.raises(ValueError):
        NCA(init=np.eye(2), max_iter=2).fit(X, y)
