"""Pair and triplet learners: model selection on constraints, folds that see only
their own part, scores, thresholds, and the tuple forms of the input."""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import skmetric._xing_pairs as xing_pairs_module
from skmetric import MahalanobisXingPairs
from skmetric._tuples import best_threshold
from skmetric.deep import DeepSiamesePairs, DeepTripletTriplets
from skmetric.deep._tuples import _TupleTraining

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

DEEP_FAST = dict(n_components=3, hidden_layer_sizes=(8,), batch_size=16, max_iter=3,
                 random_state=0)


def _blobs(n_samples=60, n_features=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    centres = rng.normal(scale=4.0, size=(n_classes, n_features))
    return centres[y] + rng.normal(size=(n_samples, n_features)), y


def _pairs(y, n_pairs=150, seed=1):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, y.shape[0], size=(n_pairs, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return pairs, np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)


def _triplets(y, n_triplets=150, seed=1):
    rng = np.random.default_rng(seed)
    triplets = []
    while len(triplets) < n_triplets:
        a, p, n = rng.integers(0, y.shape[0], size=3)
        if a != p and y[a] == y[p] and y[a] != y[n]:
            triplets.append((a, p, n))
    return np.array(triplets, dtype=np.int64)


LEARNERS = {
    "MahalanobisXingPairs": (lambda **kw: MahalanobisXingPairs(max_iter=50, **kw),
                             "pairs"),
    "DeepSiamesePairs": (lambda **kw: DeepSiamesePairs(**DEEP_FAST, **kw), "pairs"),
    "DeepTripletTriplets": (lambda **kw: DeepTripletTriplets(**DEEP_FAST, **kw),
                            "triplets"),
}
ALL = pytest.mark.parametrize("name", list(LEARNERS))


def _problem(kind, seed=0):
    X, y = _blobs(seed=seed)
    if kind == "pairs":
        return X, y, *_pairs(y)
    return X, y, _triplets(y), None


# ---------------------------------------------------------------------------------
# Model selection with the constraints as the samples
# ---------------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("form", ["indices", "points"])
def test_cross_val_score_and_grid_search_run_on_tuples(name, form):
    make, kind = LEARNERS[name]
    X, y, tuples, labels = _problem(kind)
    if form == "indices":
        model, samples = make(preprocessor=X), tuples
    else:
        model, samples = make(), X[tuples]
    scores = cross_val_score(model, samples, labels, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert scores.mean() > 0.7  # well separated blobs: chance is 0.5
    grid = {"max_iter": [2, 4]} if name.startswith("Deep") else {"diagonal": [False,
                                                                             True]}
    search = GridSearchCV(model, grid, cv=3).fit(samples, labels)
    means = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(means)) and search.best_score_ == means.max() > 0.7
    assert search.best_estimator_.transform(X).shape[0] == X.shape[0]
    # The metric learned from tuples embeds plain points for a neighbours model.
    knn = KNeighborsClassifier(3).fit(search.best_estimator_.transform(X), y)
    assert knn.score(search.best_estimator_.transform(X), y) > 0.8


class _Recorder:
    """Records the training tuples each fit hands to the solver, as point values."""

    def __init__(self, monkeypatch):
        self.fits = []
        original_fit_xing = xing_pairs_module.fit_xing
        original_validate = _TupleTraining._validate_training_data

        def fit_xing(estimator, points, similar, dissimilar):
            self.record(points, np.concatenate((similar, dissimilar)),
                        np.repeat([1, -1], [len(similar), len(dissimilar)]))
            return original_fit_xing(estimator, points, similar, dissimilar)

        def validate(estimator, X, y, constraints, reset):
            data = original_validate(estimator, X, y, constraints, reset)
            labels = None if data.extra is None else np.where(data.extra == 1, 1, -1)
            self.record(data.X, data.constraints, labels)
            return data

        monkeypatch.setattr(xing_pairs_module, "fit_xing", fit_xing)
        monkeypatch.setattr(_TupleTraining, "_validate_training_data", validate)

    def record(self, points, tuples, labels):
        # The solver sees each point once.
        assert np.unique(points, axis=0).shape[0] == points.shape[0]
        self.fits.append(tuple_multiset(points, tuples, labels))


def tuple_multiset(points, tuples, labels):
    """Sorted list of (point rows of a tuple, label): what a fit learns from."""
    labels = [None] * len(tuples) if labels is None else list(labels)
    return sorted((tuple(points[t].tobytes() for t in row), label)
                  for row, label in zip(tuples, labels))


def check_fits_saw_only_their_part(fits, X, tuples, labels, splits):
    """Each recorded fit trained on exactly the tuples of one training part."""
    labels_or_none = [None] * len(tuples) if labels is None else labels
    parts = [tuple_multiset(X, tuples[train],
                            None if labels is None else labels_or_none[train])
             for train in splits]
    for fit in fits:
        assert fit in parts, "a fit trained on tuples outside its own part"
    for part in parts:
        assert part in fits, "a training part was never fitted"


@ALL
@pytest.mark.parametrize("form", ["indices", "points", "callable"])
def test_every_fold_trains_on_its_own_tuples_only(name, form, monkeypatch):
    make, kind = LEARNERS[name]
    X, _, tuples, labels = _problem(kind)
    asked = []

    def lookup(rows):
        asked.append(rows.copy())
        return X[rows]

    model, samples = {
        "indices": (make(preprocessor=X), tuples),
        "points": (make(), X[tuples]),
        "callable": (make(preprocessor=lookup), tuples),
    }[form]
    recorder = _Recorder(monkeypatch)
    cv = KFold(4, shuffle=True, random_state=0)
    splits = [train for train, _ in cv.split(tuples)]
    cross_val_score(model, samples, labels, cv=cv)
    fold_fits = list(recorder.fits)
    assert len(fold_fits) == 4
    check_fits_saw_only_their_part(fold_fits, X, tuples, labels, splits)
    if form == "callable":
        # The callable is asked for the rows of one part's tuples at a time: those
        # of a fold's training part (fit) or of its test part (score), never more.
        parts = [np.unique(tuples[rows]) for split in cv.split(tuples)
                 for rows in split]
        assert all(any(np.array_equal(rows, part) for part in parts)
                   for rows in asked)
        for train in splits:
            assert any(np.array_equal(rows, np.unique(tuples[train]))
                       for rows in asked)
    # GridSearchCV: every candidate on every fold, then the refit on all tuples.
    recorder.fits.clear()
    GridSearchCV(model, {"verbose": [0]}, cv=cv).fit(samples, labels)
    check_fits_saw_only_their_part(recorder.fits, X, tuples, labels,
                                   splits + [np.arange(len(tuples))])


def test_fold_check_catches_a_fit_on_rows_outside_the_fold(monkeypatch):
    # The old fit-parameter form: pairs fixed at construction, indexing the full
    # X, whatever rows a fold is given. The check above must catch it.
    X, _, pairs, labels = _problem("pairs")

    class Leaky(MahalanobisXingPairs):
        def fit(self, X_fold, y_fold=None):
            return super().fit(pairs, labels)

    recorder = _Recorder(monkeypatch)
    cv = KFold(4, shuffle=True, random_state=0)
    cross_val_score(Leaky(max_iter=50, preprocessor=X), pairs, labels, cv=cv)
    with pytest.raises(AssertionError, match="outside its own part"):
        check_fits_saw_only_their_part(recorder.fits, X, pairs, labels,
                                       [train for train, _ in cv.split(pairs)])


# ---------------------------------------------------------------------------------
# Scores, predictions, thresholds
# ---------------------------------------------------------------------------------

# Hand-built pairs of 1-D points at distances 1..8 with these labels. In one
# dimension every learned metric is a scaling by some c > 0, so the order of the
# pairs is known, and the best threshold of each strategy is worked out by hand
# in distance units (the model's threshold_ is minus c times it).
HAND_DISTANCES = np.arange(1.0, 9.0)
HAND_LABELS = np.array([1, 1, -1, 1, -1, -1, 1, -1])
HAND_CASES = [
    # (strategy, keyword arguments, distance threshold)
    ("accuracy", {}, 2.5),             # 6/8 at 2.5 and at 4.5: the higher wins
    ("f_beta", {"beta": 1.0}, 4.5),    # F1 = 6/8 at 4.5 (2/3 at 2.5, 8/11 at 7.5)
    ("f_beta", {"beta": 3.0}, 7.5),    # recall-heavy: 40/43 at 7.5
    ("max_tpr", {"min_rate": 0.75}, 4.5),
    ("max_tpr", {"min_rate": 1.0}, 2.5),
    ("max_tnr", {"min_rate": 0.75}, 4.5),
    ("max_tnr", {"min_rate": 1.0}, 7.5),
    ("max_tnr", {"min_rate": 0.0}, 2.5),  # TNR 1 at 0.5, 1.5, 2.5: best TPR wins
]


def _hand_model():
    pairs = np.zeros((8, 2, 1))
    pairs[:, 1, 0] = HAND_DISTANCES
    model = MahalanobisXingPairs().fit(pairs, HAND_LABELS)
    return model, pairs, abs(model.components_[0, 0])


@pytest.mark.parametrize("strategy, kwargs, distance", HAND_CASES)
def test_calibrate_threshold_strategies_on_hand_built_pairs(strategy, kwargs,
                                                            distance):
    model, pairs, scale = _hand_model()
    assert model.calibrate_threshold(pairs, HAND_LABELS, strategy=strategy,
                                     **kwargs) is model
    assert_allclose(model.threshold_, -scale * distance, rtol=1e-12)
    expected = np.where(HAND_DISTANCES <= distance, 1, -1)
    assert_array_equal(model.predict(pairs), expected)
    # The same on hand-written scores, without a model.
    assert best_threshold(-HAND_DISTANCES, HAND_LABELS == 1, strategy,
                          **kwargs) == -distance


def test_best_threshold_extremes_and_ties():
    similar = np.array([True, False, True, False])
    # Every pair similar is best: below every score; none similar: above.
    assert best_threshold(np.array([1.0, 5.0, 2.0, 6.0]), similar, "max_tnr",
                          min_rate=1.0) == -np.inf
    assert best_threshold(np.array([1.0, 5.0, 2.0, 6.0]), similar,
                          "accuracy") == np.inf
    # Tied scores cannot be split: the candidates fall between distinct values.
    assert best_threshold(np.array([3.0, 3.0, 1.0, 1.0]), similar,
                          "accuracy") == np.inf
    assert best_threshold(np.array([3.0, 3.0, 1.0, 1.0]), similar, "max_tpr",
                          min_rate=0.5) == 2.0


@pytest.mark.parametrize("high, low", [
    (np.nextafter(-1.0, 0.0), -1.0),             # one ulp apart: the midpoint rounds
    (1.0, np.nextafter(1.0, 0.0)),
    (np.finfo(float).max, -np.finfo(float).max),  # high - low overflows
    (5e-324, 0.0),                               # subnormal neighbours
])
def test_best_threshold_separates_scores_one_ulp_apart(high, low):
    scores, similar = np.array([high, low]), np.array([True, False])
    for strategy, kwargs in [("accuracy", {}), ("f_beta", {}),
                             ("max_tpr", {"min_rate": 1.0}),
                             ("max_tnr", {"min_rate": 1.0})]:
        threshold = best_threshold(scores, similar, strategy, **kwargs)
        assert np.isfinite(threshold)
        # predict() calls a pair similar when its score >= threshold_.
        assert_array_equal(scores >= threshold, similar)


def test_best_threshold_calls_exactly_the_counted_pairs_similar():
    # Scores packed within a few ulps: every candidate must split where counted.
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = 1.0 + rng.integers(0, 6, size=12) * np.spacing(1.0)
        similar = rng.random(12) < 0.5
        similar[:2] = [True, False]
        threshold = best_threshold(scores, similar, "accuracy")
        # The accuracy predict() then reaches is the best any threshold reaches.
        accuracy = np.mean((scores >= threshold) == similar)
        best = max(np.mean((scores >= t) == similar)
                   for t in np.r_[np.unique(scores), np.inf])
        assert accuracy == best


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "auc"}, "strategy must be one of 'accuracy', 'f_beta', 'max_tpr', "
                          "'max_tnr'; got 'auc'."),
    ({"strategy": "max_tpr"}, "strategy='max_tpr' needs min_rate, a number in [0, "
                              "1]; got min_rate=None."),
    ({"strategy": "max_tnr", "min_rate": 1.5}, "got min_rate=1.5"),
    ({"strategy": "f_beta", "beta": 0.0}, "beta must be a positive number"),
])
def test_calibrate_threshold_rejects_bad_arguments(kwargs, message):
    model, pairs, _ = _hand_model()
    with pytest.raises(ValueError, match=re.escape(message)):
        model.calibrate_threshold(pairs, HAND_LABELS, **kwargs)


