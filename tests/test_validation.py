"""Bad input gets a clear ValueError or TypeError naming the problem."""

import re
import warnings

import numpy as np
import pytest

from skmetric import MahalanobisXing, MahalanobisXingPairs


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


def test_xing_requires_y():
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
         "pairs refers to row 20, outside the 20 rows of the preprocessor"),
        (np.array([[-1, 2], [1, 2]]), [1, -1], ValueError,
         "pairs refers to row -1, outside the 20 rows of the preprocessor"),
        (np.array([[0.5, 2], [1, 2]]), [1, -1], TypeError,
         "pairs must hold integer row indices"),
        (np.array([["a", "b"]]), [1], TypeError, "pairs must be an integer array"),
        # A boolean mask would index rows 0 and 1 only.
        (np.array([[True, False], [False, True]]), [1, -1], TypeError,
         "pairs must be an integer array of row indices; got a boolean array"),
        (np.zeros((0, 2), dtype=int), [], ValueError, "pairs is empty"),
        (PAIRS, [1, 1], ValueError, "y must have shape (4,), one label per pair"),
        (PAIRS, [1, 2, -1, -1], ValueError, "y must be 1 (similar)"),
        (PAIRS, ["x", "y", "x", "y"], TypeError, "y must be numeric"),
        (PAIRS, [1, 1, 1, 1], ValueError, "every pair is similar"),
        (PAIRS, [-1, 0, -1, 0], ValueError, "every pair is dissimilar"),
        (PAIRS, None, ValueError, "y is required with pairs"),
    ],
)
def test_xing_pairs_rejects_bad_pairs(pairs, labels, error, message):
    X, _ = _data()
    with pytest.raises(error, match=re.escape(message)):
        MahalanobisXingPairs(preprocessor=X).fit(pairs, labels)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((4, 3)), "X must hold pairs of points, of shape (n_pairs, 2, "
                           "n_features), or pairs of row indices"),
        (np.zeros((4, 3, 2)), "got shape (4, 3, 2)"),
        (np.zeros((0, 2, 3)), "X is empty"),
        (np.arange(8).reshape(4, 2), "X holds pairs of row indices, shape (4, 2), "
                                     "but preprocessor is None"),
        (np.full((4, 2, 3), np.nan), "Input X contains NaN"),
    ],
)
def test_xing_pairs_rejects_bad_point_pairs(X, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MahalanobisXingPairs().fit(X, LABELS)


def test_xing_pairs_rejects_a_bad_callable_preprocessor():
    def half(rows):
        return np.zeros((rows.shape[0] // 2, 3))

    with pytest.raises(ValueError, match=re.escape(
            "preprocessor must map 5 row indices to an array of shape (5, "
            "n_features); got shape (2, 3).")):
        MahalanobisXingPairs(preprocessor=half).fit(PAIRS[:3], [1, 1, -1])
    with pytest.raises(ValueError, match=re.escape(
            "pairs refers to row -1, outside the preprocessor (valid indices are "
            "non-negative)")):
        MahalanobisXingPairs(preprocessor=half).fit([[0, -1], [1, 2]], [1, -1])


def test_xing_pairs_rejects_pairs_of_identical_rows_only():
    X, _ = _data()
    X[1] = X[0]
    with pytest.raises(ValueError, match=re.escape("every dissimilar pair joins two "
                                                   "identical rows")):
        MahalanobisXingPairs(preprocessor=X).fit([[2, 3], [0, 1]], [1, -1])
    with pytest.raises(ValueError, match=re.escape("every similar pair joins two "
                                                   "identical rows")):
        MahalanobisXingPairs(preprocessor=X).fit([[0, 1], [2, 3]], [1, -1])


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


# ---------------------------------------------------------------------------------
# Deep embeddings
# ---------------------------------------------------------------------------------

from skmetric.deep import (  # noqa: E402
    DeepSiamese,
    DeepSiamesePairs,
    DeepTriplet,
    DeepTripletTriplets,
)

DEEP = pytest.mark.parametrize("Estimator", [DeepSiamese, DeepTriplet])
DEEP_FAST = dict(hidden_layer_sizes=(4,), n_components=2, max_iter=1)


@DEEP
def test_deep_rejects_singleton_class(Estimator):
    X, y = _data()
    y[0] = 5
    with pytest.raises(ValueError, match=re.escape(
            f"{Estimator.__name__} needs at least 2 samples in every class; these "
            "classes have fewer (5: 1).")):
        Estimator(**DEEP_FAST).fit(X, y)


@DEEP
def test_deep_rejects_batch_smaller_than_two_classes(Estimator):
    X, y = _data()
    with pytest.raises(ValueError, match=re.escape(
            "batch_size=7 is smaller than two classes' worth of points "
            "(2 * n_samples_per_class = 8); mining needs positives and negatives in "
            "every batch.")):
        Estimator(batch_size=7, n_samples_per_class=4, **DEEP_FAST).fit(X, y)


@DEEP
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_deep_rejects_non_finite_X(Estimator, value):
    X, y = _data()
    X[2, 0] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        Estimator(**DEEP_FAST).fit(X, y)


def test_deep_triplet_rejects_unknown_miner():
    X, y = _data()
    with pytest.raises(ValueError, match=re.escape(
            "The 'miner' parameter of DeepTriplet must be a str among")) as info:
        DeepTriplet(miner="semi-hard", **DEEP_FAST).fit(X, y)
    assert "'semihard'" in str(info.value) and "Got 'semi-hard'" in str(info.value)


def test_deep_triplet_distance_weighted_needs_normalize():
    X, y = _data()
    with pytest.raises(ValueError, match=re.escape(
            "miner='distance_weighted' samples by the distance distribution on the "
            "unit sphere and needs normalize=True.")):
        DeepTriplet(miner="distance_weighted", normalize=False, **DEEP_FAST).fit(X, y)


@DEEP
@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes must hold positive "
                                         "integers; got (4, 0)."),
        ({"hidden_layer_sizes": (2.5,)}, "hidden_layer_sizes must hold positive "
                                         "integers; got (2.5,)."),
        ({"hidden_layer_sizes": 0}, "The 'hidden_layer_sizes' parameter"),
        ({"activation": "sigmoid"}, "The 'activation' parameter"),
        ({"solver": "lbfgs"}, "The 'solver' parameter"),
        ({"margin": 0.0}, "The 'margin' parameter"),
        ({"learning_rate_init": 0.0}, "The 'learning_rate_init' parameter"),
        ({"batch_size": 1}, "The 'batch_size' parameter"),
        ({"n_samples_per_class": 1}, "The 'n_samples_per_class' parameter"),
        ({"validation_fraction": 1.0}, "The 'validation_fraction' parameter"),
        ({"max_iter": 0}, "The 'max_iter' parameter"),
        ({"n_components": 0}, "The 'n_components' parameter"),
    ],
)
def test_deep_rejects_bad_hyper_parameters(Estimator, params, message):
    X, y = _data()
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        Estimator(**{**DEEP_FAST, **params}).fit(X, y)


