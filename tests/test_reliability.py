"""scikit-learn citizenship of every estimator, beyond ``parametrize_with_checks``:
pandas in and out, feature names, the HTML repr, cloning, nested parameters,
cross-validation, process-based grid search and persistence.

Every test runs over the estimator table of ``tests/_estimators.py``.
"""

import pickle
import re

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ._estimators import (  # noqa: F401  (known_failures: an autouse fixture)
    CASES,
    ITERATIVE_CASES,
    ITERATIVE_LABEL_CASES,
    LABEL_CASES,
    LINEAR_CASES,
    fit_case,
    known_failures,
    make_blobs_data,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # Tiny networks trained for 3 epochs may collapse; not what is tested here.
    pytest.mark.filterwarnings("ignore:.*embedding has collapsed:UserWarning"),
]

ALL = pytest.mark.parametrize("case", CASES, ids=str)
LABELS = pytest.mark.parametrize("case", LABEL_CASES, ids=str)
LINEAR = pytest.mark.parametrize("case", LINEAR_CASES, ids=str)
# The tests that set max_iter (the closed-form learners have none).
ITERATIVE = pytest.mark.parametrize("case", ITERATIVE_CASES, ids=str)
ITERATIVE_LABELS = pytest.mark.parametrize("case", ITERATIVE_LABEL_CASES, ids=str)

COLUMNS = ["sepal", "petal", "stem"]


def _frame(seed=0):
    X, y = make_blobs_data(seed=seed)
    index = pd.Index([f"row{i}" for i in range(X.shape[0])], name="sample")
    return pd.DataFrame(X, columns=COLUMNS, index=index), y


def _assert_same_params(first, second):
    """Equal parameters; array values (a pair learner's preprocessor) by content."""
    a, b = first.get_params(), second.get_params()
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(value, b[key])
        else:
            assert value == b[key], key


def _prefix(model):
    return type(model).__name__.lower()


# ---------------------------------------------------------------------------------
# pandas and feature names
# ---------------------------------------------------------------------------------


@ALL
def test_set_output_pandas_gives_named_frame(case):
    X, y = _frame()
    model = case.make().set_output(transform="pandas")
    Z = fit_case(case, model, X, y).transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert Z.columns.tolist() == model.get_feature_names_out().tolist()
    assert Z.index.equals(X.index)
    model.set_output(transform="default")
    assert_array_equal(Z.to_numpy(), model.transform(X))
    if case.kind == "labels":
        Z_fit = case.make().set_output(transform="pandas").fit_transform(X, y)
        assert isinstance(Z_fit, pd.DataFrame)
        assert_array_equal(Z_fit.to_numpy(), Z.to_numpy())


@ALL
def test_dataframe_feature_names_are_kept_and_checked(case):
    X, y = _frame()
    model = fit_case(case, case.make(), X, y)
    assert model.feature_names_in_.tolist() == COLUMNS
    assert model.n_features_in_ == 3
    with pytest.raises(ValueError, match=re.escape(
            "Feature names unseen at fit time:\n- leaf")):
        model.transform(X.rename(columns={"petal": "leaf"}))
    with pytest.raises(ValueError, match=re.escape(
            "Feature names must be in the same order as they were in fit")):
        model.transform(X[["petal", "sepal", "stem"]])
    with pytest.warns(UserWarning, match=re.escape(
            f"X does not have valid feature names, but {type(model).__name__} was "
            "fitted with feature names")):
        unnamed = model.transform(X.to_numpy())
    assert_array_equal(unnamed, model.transform(X))
    # Refitting on an unnamed array forgets the names.
    fit_case(case, model, X.to_numpy(), y)
    assert not hasattr(model, "feature_names_in_")


@ALL
def test_get_feature_names_out(case):
    X, y = _frame()
    model = fit_case(case, case.make(), X, y)
    n_out = model.transform(X).shape[1]
    expected = [f"{_prefix(model)}{i}" for i in range(n_out)]
    assert model.get_feature_names_out().tolist() == expected
    assert model.get_feature_names_out(COLUMNS).tolist() == expected
    with pytest.raises(ValueError, match="input_features is not equal to "
                                         "feature_names_in_"):
        model.get_feature_names_out(["a", "b", "c"])


@LINEAR
def test_linear_feature_names_follow_n_components(case):
    X, y = _frame()
    model = fit_case(case, case.make(n_components=2), X, y)
    assert model.get_feature_names_out().tolist() == [f"{_prefix(model)}0",
                                                      f"{_prefix(model)}1"]


# ---------------------------------------------------------------------------------
# repr, clone and parameters
# ---------------------------------------------------------------------------------


@ITERATIVE
def test_html_repr_shows_class_parameters_and_fitted_state(case):
    model = case.make(max_iter=7)
    name = type(model).__name__
    html = model._repr_html_()
    body = html[html.index("</style>"):]
    assert f"<div>{name}</div>" in body
    assert "max_iter" in body and "Not fitted" in body
    X, y = make_blobs_data()
    fit_case(case, model, X, y)
    body = model._repr_html_()
    assert "Fitted" in body[body.index("</style>"):]
    pipe_html = make_pipeline(StandardScaler(), model)._repr_html_()
    assert name in pipe_html


