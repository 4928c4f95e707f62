import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skmetric import MahalanobisXing
from skmetric import metrics


def _brute_force(X, y, X_ref=None, y_ref=None, k=1, n_neighbors=3):
    """Per-query loops straight from the definitions (ties by reference order)."""
    loo = X_ref is None
    if loo:
        X_ref, y_ref = X, y
    maps, rprecs, precs, correct, counted = [], [], [], 0, 0
    for q in range(len(X)):
        refs = [r for r in range(len(X_ref)) if not (loo and r == q)]
        dists = [float(np.sum((X[q] - X_ref[r]) ** 2)) for r in refs]
        ranked = [refs[i] for i in sorted(range(len(refs)), key=lambda i: (dists[i], i))]
        labels = [y_ref[r] for r in ranked]
        R = sum(label == y[q] for label in labels)
        votes = labels[:n_neighbors]
        tally = {}
        for label in votes:
            tally[label] = tally.get(label, 0) + 1
        top = max(tally.values())
        winner = next(label for label in votes if tally[label] == top)
        correct += winner == y[q]
        if R == 0:
            continue
        counted += 1
        hits = [labels[i] == y[q] for i in range(R)]
        maps.append(sum(sum(hits[: i + 1]) / (i + 1) for i in range(R) if hits[i]) / R)
        rprecs.append(sum(hits) / R)
        precs.append(sum(label == y[q] for label in labels[:k]) / k)
    return np.mean(maps), np.mean(rprecs), np.mean(precs), correct / len(X)


def test_metrics_on_a_hand_computed_example_with_a_tie():
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    y = np.array(["a", "a", "b", "b"])
    # Query 1 is equally far from rows 0 (a) and 2 (b): row order puts row 0 first.
    # Query 2's nearest is row 1 (a): its only miss.
    assert metrics.map_at_r(X, y) == 0.75
    assert metrics.r_precision(X, y) == 0.75
    assert metrics.precision_at_k(X, y, k=1) == 0.75


def test_map_at_r_rewards_early_hits_more_than_r_precision():
    X = np.array([[0.0], [1.0], [3.0], [4.0], [100.0]])
    y = np.array([0, 1, 0, 0, 1])
    # Query 0: R = 2, ranking b, a, a, b -> hits at rank 2 only among the first R.
    values, R = metrics._retrieval_scores(X, y, None, None, metrics._map_at_r_rows)
    assert R.tolist() == [2, 1, 2, 2, 1]
    assert_allclose(values[0], 0.25)
    rprec, _ = metrics._retrieval_scores(X, y, None, None, metrics._r_precision_rows)
    assert_allclose(rprec[0], 0.5)


def test_singleton_classes_are_left_out_and_all_singletons_raise():
    X = np.array([[0.0], [0.1], [5.0]])
    y = np.array([0, 0, 1])  # class 1 has a single point: R = 0
    assert metrics.map_at_r(X, y) == 1.0
    assert metrics.precision_at_k(X, y, k=1) == 1.0
    with pytest.raises(ValueError, match=re.escape(
            "map_at_r needs at least one query whose class has another reference")):
        metrics.map_at_r(X, np.array([0, 1, 2]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_ref", [False, True])
def test_metrics_match_brute_force_with_ties(seed, with_ref):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(40, 2)).astype(float)  # many exact ties
    y = rng.integers(0, 4, size=40)
    y[0] = 9  # a class of size one
    kwargs = {}
    if with_ref:
        kwargs = {"X_ref": rng.integers(0, 3, size=(30, 2)).astype(float),
                  "y_ref": rng.integers(0, 4, size=30)}
    expected = _brute_force(X, y, kwargs.get("X_ref"), kwargs.get("y_ref"), k=5,
                            n_neighbors=4)
    assert_allclose(metrics.map_at_r(X, y, **kwargs), expected[0], rtol=1e-12)
    assert_allclose(metrics.r_precision(X, y, **kwargs), expected[1], rtol=1e-12)
    assert_allclose(metrics.precision_at_k(X, y, k=5, **kwargs), expected[2],
                    rtol=1e-12)
    assert_allclose(metrics.knn_accuracy(X, y, n_neighbors=4, **kwargs), expected[3],
                    rtol=1e-12)
    together = metrics.retrieval_scores(X, y, k=5, **kwargs)
    assert_allclose([together["map_at_r"], together["r_precision"],
                     together["precision_at_k"]], expected[:3], rtol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 25])