@DEEP
def test_deep_rejects_missing_y(Estimator):
    X, _ = _data()
    with pytest.raises(ValueError, match="requires y to be passed"):
        Estimator(**DEEP_FAST).fit(X)


@DEEP
def test_deep_early_stopping_needs_held_out_points(Estimator):
    X, y = _data(n=8)
    with pytest.raises(ValueError, match=re.escape(
            "validation_fraction=0.1 holds out no point (every class keeps at least 2 "
            "training points); raise it or set early_stopping=False.")):
        Estimator(early_stopping=True, **DEEP_FAST).fit(X, y)


@pytest.mark.filterwarnings("ignore:DeepTripletTriplets did not converge")
def test_triplet_of_duplicate_rows_as_anchor_and_negative_is_refused():
    # Rows 0 and 5 hold the same point: as anchor and negative the triplet can
    # never hold, whichever form it comes in (rows, callable, points).
    X, _ = _data()
    X[5] = X[0]
    triplets = np.array([[1, 2, 3], [0, 4, 5]])
    message = "triplets row 1 has the same anchor and negative (identical points)"
    for preprocessor in (X, lambda rows: X[rows]):
        with pytest.raises(ValueError, match=re.escape(message)):
            DeepTripletTriplets(**DEEP_FAST, preprocessor=preprocessor).fit(triplets)
    with pytest.raises(ValueError, match=re.escape(message)):
        DeepTripletTriplets(**DEEP_FAST).fit(X[triplets])
    # Equal rows as anchor and positive (or positive and negative) stay allowed
    # through a preprocessor: the rows differ, the triplet is merely uninformative.
    X[6] = X[1]
    DeepTripletTriplets(**DEEP_FAST, preprocessor=X).fit(
        np.array([[1, 6, 3], [0, 4, 7], [2, 8, 9]]))


