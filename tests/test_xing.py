import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmetric import MahalanobisXing, MahalanobisXingPairs
from skmetric._kernels import weighted_outer_sum
from skmetric._xing import _rescaled_rows, default_n_constraints, sample_label_pairs

from ._toys import informative_axis_data

BOTH = pytest.mark.parametrize("diagonal", [False, True])


@BOTH
def test_xing_weights_the_informative_axis_most(diagonal):
    X, y = informative_axis_data()
    model = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X, y)
    weights = np.diag(model.get_mahalanobis_matrix())
    assert np.argmax(weights) == 0
    assert weights[0] > 10 * weights[1:].max()
    euclid = cross_val_score(KNeighborsClassifier(3), X, y, cv=3).mean()
    learned = cross_val_score(
        make_pipeline(MahalanobisXing(diagonal=diagonal, random_state=0),
                      KNeighborsClassifier(3)), X, y, cv=3,
    ).mean()
    assert learned > euclid + 0.1
    assert learned > 0.9


def test_xing_full_converges_to_psd_feasible_metric():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(0)
    similar, dissimilar = sample_label_pairs(y.astype(np.int64), 200, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MahalanobisXing(n_constraints=200, random_state=0, tol=1e-7,
                                max_iter=500).fit(X, y)
    M = model.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() > -1e-10 * np.abs(M).max()
    constraint = np.sum(weighted_outer_sum(X, similar[:, 0], similar[:, 1],
                                           np.ones(len(similar))) * M)
    assert constraint <= 1.0 + 1e-6
    # Optimal: no feasible M along the projected ascent direction does better.
    diffs = X[dissimilar[:, 0]] - X[dissimilar[:, 1]]
    objective = np.sqrt(np.einsum("ij,jk,ik->i", diffs, M, diffs)).sum()
    for _ in range(3):
        E = rng.normal(size=M.shape) * 1e-3 * np.abs(M).max()
        other = M + E + E.T
        values, vectors = np.linalg.eigh(other)
        other = (vectors * np.maximum(values, 0)) @ vectors.T
        other /= np.sum(weighted_outer_sum(X, similar[:, 0], similar[:, 1],
                                           np.ones(len(similar))) * other)
        alt = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diffs, other, diffs), 0)).sum()
        assert alt <= objective * (1 + 1e-4)


def test_xing_diagonal_metric_is_diagonal_psd_and_feasible():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MahalanobisXing(diagonal=True, n_constraints=300, random_state=0).fit(X, y)
    M = model.get_mahalanobis_matrix()
    assert_allclose(M, np.diag(np.diag(M)), atol=1e-12)
    assert np.diag(M).min() >= 0.0
    similar, _ = sample_label_pairs(y.astype(np.int64), 300, np.random.RandomState(0))
    constraint = np.sum(weighted_outer_sum(X, similar[:, 0], similar[:, 1],
                                           np.ones(len(similar))) * M)
    assert constraint <= 1.0


def test_sample_label_pairs_are_valid_and_reproducible():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3], dtype=np.int64)  # class 3 singleton
    similar, dissimilar = sample_label_pairs(y, 500, np.random.RandomState(1))
    assert similar.shape == dissimilar.shape == (500, 2)
    assert np.all(y[similar[:, 0]] == y[similar[:, 1]])
    assert np.all(similar[:, 0] != similar[:, 1])
    assert np.all(y[dissimilar[:, 0]] != y[dissimilar[:, 1]])
    assert not np.any(similar == 9)  # the singleton has no similar partner
    # Every admissible partner is reached.
    assert set(map(tuple, similar[similar[:, 0] == 5])) >= {(5, 6), (5, 7), (5, 8)}
    again = sample_label_pairs(y, 500, np.random.RandomState(1))
    assert_array_equal(similar, again[0])
    assert_array_equal(dissimilar, again[1])