@pytest.mark.parametrize("with_ref", [False, True])
def test_retrieval_scores_equal_the_three_metrics_one_by_one(k, with_ref):
    # k = 25 ranks deeper than any R (classes of about 8 among 40 rows).
    rng = np.random.default_rng(k)
    X = rng.integers(0, 4, size=(40, 3)).astype(float)
    y = rng.integers(0, 5, size=40)
    kwargs = {}
    if with_ref:
        kwargs = {"X_ref": rng.normal(size=(35, 3)), "y_ref": rng.integers(0, 5, 35)}
    together = metrics.retrieval_scores(X, y, k=k, **kwargs)
    assert together == {
        "map_at_r": metrics.map_at_r(X, y, **kwargs),
        "r_precision": metrics.r_precision(X, y, **kwargs),
        "precision_at_k": metrics.precision_at_k(X, y, k=k, **kwargs),
    }


@pytest.mark.parametrize("offset", [1e4, 1e8])
def test_metrics_are_translation_invariant_far_from_the_origin(offset):
    # |a|^2 + |b|^2 - 2 a.b cancels catastrophically far from the origin unless
    # the points are centred first: at 1e8 uncentred MAP@R fell from 0.681 to 0.361.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    shift = np.full(X.shape[1], offset)
    for name in ("map_at_r", "r_precision", "knn_accuracy"):
        score = getattr(metrics, name)
        # Shifting by 1e8 rounds the inputs at about 1e-8, which may reorder a few
        # near-ties: equal to 1e-4, far below the 0.3 the expansion lost.
        assert_allclose(score(X + shift, y), score(X, y), atol=1e-4)
        assert_allclose(
            score(X[::2] + shift, y[::2], X_ref=X[1::2] + shift, y_ref=y[1::2]),
            score(X[::2], y[::2], X_ref=X[1::2], y_ref=y[1::2]), atol=1e-4)
    assert_allclose(metrics.precision_at_k(X + shift, y, k=5),
                    metrics.precision_at_k(X, y, k=5), atol=1e-4)


def test_knn_accuracy_matches_scikit_learn_without_ties():
    rng = np.random.default_rng(0)
    X_ref, y_ref = rng.normal(size=(200, 5)), rng.integers(0, 3, size=200)
    X, y = rng.normal(size=(80, 5)), rng.integers(0, 3, size=80)
    knn = KNeighborsClassifier(n_neighbors=1).fit(X_ref, y_ref)
    assert_allclose(metrics.knn_accuracy(X, y, n_neighbors=1, X_ref=X_ref,
                                         y_ref=y_ref), knn.score(X, y))


def test_metrics_are_blockwise_for_many_points(monkeypatch):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 3)), rng.integers(0, 5, size=300)
    full = metrics.map_at_r(X, y)
    calls = []
    original = metrics.sq_dist_row_blocks

    def small_blocks(A, B, block_elements):
        for block in original(A, B, 1000):
            calls.append(block[2].shape)
            yield block

    monkeypatch.setattr(metrics, "sq_dist_row_blocks", small_blocks)
    assert_allclose(metrics.map_at_r(X, y), full, rtol=1e-12)
    assert len(calls) > 1 and all(rows * cols <= 1000 for rows, cols in calls)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda X, y: metrics.precision_at_k(X, y, k=0), "k must be an integer in [1, 9]"),
        (lambda X, y: metrics.retrieval_scores(X, y, k=10),
         "k must be an integer in [1, 9]"),
        (lambda X, y: metrics.knn_accuracy(X, y, n_neighbors=10),
         "n_neighbors must be an integer in [1, 9]"),
        (lambda X, y: metrics.map_at_r(X, y, X_ref=X), "X_ref and y_ref must be given"),
        (lambda X, y: metrics.map_at_r(X, y[:-1]), "inconsistent numbers of samples"),
        (lambda X, y: metrics.map_at_r(X[:1], y[:1]), "at least 2 points"),
        (lambda X, y: metrics.map_at_r(X, y, X_ref=X[:, :1], y_ref=y),
         "X has 2 features but X_ref has 1"),
        (lambda X, y: metrics.RetrievalScorer("auc"), "metric must be one of"),
    ],
)
def test_metrics_reject_bad_input(call, message):
    X = np.arange(20.0).reshape(10, 2)
    y = np.repeat([0, 1], 5)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(X, y)