def test_boolean_row_indices_are_refused_for_triplets():
    X, _ = _data()
    with pytest.raises(TypeError, match="got a boolean array"):
        DeepTripletTriplets(**DEEP_FAST, preprocessor=X).fit(
            np.array([[True, False, True]]))


@pytest.mark.parametrize(
    "triplets, error, message",
    [
        (np.array([[0, 1]]), ValueError, "triplets must have shape (n_triplets, 3)"),
        (np.array([[0, 1, 20]]), ValueError, "triplets refers to row 20"),
        (np.array([[0, 1, 1]]), ValueError, "triplets row 0 has the same positive and "
                                            "negative (1)"),
        (np.array([[0, 1, 2], [3, 3, 4]]), ValueError,
         "triplets row 1 has the same anchor and positive (3)"),
        (np.array([[0, 1, 2], [5, 6, 7], [4, 6, 4]]), ValueError,
         "triplets row 2 has the same anchor and negative (4)"),
        (np.array([[0.5, 1, 2]]), TypeError, "triplets must hold integer row indices"),
    ],
)
def test_deep_triplets_rejects_bad_triplets(triplets, error, message):
    X, _ = _data()
    with pytest.raises(error, match=re.escape(message)):
        DeepTripletTriplets(**DEEP_FAST, preprocessor=X).fit(triplets)
    if (np.issubdtype(triplets.dtype, np.integer) and triplets.shape[1] == 3
            and triplets.max() < 20):
        # The same triplets given as points, and through a callable preprocessor.
        points = X[triplets]
        point_message = re.sub(r"\(\d+\)", "(identical points)", message)
        with pytest.raises(error, match=re.escape(point_message)):
            DeepTripletTriplets(**DEEP_FAST).fit(points)
        with pytest.raises(error, match=re.escape(message)):
            DeepTripletTriplets(**DEEP_FAST,
                                preprocessor=lambda rows: X[rows]).fit(triplets)


def test_deep_siamese_pairs_rejects_bad_pairs():
    X, _ = _data()
    with pytest.raises(ValueError, match=re.escape("y is required with pairs")):
        DeepSiamesePairs(**DEEP_FAST, preprocessor=X).fit(PAIRS)
    with pytest.raises(ValueError, match=re.escape("every pair is similar")):
        DeepSiamesePairs(**DEEP_FAST, preprocessor=X).fit(PAIRS, [1, 1, 1, 1])


def test_labelled_estimators_no_longer_take_constraints_at_fit():
    # The old fit-parameter form, whose row indices a cross-validation split could
    # not follow, is gone: Python rejects the keyword.
    X, y = _data()
    with pytest.raises(TypeError, match="unexpected keyword argument 'pairs'"):
        MahalanobisXing().fit(X, y, pairs=PAIRS, pair_labels=LABELS)
    with pytest.raises(TypeError, match="unexpected keyword argument 'pairs'"):
        DeepSiamese(**DEEP_FAST).fit(X, y, pairs=PAIRS, pair_labels=LABELS)
    with pytest.raises(TypeError, match="unexpected keyword argument 'triplets'"):
        DeepTriplet(**DEEP_FAST).partial_fit(X, y, triplets=[[0, 1, 2]])


