"""Hostile input: each bad input gets a clear error before any numba kernel runs,
and each awkward but valid input works and gives finite, sensible results.

Every test runs over the estimator table of ``tests/_estimators.py``.
"""

import re
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numba.core.dispatcher import Dispatcher
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skmetric._kernels._core import ThreadedKernel

from ._estimators import (  # noqa: F401  (known_failures: an autouse fixture)
    CASES,
    LABEL_CASES,
    LINEAR_CASES,
    fit_case,
    known_failures,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

ALL = pytest.mark.parametrize("case", CASES, ids=str)
LABELS = pytest.mark.parametrize("case", LABEL_CASES, ids=str)
LINEAR = pytest.mark.parametrize("case", LINEAR_CASES, ids=str)


def _data(n=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, d)) + 3.0 * y[:, None], y


def _install_tripwires(monkeypatch):
    """Replace every numba kernel in skmetric by a tripwire: validation comes first."""

    def tripwire(name):
        def call(*args, **kwargs):
            raise AssertionError(f"numba kernel {name} ran before the input was "
                                 "rejected")
        return call

    for module_name, module in list(sys.modules.items()):
        if module_name == "skmetric" or module_name.startswith("skmetric."):
            for attr, value in list(vars(module).items()):
                if isinstance(value, (Dispatcher, ThreadedKernel)):
                    monkeypatch.setattr(module, attr, tripwire(f"{module_name}.{attr}"))


@pytest.fixture
def no_kernels(monkeypatch):
    _install_tripwires(monkeypatch)