@pytest.mark.parametrize("name", ["MahalanobisXingPairs", "DeepSiamesePairs"])
def test_pair_scores_are_roc_auc_of_minus_the_distance(name):
    from sklearn.metrics import roc_auc_score

    make, _ = LEARNERS[name]
    X, _, pairs, labels = _problem("pairs")
    model = make(preprocessor=X).fit(pairs, labels)
    Z = model.transform(X)
    distances = np.linalg.norm(Z[pairs[:, 0]] - Z[pairs[:, 1]], axis=1)
    assert_allclose(model.decision_function(pairs), -distances, rtol=1e-10,
                    atol=1e-12)
    assert_allclose(model.decision_function(X[pairs]), -distances, rtol=1e-10,
                    atol=1e-12)
    assert model.score(pairs, labels) == roc_auc_score(labels, -distances)
    assert_array_equal(model.predict(pairs),
                       np.where(-distances >= model.threshold_, 1, -1))
    # fit calibrates for accuracy on the training pairs.
    threshold = best_threshold(model.decision_function(pairs), labels == 1,
                               "accuracy")
    assert model.threshold_ == threshold


def test_triplet_score_is_the_fraction_ordered_right():
    X, _, triplets, _ = _problem("triplets")
    model = DeepTripletTriplets(**DEEP_FAST, preprocessor=X).fit(triplets)
    Z = model.transform(X)
    near = np.linalg.norm(Z[triplets[:, 0]] - Z[triplets[:, 1]], axis=1)
    far = np.linalg.norm(Z[triplets[:, 0]] - Z[triplets[:, 2]], axis=1)
    assert_allclose(model.decision_function(triplets), far - near, rtol=1e-10,
                    atol=1e-12)
    assert_array_equal(model.predict(triplets), np.where(far > near, 1, -1))
    assert model.score(triplets) == np.mean(far > near)
    # Swapping positive and negative turns every ordered triplet into a wrong one.
    swapped = triplets[:, [0, 2, 1]]
    assert model.score(swapped) == np.mean(near > far)