def test_rescaled_rows_keep_only_used_rows():
    X = np.arange(20.0).reshape(10, 2) * 1e120
    similar = np.array([[2, 3]], dtype=np.int64)
    dissimilar = np.array([[3, 7]], dtype=np.int64)
    X_used, s, d, scale = _rescaled_rows(X, similar, dissimilar)
    assert X_used.shape == (3, 2)
    assert np.abs(X_used).max() == 1.0
    assert_allclose((X_used[s[0, 0]] - X_used[s[0, 1]]) * scale, X[2] - X[3])
    assert_allclose((X_used[d[0, 0]] - X_used[d[0, 1]]) * scale, X[3] - X[7])


@BOTH
@pytest.mark.parametrize("magnitude", [1e-150, 1.0, 1e150])
def test_xing_is_scale_equivariant(diagonal, magnitude):
    X, y = informative_axis_data(n_samples=60)
    base = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X, y)
    scaled = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X * magnitude, y)
    assert np.all(np.isfinite(scaled.components_))
    assert_allclose(scaled.transform(X * magnitude), base.transform(X),
                    rtol=1e-6, atol=1e-9)


@BOTH
def test_xing_same_random_state_same_result(diagonal):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    a = MahalanobisXing(diagonal=diagonal, random_state=3).fit(X, y)
    b = MahalanobisXing(diagonal=diagonal, random_state=3).fit(X, y)
    c = MahalanobisXing(diagonal=diagonal, random_state=4).fit(X, y)
    assert_array_equal(a.components_, b.components_)
    assert not np.allclose(a.components_, c.components_)


def test_xing_pairs_learn_the_informative_axis_from_explicit_pairs():
    X, y = informative_axis_data(n_samples=80)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 80, size=(400, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    labels = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    model = MahalanobisXingPairs(diagonal=True, preprocessor=X).fit(pairs, labels)
    M = model.get_mahalanobis_matrix()
    assert np.argmax(np.diag(M)) == 0
    # The same pairs as points give the same metric.
    points = MahalanobisXingPairs(diagonal=True).fit(X[pairs], labels)
    assert_allclose(points.components_, model.components_, rtol=1e-10)
    # 0/1 and boolean labels mean the same as -1/1.
    for other in ((labels > 0).astype(int), labels > 0):
        zero_one = MahalanobisXingPairs(diagonal=True, preprocessor=X).fit(pairs,
                                                                           other)
        assert_allclose(zero_one.components_, model.components_)


@pytest.mark.parametrize("diagonal", [False, True])
def test_xing_and_xing_pairs_share_one_solver(diagonal):
    # The labelled estimator samples pairs from y; the pair learner given those
    # very pairs solves the same problem with the same solver.
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labelled = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X, y)
    similar, dissimilar = sample_label_pairs(
        y.astype(np.int64), default_n_constraints(*X.shape, 3),
        np.random.RandomState(0))
    pairs = np.concatenate((similar, dissimilar))
    labels = np.repeat([1, -1], [len(similar), len(dissimilar)])
    from_pairs = MahalanobisXingPairs(diagonal=diagonal, preprocessor=X).fit(
        pairs, labels)
    assert from_pairs.n_iter_ == labelled.n_iter_
    assert_allclose(from_pairs.get_mahalanobis_matrix(),
                    labelled.get_mahalanobis_matrix(), rtol=1e-6,
                    atol=1e-9 * np.abs(labelled.get_mahalanobis_matrix()).max())


def test_xing_pipeline_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MahalanobisXing(random_state=0),
                         KNeighborsClassifier(3))
    grid = GridSearchCV(
        pipe, {"mahalanobisxing__diagonal": [False, True],
               "mahalanobisxing__n_constraints": [50, 200]}, cv=3,
    )
    grid.fit(X, y)
    assert grid.best_score_ > 0.9
    assert set(grid.best_params_) == {"mahalanobisxing__diagonal",
                                      "mahalanobisxing__n_constraints"}


@BOTH
def test_xing_pickle_round_trip(diagonal):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.transform(X), model.transform(X))
    metric = pickle.loads(pickle.dumps(model.get_metric()))
    assert_allclose(metric(X[0], X[1]), model.pair_distance(X[None, :2])[0])