def _quiet_fit(case, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # scaling / collapse notes
        return fit_case(case, case.make(**params), X, y)


# ---------------------------------------------------------------------------------
# Bad X at fit: every estimator, every way of fitting
# ---------------------------------------------------------------------------------


def _with(value):
    def make():
        X, y = _data()
        X[3, 1] = value
        return X, y
    return make


def _shaped(shape, n_labels=None):
    def make():
        n = shape[0] if n_labels is None else n_labels
        return np.zeros(shape), np.arange(n) % 2
    return make


BAD_X = {
    "nan": (_with(np.nan), ValueError, "Input X contains NaN"),
    "+inf": (_with(np.inf), ValueError, "Input X contains infinity"),
    "-inf": (_with(-np.inf), ValueError, "Input X contains infinity"),
    "empty": (_shaped((0, 3)), ValueError,
              "Found array with 0 sample(s) (shape=(0, 3)) while a minimum of 2 is "
              "required"),
    "no features": (_shaped((20, 0)), ValueError,
                    "Found array with 0 feature(s) (shape=(20, 0)) while a minimum of "
                    "1 is required"),
    "one sample": (lambda: (np.ones((1, 3)), np.array([0])), ValueError,
                   "Found array with 1 sample(s) (shape=(1, 3)) while a minimum of 2 "
                   "is required"),
    "1-D": (lambda: (np.arange(20.0), np.arange(20) % 2), ValueError,
            "Expected 2D array, got 1D array instead"),
    "3-D": (lambda: (np.zeros((20, 3, 2)), np.arange(20) % 2), ValueError,
            "Found array with dim 3"),
    "complex": (lambda: (_data()[0] + 1j, _data()[1]), ValueError,
                "Complex data not supported"),
    "strings": (lambda: (np.full((20, 3), "a"), _data()[1]), ValueError,
                "could not convert string to float"),
    "sparse": (lambda: (sp.csr_matrix(_data()[0]), _data()[1]), TypeError,
               "Sparse data was passed for X, but dense data is required"),
}


@ALL
@pytest.mark.parametrize("problem", list(BAD_X))
def test_fit_rejects_bad_X_before_any_kernel(case, problem, no_kernels):
    make, error, message = BAD_X[problem]
    if case.kind in ("pairs", "triplets", "quadruplets") and problem == "sparse":
        # Pair and triplet learners get X as their preprocessor, whose declared
        # type (array-like or callable) rejects a sparse matrix by name.
        message = f"The 'preprocessor' parameter of {type(case.make()).__name__}"
    X, y = make()
    with pytest.raises(error, match=re.escape(message)):
        fit_case(case, case.make(), X, y)


# ---------------------------------------------------------------------------------
# Bad labels at fit
# ---------------------------------------------------------------------------------


def _labels(transform):
    def make():
        X, y = _data()
        return X, transform(y)
    return make


BAD_Y = {
    "single class": (_labels(lambda y: np.full(y.shape, 7)), ValueError,
                     "needs at least 2 classes in y to learn a metric; got a single "
                     "class 7"),
    "class of one point": (_labels(lambda y: np.r_[5, y[1:]]), ValueError,
                           "needs at least 2 samples in every class"),
    "continuous floats": (_labels(lambda y: y + np.linspace(0, 0.5, y.size)),
                          ValueError, "Unknown label type: continuous"),
    "nan label": (_labels(lambda y: np.r_[np.nan, y[1:]]), ValueError,
                  "Input y contains NaN"),
    "shorter y": (_labels(lambda y: y[:-1]), ValueError,
                  "Found input variables with inconsistent numbers of samples: "
                  "[20, 19]"),
    "2-D y": (_labels(lambda y: np.column_stack((y, y))), ValueError,
              "y should be a 1d array, got an array of shape (20, 2) instead"),
    "mixed label types": (_labels(lambda y: np.array(["a", 1], dtype=object)[y]),
                          TypeError, "y mixes labels of types that cannot be ordered "
                                     "(int, str)"),
    "no y": (_labels(lambda y: None), ValueError,
             "requires y to be passed, but the target y is None"),
}


@LABELS
@pytest.mark.parametrize("problem", list(BAD_Y))
def test_fit_rejects_bad_labels_before_any_kernel(case, problem, no_kernels):
    make, error, message = BAD_Y[problem]
    X, y = make()
    with pytest.raises(error, match=re.escape(message)):
        case.make().fit(X, y)


# ---------------------------------------------------------------------------------
# Bad X at transform
# ---------------------------------------------------------------------------------

BAD_TRANSFORM = {
    "wrong width": (lambda X: X[:, :2], ValueError,
                    "X has 2 features, but {name} is expecting 3 features as input"),
    "nan": (lambda X: np.where(X > 1, np.nan, X), ValueError,
            "Input X contains NaN"),
    "inf": (lambda X: np.where(X > 1, np.inf, X), ValueError,
            "Input X contains infinity"),
    "empty": (lambda X: X[:0], ValueError,
              "Found array with 0 sample(s) (shape=(0, 3)) while a minimum of 1 is "
              "required"),
    "1-D": (lambda X: X[0], ValueError, "Expected 2D array, got 1D array instead"),
    "sparse": (sp.csr_matrix, TypeError,
               "Sparse data was passed for X, but dense data is required"),
}


@ALL
def test_transform_rejects_bad_X_before_any_kernel(case, monkeypatch):
    X, y = _data()
    model = _quiet_fit(case, X, y)
    name = type(model).__name__
    _install_tripwires(monkeypatch)
    for problem, (make, error, message) in BAD_TRANSFORM.items():
        with pytest.raises(error, match=re.escape(message.format(name=name))):
            model.transform(make(X))


@ALL
def test_transform_before_fit_raises_not_fitted(case):
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        case.make().transform(np.ones((3, 3)))


# ---------------------------------------------------------------------------------
# Bad hyper-parameters
# ---------------------------------------------------------------------------------

BAD_PARAMS = [
    ("max_iter", 0), ("max_iter", -1), ("max_iter", 2.5), ("max_iter", "10"),
    ("tol", -1.0), ("tol", np.nan), ("tol", np.inf),
    ("n_components", 0), ("n_components", -5), ("n_components", 1.5),
    ("random_state", "seed"), ("random_state", 1.5),
    ("verbose", -1), ("verbose", "loud"),
]
# Parameters of one estimator only: class name -> [(parameter, bad value), ...].
OWN_BAD_PARAMS = {
    "MahalanobisXing": [("n_constraints", 0), ("n_constraints", -3),
                        ("n_constraints", 10**12), ("diagonal", "yes")],
    "LMNN": [("n_neighbors", 0), ("push_weight", -0.5), ("push_weight", 2.0),
             ("max_impostors", 0), ("init", "nonsense"), ("loss", "l3")],
}


def _bad_params(case):
    name = case.name.split("(")[0]
    # Pair and triplet learners lack the parameters that only labels give a
    # meaning to (MahalanobisXingPairs has no random_state: it draws nothing).
    known = case.make().get_params()
    return [(param, value) for param, value in BAD_PARAMS + OWN_BAD_PARAMS.get(name, [])
            if param in known]


@ALL
def test_fit_rejects_bad_hyper_parameters_before_any_kernel(case, no_kernels):
    X, y = _data()
    for param, value in _bad_params(case):
        model = case.make(**{param: value})
        message = f"The '{param}' parameter of {type(model).__name__} must be"
        with pytest.raises((ValueError, TypeError), match=re.escape(message)):
            fit_case(case, model, X, y)


@LINEAR
def test_linear_rejects_more_components_than_features(case, no_kernels):
    X, y = _data()
    with pytest.raises(ValueError, match=re.escape(
            "n_components=1000000000 must be at most the number of features, 3")):
        fit_case(case, case.make(n_components=10**9), X, y)


# ---------------------------------------------------------------------------------
# Awkward but valid input: must work, finite results, no silent wrong answer
# ---------------------------------------------------------------------------------


def _check_embedding(model, X, n_rows):
    Z = model.transform(X)
    assert Z.shape == (n_rows, model.get_feature_names_out().shape[0])
    assert np.all(np.isfinite(Z))
    return Z


@ALL
def test_one_feature_works(case):
    X, y = _data(d=1)
    model = _quiet_fit(case, X, y)
    _check_embedding(model, X, 20)
    if case.linear:
        assert model.components_.shape == (1, 1)


@ALL
def test_constant_and_duplicated_columns_work(case):
    X, y = _data()
    X = np.column_stack((X, np.full(20, 4.2), X[:, 0]))
    model = _quiet_fit(case, X, y)
    Z = _check_embedding(model, X, 20)
    assert np.ptp(Z, axis=0).max() > 0.0  # not everything mapped to one point


@ALL
def test_duplicated_rows_work(case):
    X, y = _data()
    X, y = np.vstack((X, X, X[:5])), np.concatenate((y, y, y[:5]))
    model = _quiet_fit(case, X, y)
    Z = _check_embedding(model, X, 45)
    assert_allclose(Z[:20], Z[20:40])


@ALL
@pytest.mark.parametrize("magnitude", [1e-150, 1e150])
def test_extreme_magnitudes_give_finite_results(case, magnitude):
    X, y = _data()
    model = _quiet_fit(case, X * magnitude, y)
    Z = _check_embedding(model, X * magnitude, 20)
    assert np.ptp(Z, axis=0).max() > 0.0
    if case.linear:
        assert np.all(np.isfinite(model.components_))
        assert np.all(np.isfinite(model.get_mahalanobis_matrix()))
        pairs = np.stack((X[:5], X[5:10]), axis=1) * magnitude
        assert np.all(np.isfinite(model.pair_distance(pairs)))


@ALL
def test_more_features_than_samples_works(case):
    rng = np.random.default_rng(1)
    y = np.arange(8) % 2
    X = rng.normal(size=(8, 30)) + y[:, None]
    model = _quiet_fit(case, X, y)
    _check_embedding(model, X, 8)
    if case.linear:
        assert model.components_.shape == (30, 30)


@ALL
@pytest.mark.parametrize("kind", ["int", "bool", "list", "float32", "fortran"])
def test_other_numeric_inputs_work(case, kind):
    X, y = _data()
    converted = {
        "int": lambda: np.round(X * 10).astype(np.int64),
        "bool": lambda: X > 0.5,
        "list": X.tolist,
        "float32": lambda: X.astype(np.float32),
        "fortran": lambda: np.asfortranarray(X),
    }[kind]()
    model = _quiet_fit(case, converted, y)
    Z = _check_embedding(model, converted, 20)
    expected = np.float32 if case.linear and kind == "float32" else np.float64
    assert Z.dtype == expected


# Labels that mean the same classes as 0/1/2 must give the very same model.
SAME_LABELS = {
    "strings": lambda y: np.array(["ant", "bee", "cat"])[y],
    "object strings": lambda y: np.array(["ant", "bee", "cat"], dtype=object)[y],
    "non-contiguous": lambda y: np.array([-7, 3, 1000])[y],
    "float": lambda y: y.astype(np.float64),
    "float32": lambda y: y.astype(np.float32),
    "list": lambda y: y.tolist(),
}


@LABELS
@pytest.mark.parametrize("kind", list(SAME_LABELS))
def test_relabelled_classes_give_the_same_model(case, kind):
    rng = np.random.default_rng(2)
    y = np.arange(30) % 3
    X = rng.normal(size=(30, 3)) + 2.0 * y[:, None]
    reference = _quiet_fit(case, X, y).transform(X)
    relabelled = _quiet_fit(case, X, SAME_LABELS[kind](y)).transform(X)
    assert_array_equal(relabelled, reference)


@LABELS
def test_boolean_labels_work(case):
    X, y = _data()
    reference = _quiet_fit(case, X, y).transform(X)
    assert_array_equal(_quiet_fit(case, X, y.astype(bool)).transform(X), reference)


def test_xing_default_constraints_bounded_with_many_classes():
    # 500 classes of 2 points: 20 * n_classes**2 = 5e6 pairs of each kind; 5000
    # classes would need tens of GB. The default is capped at 10**6.
    from skmetric import MahalanobisXing
    from skmetric._xing import _MAX_CONSTRAINTS

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(1000, 2)), np.arange(1000) // 2
    model = MahalanobisXing(diagonal=True, max_iter=5, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.components_))
    assert _MAX_CONSTRAINTS == 10**6