@ALL
def test_fit_transform_is_refused_with_a_clear_message(name):
    make, kind = LEARNERS[name]
    X, _, tuples, labels = _problem(kind)
    with pytest.raises(TypeError, match="fit takes pairs or triplets and transform "
                                        "takes plain points"):
        make(preprocessor=X).fit_transform(tuples, labels)


def test_predict_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MahalanobisXingPairs().predict(np.zeros((2, 2, 3)))


# ---------------------------------------------------------------------------------
# Early stopping on held-out pairs of both kinds (a constant score otherwise)
# ---------------------------------------------------------------------------------


def test_deep_pairs_early_stopping_holds_out_both_kinds(monkeypatch):
    # 3 similar pairs among 40: a tenth of each kind rounds down to no similar pair,
    # and a held-out set of one kind scored a constant 1.0 every epoch.
    X, y = _blobs(n_samples=40)
    similar = np.array([[0, 3], [1, 4], [2, 5]])
    dissimilar = np.column_stack((np.arange(37), np.arange(37) + 1))
    pairs = np.concatenate((similar, dissimilar))
    labels = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    assert (labels == 1).sum() == 3
    held_out = []
    original = DeepSiamesePairs._constraint_score

    def spy(self, embedding, constraints, extra):
        held_out.append(extra.copy())
        return original(self, embedding, constraints, extra)

    monkeypatch.setattr(DeepSiamesePairs, "_constraint_score", spy)
    model = DeepSiamesePairs(**{**DEEP_FAST, "max_iter": 4}, early_stopping=True,
                             preprocessor=X)
    model.fit(pairs, labels)
    # The starting network and every epoch score the same held-out pairs: 1
    # similar (at least one of each kind) and floor(0.1 * 37) = 3 dissimilar.
    # The fall-back, the starting network, then each epoch.
    assert len(held_out) == model.n_iter_ + 2 == 6
    for kinds in held_out:
        assert_array_equal(np.bincount(kinds), [3, 1])