def test_retrieval_scorers_in_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MahalanobisXing(random_state=0))
    grid = GridSearchCV(pipe, {"mahalanobisxing__diagonal": [False, True]}, cv=3,
                        scoring={"map": metrics.map_at_r_scorer,
                                 "p1": metrics.precision_at_1_scorer,
                                 "rp": metrics.r_precision_scorer,
                                 "knn": metrics.knn_accuracy_scorer},
                        refit="map")
    grid.fit(X, y)
    assert 0.5 < grid.best_score_ <= 1.0
    Z = grid.best_estimator_.transform(X)
    assert_allclose(metrics.map_at_r_scorer(grid.best_estimator_, X, y),
                    metrics.map_at_r(Z, y))
    assert repr(metrics.precision_at_1_scorer) == "RetrievalScorer('precision_at_k', k=1)"


@pytest.mark.filterwarnings("error")  # a scorer failure would be a UserWarning
def test_retrieval_scorer_scores_the_embedding_of_a_classifier_pipeline():
    X, y = load_iris(return_X_y=True)
    embed = make_pipeline(StandardScaler(), MahalanobisXing(random_state=0))
    classify = make_pipeline(StandardScaler(), MahalanobisXing(random_state=0),
                             KNeighborsClassifier(3))
    cv = StratifiedKFold(3)  # the default for the classifier only
    scores = cross_val_score(classify, X, y, cv=cv, scoring=metrics.map_at_r_scorer)
    assert np.all(np.isfinite(scores))
    # The same folds and fits: the score of the embedding that the classifier gets.
    assert_allclose(scores, cross_val_score(embed, X, y, cv=cv,
                                            scoring=metrics.map_at_r_scorer))
    # Beside a classification score in one grid search.
    grid = GridSearchCV(classify, {"kneighborsclassifier__n_neighbors": [1, 5]}, cv=3,
                        scoring={"accuracy": "accuracy",
                                 "map": metrics.map_at_r_scorer}, refit="accuracy")
    grid.fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_map"]))


def _fitted_knn():
    X, y = load_iris(return_X_y=True)
    return KNeighborsClassifier(3).fit(X, y), X, y


@pytest.mark.parametrize("wrap", [lambda knn: knn,
                                  lambda knn: Pipeline([("knn", knn)])],
                         ids=["classifier", "one-step pipeline"])
def test_retrieval_scorer_without_a_transformer_raises_a_clear_type_error(wrap):
    knn, X, y = _fitted_knn()
    message = ("RetrievalScorer('map_at_r') scores an embedding, so it needs a "
               "fitted transformer")
    with pytest.raises(TypeError, match=re.escape(message)) as error:
        metrics.map_at_r_scorer(wrap(knn), X, y)
    assert "pipeline[:-1]" in str(error.value)


def test_retrieval_scorer_error_in_cross_validation():
    # scikit-learn catches scorer errors unless error_score='raise' (documented in
    # the scorer's docstring): then the TypeError reaches the caller.
    X, y = load_iris(return_X_y=True)
    knn = KNeighborsClassifier(3)
    with pytest.raises(TypeError, match="needs a fitted transformer"):
        cross_val_score(knn, X, y, cv=3, scoring=metrics.map_at_r_scorer,
                        error_score="raise")
    # By default the score is NaN, and the warning carries the same message.
    with pytest.warns(UserWarning, match="needs a fitted transformer"):
        scores = cross_val_score(knn, X, y, cv=3, scoring=metrics.map_at_r_scorer)
    assert np.all(np.isnan(scores))