@ITERATIVE
def test_clone_gives_an_unfitted_equal_estimator(case):
    X, y = make_blobs_data()
    model = fit_case(case, case.make(max_iter=4), X, y)
    copy = clone(model)
    _assert_same_params(copy, model)
    assert not hasattr(copy, "n_features_in_")
    assert not hasattr(copy, "components_") and not hasattr(copy, "coefs_")
    assert_array_equal(fit_case(case, copy, X, y).transform(X), model.transform(X))


@ITERATIVE_LABELS
def test_nested_pipeline_parameters(case):
    model = case.make()
    inner = Pipeline([("metric", model)])
    pipe = Pipeline([("scale", StandardScaler()), ("inner", inner),
                     ("knn", KNeighborsClassifier(3))])
    params = pipe.get_params(deep=True)
    for key, value in model.get_params(deep=False).items():
        assert params[f"inner__metric__{key}"] is value
    pipe.set_params(inner__metric__max_iter=4, knn__n_neighbors=1)
    assert pipe.named_steps["inner"].named_steps["metric"].max_iter == 4
    assert pipe.get_params()["inner__metric__max_iter"] == 4
    X, y = make_blobs_data()
    assert pipe.fit(X, y).score(X, y) > 0.6
    other = clone(pipe).set_params(inner__metric=case.make(max_iter=4))
    assert other.get_params()["inner__metric__max_iter"] == 4


# ---------------------------------------------------------------------------------
# Model selection
# ---------------------------------------------------------------------------------


def _pipeline(case, **params):
    return Pipeline([("scale", StandardScaler()), ("metric", case.make(**params)),
                     ("knn", KNeighborsClassifier(3))])


@LABELS
def test_cross_val_score(case):
    X, y = make_blobs_data(n_samples=60)
    scores = cross_val_score(_pipeline(case), X, y, cv=3)
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    assert scores.mean() > 0.6  # three well-separated blobs; chance is 1/3


@ITERATIVE_LABELS
def test_grid_search_in_worker_processes_matches_sequential(case):
    X, y = make_blobs_data(n_samples=45)
    grid = {"metric__max_iter": [2, 6], "knn__n_neighbors": [1, 3]}
    results = []
    for n_jobs in (1, 2):
        # Process-based workers (joblib's loky), as users get by default.
        with joblib.parallel_config(backend="loky"):
            search = GridSearchCV(_pipeline(case), grid, cv=3, n_jobs=n_jobs)
            search.fit(X, y)
        results.append(search)
    sequential, parallel = results
    assert_array_equal(parallel.cv_results_["mean_test_score"],
                       sequential.cv_results_["mean_test_score"])
    assert parallel.best_params_ == sequential.best_params_
    assert_array_equal(parallel.best_estimator_[:-1].transform(X),
                       sequential.best_estimator_[:-1].transform(X))


# ---------------------------------------------------------------------------------
# Persistence, determinism and refitting
# ---------------------------------------------------------------------------------


@ALL
def test_pickle_and_joblib_round_trips_give_identical_transforms(case, tmp_path):
    X, y = make_blobs_data()
    model = fit_case(case, case.make(), X, y)
    expected = model.transform(X)
    restored = pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    assert_array_equal(restored.transform(X), expected)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    assert_array_equal(loaded.transform(X), expected)
    _assert_same_params(loaded, model)
    if case.linear:
        metric = pickle.loads(pickle.dumps(model.get_metric()))
        pairs = np.stack((X[:4], X[4:8]), axis=1)
        assert_array_equal([metric(a, b) for a, b in pairs],
                           [model.get_metric()(a, b) for a, b in pairs])


@ALL
def test_same_random_state_same_model_and_fit_returns_self(case):
    X, y = make_blobs_data()
    first = case.make()
    assert fit_case(case, first, X, y) is first
    second = fit_case(case, case.make(), X, y)
    assert_array_equal(first.transform(X), second.transform(X))
    if case.kind == "labels":
        assert_array_equal(case.make().fit_transform(X, y), first.transform(X))


@ALL
def test_refit_on_another_width_resets(case):
    X, y = make_blobs_data(n_features=5)
    model = fit_case(case, case.make(), X, y)
    fit_case(case, model, X[:, :2], y)
    assert model.n_features_in_ == 2
    assert model.transform(X[:, :2]).shape[0] == X.shape[0]
    with pytest.raises(ValueError, match="X has 5 features, but"):
        model.transform(X)
    if case.linear:
        assert model.components_.shape[1] == 2


@LINEAR
def test_linear_float32_kept_in_transform_and_pair_distance_float64(case):
    X, y = make_blobs_data()
    model = fit_case(case, case.make(), X.astype(np.float32), y)
    assert model.components_.dtype == np.float64  # learned in float64 either way
    Z32 = model.transform(X.astype(np.float32))
    assert Z32.dtype == np.float32
    Z64 = model.transform(X)
    assert np.allclose(Z32, Z64, rtol=1e-4, atol=1e-4 * np.abs(Z64).max())
    pairs = np.stack((X[:4], X[4:8]), axis=1).astype(np.float32)
    assert model.pair_distance(pairs).dtype == np.float64