def test_xing_refit_on_other_width_resets():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MahalanobisXing(random_state=0).fit(X, y)
    model.fit(X[:, :5], y)
    assert model.components_.shape == (5, 5)
    assert model.n_features_in_ == 5
    assert model.transform(X[:, :5]).shape == (X.shape[0], 5)


def test_xing_accepts_float32_and_lists_and_leaves_input_unchanged():
    X, y = load_iris(return_X_y=True)
    X32 = X.astype(np.float32)
    copy = X32.copy()
    a = MahalanobisXing(random_state=0).fit(X32, y)
    b = MahalanobisXing(random_state=0).fit(X.tolist(), y.tolist())
    assert_array_equal(X32, copy)
    assert a.transform(X32).dtype == np.float32
    assert a.transform(X).dtype == np.float64
    assert a.transform(X.astype(int)).dtype == np.float64
    assert_allclose(a.components_, b.components_, rtol=1e-5, atol=1e-8)


def test_xing_n_components_keeps_leading_directions():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    full = MahalanobisXing(random_state=0).fit(X, y)
    reduced = MahalanobisXing(n_components=2, random_state=0).fit(X, y)
    assert reduced.components_.shape == (2, 13)
    assert_allclose(reduced.components_, full.components_[:2])
    assert reduced.get_feature_names_out().tolist() == ["mahalanobisxing0",
                                                        "mahalanobisxing1"]


def test_xing_metric_helpers_agree():
    X, y = load_iris(return_X_y=True)
    model = MahalanobisXing(random_state=0).fit(X, y)
    pairs = np.stack((X[:10], X[10:20]), axis=1)
    M = model.get_mahalanobis_matrix()
    diffs = X[:10] - X[10:20]
    expected = np.sqrt(np.einsum("ij,jk,ik->i", diffs, M, diffs))
    assert_allclose(model.pair_distance(pairs), expected, rtol=1e-10)
    assert_allclose(model.pair_score(pairs), -expected, rtol=1e-10)
    Z = model.transform(X)
    assert_allclose(np.linalg.norm(Z[:10] - Z[10:20], axis=1), expected, rtol=1e-10)
    knn = KNeighborsClassifier(3, metric=model.get_metric()).fit(X, y)
    knn_z = KNeighborsClassifier(3).fit(Z, y)
    assert_array_equal(knn.predict(X[:30]), knn_z.predict(Z[:30]))


def test_xing_handles_ill_conditioned_input():
    X, y = informative_axis_data(n_samples=80)
    X = np.column_stack((X, X[:, 1] * (1 + 1e-12), X[:, 2] * 1e-9,
                         np.zeros(80)))  # collinear, tiny and constant columns
    for diagonal in (False, True):
        model = MahalanobisXing(diagonal=diagonal, random_state=0).fit(X, y)
        assert np.all(np.isfinite(model.components_))
        assert np.argmax(np.diag(model.get_mahalanobis_matrix())) == 0


def test_xing_warns_when_not_converged():
    X, y = load_wine(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match=re.escape(
            "MahalanobisXing did not converge in max_iter=1 iterations")):
        model = MahalanobisXing(max_iter=1, tol=0.0, random_state=0).fit(X, y)
    assert model.n_iter_ == 1


def test_xing_verbose_output(capsys):
    X, y = load_iris(return_X_y=True)
    MahalanobisXing(random_state=0, verbose=2).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[MahalanobisXing] Fitting a full metric on 150 samples")
    assert re.search(r"Iteration\s+Objective\s+Residual\s+Time\(s\)", lines[1])
    assert all(line.startswith("[MahalanobisXing]") for line in lines)
    assert re.match(r"\[MahalanobisXing\] Converged after \d+ iterations", lines[-1])
    MahalanobisXing(random_state=0, verbose=1).fit(X, y)
    assert len(capsys.readouterr().out.splitlines()) == 2
    MahalanobisXing(random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