@pytest.mark.parametrize("name", ["DeepSiamesePairs", "DeepTripletTriplets"])
def test_deep_pca_start_sees_only_the_points_of_training_constraints(name,
                                                                    monkeypatch):
    # With early stopping, the PCA start was fitted on every point of the
    # constraint data, including points that appear in held-out constraints only.
    import skmetric.deep._base as deep_base

    make, kind = LEARNERS[name]
    X, _, tuples, labels = _problem(kind, seed=1)
    seen, splits = [], []
    original_skip = deep_base.init_skip
    original_epochs = deep_base.DeepEmbeddingBase._run_epochs

    def spy_skip(points, *args, **kwargs):
        seen.append(points.copy())
        return original_skip(points, *args, **kwargs)

    def spy_epochs(self, params, train, validation, *args):
        splits.append((train, validation))
        return original_epochs(self, params, train, validation, *args)

    monkeypatch.setattr(deep_base, "init_skip", spy_skip)
    monkeypatch.setattr(deep_base.DeepEmbeddingBase, "_run_epochs", spy_epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        make(preprocessor=X, early_stopping=True,
             validation_fraction=0.3).fit(tuples, labels)
    (train, validation), = splits
    (points,) = seen

    def rows_of(data):
        return {tuple(row) for row in data.X[np.unique(data.constraints)]}

    held_out_only = rows_of(validation) - rows_of(train)
    assert held_out_only  # the check below has something to catch
    assert {tuple(row) for row in points} == rows_of(train)


def test_deep_pairs_early_stopping_refuses_a_kind_with_one_pair():
    X, _ = _blobs(n_samples=20)
    pairs = np.column_stack((np.arange(10), np.arange(10) + 1))
    labels = np.r_[1, -np.ones(9, dtype=int)]
    with pytest.raises(ValueError, match=re.escape(
            "early_stopping holds out similar and dissimilar pairs and needs at "
            "least 2 of each kind (one to train on, one to score); got 1 similar, "
            "9 dissimilar.")):
        DeepSiamesePairs(**DEEP_FAST, early_stopping=True,
                         preprocessor=X).fit(pairs, labels)
    # Without early stopping, one similar pair is enough.
    DeepSiamesePairs(**DEEP_FAST, preprocessor=X).fit(pairs, labels)


def test_siamese_validation_score_refuses_one_kind():
    model = DeepSiamesePairs(**DEEP_FAST)
    with pytest.raises(ValueError, match="held-out pairs are all of one kind"):
        model._constraint_score(np.eye(3), np.array([[0, 1], [1, 2]]),
                                np.array([1, 1]))


# ---------------------------------------------------------------------------------
# Input forms
# ---------------------------------------------------------------------------------


@ALL
def test_index_point_and_callable_forms_give_the_same_model(name):
    make, kind = LEARNERS[name]
    X, _, tuples, labels = _problem(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        by_index = make(preprocessor=X).fit(tuples, labels)
        by_points = make().fit(X[tuples], labels)
        by_callable = make(preprocessor=lambda rows: X[rows]).fit(tuples, labels)
    expected = by_index.transform(X)
    assert_allclose(by_points.transform(X), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(by_callable.transform(X), expected, rtol=1e-12, atol=1e-12)


def test_duplicate_points_reach_the_solver_once(monkeypatch):
    X, y = _blobs(n_samples=30)
    X = np.vstack((X, X[:10]))  # rows 30..39 repeat rows 0..9
    pairs = np.array([[0, 30], [1, 31], [0, 3], [30, 5], [3, 33], [4, 6], [7, 8]])
    labels = np.where(y[pairs[:, 0] % 30] == y[pairs[:, 1] % 30], 1, -1)
    seen = []
    original = xing_pairs_module.fit_xing

    def spy(estimator, points, similar, dissimilar):
        seen.append(points)
        return original(estimator, points, similar, dissimilar)

    monkeypatch.setattr(xing_pairs_module, "fit_xing", spy)
    MahalanobisXingPairs(max_iter=50, preprocessor=X).fit(pairs, labels)
    distinct = np.unique(X[np.unique(pairs)], axis=0)
    assert_array_equal(seen[0], distinct)  # 9 distinct points, not 14 rows


def test_points_and_caller_arrays_are_left_unchanged():
    X, _, pairs, labels = _problem("pairs")
    X_before, pairs_before, labels_before = X.copy(), pairs.copy(), labels.copy()
    points = X[pairs]
    points_before = points.copy()
    MahalanobisXingPairs(max_iter=50, preprocessor=X).fit(pairs, labels)
    MahalanobisXingPairs(max_iter=50).fit(points, labels)
    assert_array_equal(X, X_before)
    assert_array_equal(pairs, pairs_before)
    assert_array_equal(labels, labels_before)
    assert_array_equal(points, points_before)


def test_scoring_points_of_another_width_is_refused():
    X, _, pairs, labels = _problem("pairs")
    model = MahalanobisXingPairs(max_iter=50, preprocessor=X).fit(pairs, labels)
    with pytest.raises(ValueError, match="X has 3 features, but MahalanobisXingPairs "
                                         "is expecting 4 features"):
        model.decision_function(X[pairs][:, :, :3])


def test_verbose_lines_name_the_tuple_learner(capsys):
    X, _, pairs, labels = _problem("pairs")
    MahalanobisXingPairs(max_iter=50, preprocessor=X).fit(pairs, labels)
    assert capsys.readouterr().out == ""
    MahalanobisXingPairs(max_iter=50, preprocessor=X, verbose=1).fit(pairs, labels)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("[MahalanobisXingPairs] ")
                                   for line in lines)
    n_points = np.unique(pairs).shape[0]
    assert f"on {n_points} samples" in lines[0]
    X, _, triplets, _ = _problem("triplets")
    DeepTripletTriplets(**DEEP_FAST, preprocessor=X, verbose=1).fit(triplets)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("[DeepTripletTriplets] Training a 4-8-3 relu network on "
                            f"150 triplets over {np.unique(triplets).shape[0]} "
                            "samples.")


def test_grid_search_in_worker_processes_matches_sequential():
    import joblib

    X, _, pairs, labels = _problem("pairs")
    results = []
    for n_jobs in (1, 2):
        with joblib.parallel_config(backend="loky"):
            search = GridSearchCV(MahalanobisXingPairs(max_iter=50, preprocessor=X),
                                  {"diagonal": [False, True]}, cv=3, n_jobs=n_jobs)
            results.append(search.fit(pairs, labels))
    sequential, parallel = results
    assert_array_equal(parallel.cv_results_["mean_test_score"],
                       sequential.cv_results_["mean_test_score"])
    assert_array_equal(parallel.best_estimator_.transform(X),
                       sequential.best_estimator_.transform(X))