@DEEP
def test_deep_transform_rejects_wrong_width(Estimator):
    X, y = _data()
    model = Estimator(random_state=0, **DEEP_FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    with pytest.raises(ValueError, match=f"X has 2 features, but {Estimator.__name__} "
                                         "is expecting 3 features"):
        model.transform(X[:, :2])


# ---------------------------------------------------------------------------------
# LMNN
# ---------------------------------------------------------------------------------

from skmetric import LMNN  # noqa: E402


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_lmnn_rejects_non_finite_X(value):
    X, y = _data()
    X[2, 0] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        LMNN().fit(X, y)


def test_lmnn_rejects_single_class():
    X, _ = _data()
    with pytest.raises(ValueError, match=re.escape(
            "LMNN needs at least 2 classes in y to learn a metric; got a single "
            "class 7.")):
        LMNN().fit(X, np.full(X.shape[0], 7))


def test_lmnn_rejects_singleton_class_and_says_why():
    X, y = _data()
    y[0] = 5
    with pytest.raises(ValueError, match=re.escape(
            "LMNN needs at least 2 samples in every class: the target neighbours of "
            "a sample are other samples of its class, so a sample alone in its "
            "class has none to be pulled to; these classes have 1 sample: 5.")):
        LMNN().fit(X, y)


def test_lmnn_warns_about_classes_smaller_than_k_plus_one():
    X, y = _data()
    with pytest.warns(UserWarning, match=re.escape(
            "Some classes have n_neighbors=10 samples or fewer; their samples get "
            "one target neighbour fewer than their class size instead of 10 "
            "(class: samples 0: 10, 1: 10).")):
        LMNN(n_neighbors=10).fit(X, y)


def test_lmnn_requires_y():
    X, _ = _data()
    with pytest.raises(ValueError, match="requires y to be passed"):
        LMNN().fit(X, None)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_neighbors": 0}, "The 'n_neighbors' parameter of LMNN must be an int in "
                             "the range [1, inf)"),
        ({"n_neighbors": -2}, "The 'n_neighbors' parameter of LMNN must be"),
        ({"n_neighbors": 2.5}, "The 'n_neighbors' parameter of LMNN must be"),
        ({"n_components": 0}, "The 'n_components' parameter of LMNN must be"),
        ({"push_weight": 0.0}, "The 'push_weight' parameter of LMNN must be a float "
                               "in the range (0.0, 1.0]"),
        ({"push_weight": 1.5}, "The 'push_weight' parameter of LMNN must be"),
        ({"init": "bogus"}, "The 'init' parameter of LMNN must be"),
        ({"max_iter": 0}, "The 'max_iter' parameter of LMNN must be"),
        ({"tol": -1e-3}, "The 'tol' parameter of LMNN must be"),
        ({"max_impostors": 0}, "The 'max_impostors' parameter of LMNN must be"),
        ({"loss": "squared"}, "The 'loss' parameter of LMNN must be a str among"),
        ({"init_scale": 0.0}, "The 'init_scale' parameter of LMNN must be"),
        ({"warm_start": "yes"}, "The 'warm_start' parameter of LMNN must be"),
        ({"callback": 3}, "The 'callback' parameter of LMNN must be"),
    ],
)
def test_lmnn_rejects_bad_hyper_parameters(params, message):
    X, y = _data()
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        LMNN(**params).fit(X, y)


def test_lmnn_rejects_too_many_components():
    X, y = _data()
    with pytest.raises(ValueError, match=re.escape(
            "n_components=4 must be at most the number of features, 3.")):
        LMNN(n_components=4).fit(X, y)


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (3,)])
def test_lmnn_rejects_init_of_the_wrong_shape(shape):
    X, y = _data()
    init = np.ones(shape)
    message = (f"init must have shape (3, 3); got shape {shape}." if len(shape) == 2
               else "Expected 2D array, got 1D array instead")
    with pytest.raises(ValueError, match=re.escape(message)):
        LMNN(init=init).fit(X, y)


def test_lmnn_rejects_lda_init_with_too_many_components():
    X, y = _data()
    with pytest.raises(ValueError, match=re.escape(
            "init='lda' gives at most min(n_features, n_classes - 1) = 1 "
            "components; n_components=2.")):
        LMNN(n_components=2, init="lda").fit(X, y)


def test_lmnn_transform_rejects_wrong_width_and_unfitted():
    from sklearn.exceptions import NotFittedError

    X, y = _data()
    with pytest.raises(NotFittedError):
        LMNN().transform(X)
    model = LMNN(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but LMNN is expecting 3 "
                                         "features"):
        model.transform(X[:, :2])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("huge", [False, True])
def test_repeated_interaction_is_the_smallest_duplicate(seed, huge):
    from collections import Counter

    from skmetric._validation_interactions import _repeated_interaction

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    users = rng.integers(0, 8, size=n).astype(np.int64)
    items = rng.integers(0, 9, size=n).astype(np.int64)
    if huge:  # keys user * (max item + 1) + item would overflow int64
        users = users * (2**62 // 8)
    counts = Counter(zip(users.tolist(), items.tolist()))
    repeated = sorted(pair for pair, count in counts.items() if count > 1)
    expected = repeated[0] if repeated else None
    assert _repeated_interaction(users, items) == expected
    distinct = np.array(sorted(counts), dtype=np.int64).reshape(-1, 2)
    assert _repeated_interaction(distinct[:, 0].copy(), distinct[:, 1].copy()) is None
