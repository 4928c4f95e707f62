"""CollaborativeMetricLearning: the objective, the scikit-learn shape, cold start."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skmetric.recommend import CollaborativeMetricLearning
from skmetric.recommend import _cml_solver as solver

FAST = dict(n_components=8, batch_size=64, max_iter=5, random_state=0)


def two_communities(n_users=40, n_items=30, per_user=6, seed=0):
    """Even users like items 0..n_items/2-1, odd users the others."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    rows = []
    for u in range(n_users):
        items = rng.choice(half, size=per_user, replace=False) + (u % 2) * half
        rows += [(u, i) for i in items]
    return np.array(rows, dtype=np.int64)


def fit_quiet(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


# ---- the objective ----------------------------------------------------------------


def _objective_problem(seed, with_features):
    rng = np.random.default_rng(seed)
    n_users, n_items, k, n_features = 6, 15, 4, 3
    P = rng.normal(scale=0.3, size=(n_users, k))
    V = rng.normal(scale=0.3, size=(n_items, k))
    F = rng.normal(size=(n_items, n_features)) if with_features else None
    W = rng.normal(scale=0.2, size=(n_features, k)) if with_features else None
    own = [np.sort(rng.choice(n_items, size=3, replace=False)) for _ in range(n_users)]
    indptr = np.concatenate([[0], np.cumsum([3] * n_users)]).astype(np.int64)
    indices = np.concatenate(own).astype(np.int64)
    users = rng.integers(0, n_users, size=12)
    positives = np.array([rng.choice(own[u]) for u in users], dtype=np.int64)
    negatives = rng.integers(0, n_items, size=(12, 5))
    weights = rng.uniform(0.5, 2.0, size=12)
    params = np.concatenate([P.ravel(), V.ravel()]
                            + ([W.ravel()] if with_features else []))
    shapes = [P.shape, V.shape] + ([W.shape] if with_features else [])
    return params, shapes, (F, users, positives, negatives, weights, indptr, indices)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("with_features", [False, True])
@pytest.mark.parametrize("covariance_weight", [0.0, 3.0])
def test_cml_gradient_matches_finite_differences(seed, with_features,
                                                  covariance_weight):
    params, shapes, data = _objective_problem(seed, with_features)

    def f(x):
        return solver.objective(x, shapes, *data, 1.0, 15, covariance_weight)

    loss, grad = f(params)
    assert loss > 0 and np.any(grad != 0)
    eps = 1e-6
    numeric = np.empty_like(params)
    for t in range(params.size):
        step = np.zeros_like(params)
        step[t] = eps
        numeric[t] = (f(params + step)[0] - f(params - step)[0]) / (2 * eps)
    assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("covariance_weight", [0.0, 3.0])
def test_cml_feature_loss_gradient_matches_finite_differences(seed,
                                                              covariance_weight):
    # The feature loss weight * |Q_j - F_j W|^2 = weight * |V_j|^2 over the
    # batch's items: checked in P, V and W together with the hinge.
    params, shapes, data = _objective_problem(seed, True)

    def f(x, weight=2.5):
        return solver.objective(x, shapes, *data, 1.0, 15, covariance_weight,
                                weight)

    loss, grad = f(params)
    loss_0, grad_0 = f(params, 0.0)
    assert loss > loss_0
    n_pv = shapes[0][0] * shapes[0][1] + shapes[1][0] * shapes[1][1]
    # The term moves the free vectors (and not the users nor the map).
    assert np.any(grad[:n_pv] != grad_0[:n_pv])
    assert_array_equal(grad[n_pv:], grad_0[n_pv:])
    eps = 1e-6
    numeric = np.empty_like(params)
    for t in range(params.size):
        step = np.zeros_like(params)
        step[t] = eps
        numeric[t] = (f(params + step)[0] - f(params - step)[0]) / (2 * eps)
    assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_objective_has_no_side_effects():
    params, shapes, data = _objective_problem(0, True)
    copies = [params.copy()] + [None if a is None else a.copy() for a in data]
    first = solver.objective(params, shapes, *data, 1.0, 15, 1.0)
    second = solver.objective(params, shapes, *data, 1.0, 15, 1.0)
    assert first[0] == second[0]
    assert_array_equal(first[1], second[1])
    assert_array_equal(params, copies[0])
    for a, c in zip(data, copies[1:]):
        if a is not None:
            assert_array_equal(a, c)


def test_covariance_penalty_counts_only_off_diagonal_entries():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    loss, _ = solver.covariance_loss_grad(X, 2.0)
    C = np.cov(X, rowvar=False, bias=True)
    assert_allclose(loss, (C**2).sum() - (np.diag(C) ** 2).sum(), rtol=1e-10)
    # Independent columns scaled differently: the diagonal alone is not penalised.
    uncorrelated = np.diag([1.0, 5.0, 9.0])
    assert solver.covariance_loss_grad(
        np.vstack([uncorrelated, -uncorrelated]), 1.0)[0] == 0.0


# ---- learning -----------------------------------------------------------------------


def test_cml_places_users_near_their_community():
    X = two_communities()
    model = fit_quiet(CollaborativeMetricLearning(8, batch_size=32, max_iter=30,
                                                  random_state=0), X)
    recommended = model.recommend(np.arange(40), n=5)
    same_side = (recommended // 15) == (np.arange(40) % 2)[:, None]
    # By chance 9 of the 24 unseen items of a user are of its side (37.5%).
    assert same_side.mean() > 0.7
    # Users are nearer their community's items than the other community's.
    P, Q = model.user_embeddings_, model.item_embeddings_
    d = ((P[:, None, :] - Q[None, :, :]) ** 2).sum(axis=2)
    own = np.where((np.arange(40) % 2)[:, None] == (np.arange(30) // 15)[None, :], d,
                   np.nan)
    other = np.where(np.isnan(own), d, np.nan)
    assert np.all(np.nanmean(own, axis=1) < np.nanmean(other, axis=1))


def test_cml_vectors_stay_in_the_unit_ball():
    model = fit_quiet(CollaborativeMetricLearning(**{**FAST, "learning_rate": 1.0}),
                      two_communities())
    assert np.all(np.linalg.norm(model.user_embeddings_, axis=1) <= 1 + 1e-12)
    assert np.all(np.linalg.norm(model.item_embeddings_, axis=1) <= 1 + 1e-12)


@pytest.mark.parametrize("solver_name", ["adagrad", "sgd"])
def test_cml_refit_is_bit_identical_and_independent_of_threads(solver_name):
    X = two_communities()
    fits = [fit_quiet(CollaborativeMetricLearning(**FAST, solver=solver_name,
                                                  n_jobs=n_jobs), X)
            for n_jobs in (1, 1, 2)]
    for other in fits[1:]:
        assert_array_equal(fits[0].user_embeddings_, other.user_embeddings_)
        assert_array_equal(fits[0].item_embeddings_, other.item_embeddings_)
        assert fits[0].loss_curve_ == other.loss_curve_
    different = fit_quiet(CollaborativeMetricLearning(**{**FAST, "random_state": 1}),
                          X)
    assert not np.array_equal(fits[0].user_embeddings_, different.user_embeddings_)


def test_cml_sample_weight_matters_and_ones_change_nothing():
    X = two_communities()
    plain = fit_quiet(CollaborativeMetricLearning(**FAST), X)
    ones = fit_quiet(CollaborativeMetricLearning(**FAST), X,
                     sample_weight=np.ones(X.shape[0]))
    assert_array_equal(plain.user_embeddings_, ones.user_embeddings_)
    weights = np.random.default_rng(0).uniform(0.1, 3.0, X.shape[0])
    weighted = fit_quiet(CollaborativeMetricLearning(**FAST), X,
                         sample_weight=weights)
    assert not np.array_equal(plain.user_embeddings_, weighted.user_embeddings_)


def test_cml_leaves_input_unchanged_and_accepts_lists():
    X = two_communities()
    copy = X.copy()
    weights = np.ones(X.shape[0])
    array_fit = fit_quiet(CollaborativeMetricLearning(**FAST), X,
                          sample_weight=weights)
    assert_array_equal(X, copy)
    assert_array_equal(weights, 1.0)
    list_fit = fit_quiet(CollaborativeMetricLearning(**FAST), X.tolist())
    assert_array_equal(array_fit.user_embeddings_, list_fit.user_embeddings_)


# ---- recommend and score ------------------------------------------------------------


def test_recommend_excludes_training_items_and_pads():
    X = two_communities()
    model = fit_quiet(CollaborativeMetricLearning(**FAST), X)
    recommended = model.recommend(np.arange(40), n=10)
    assert recommended.shape == (40, 10) and recommended.dtype == np.int64
    for u in range(40):
        assert not set(recommended[u]) & set(X[X[:, 0] == u, 1])
        assert len(set(recommended[u])) == 10
    # 30 items, 6 seen: 24 candidates; n=28 pads each row with four -1.
    long = model.recommend(np.arange(40), n=28)
    assert_array_equal(long[:, 24:], -1)
    assert np.all(long[:, :24] >= 0)
    with_seen = model.recommend([0], n=30, exclude_seen=False)
    assert_array_equal(np.sort(with_seen[0]), np.arange(30))


def test_recommend_orders_by_distance_with_ties_to_the_smaller_id():
    X = two_communities()
    model = fit_quiet(CollaborativeMetricLearning(**FAST), X)
    Q = model.item_embeddings_.copy()
    Q[7] = Q[3]  # an exact tie between items 3 and 7
    model.item_embeddings_ = Q
    recommended = model.recommend(np.arange(40), n=30, exclude_seen=False)
    d = ((model.user_embeddings_[:, None, :] - Q[None]) ** 2).sum(axis=2)
    for u in range(40):
        assert np.all(np.diff(d[u, recommended[u]]) >= -1e-12)
        order = list(recommended[u])
        assert order.index(3) < order.index(7)


def test_unseen_users_get_popularity_and_unseen_items_are_not_recommended():
    X = two_communities()
    X = X[X[:, 1] != 4]  # item 4: no interaction (but ids go up to 29)
    X = X[X[:, 0] != 3]  # user 3: no interaction
    model = fit_quiet(CollaborativeMetricLearning(**FAST), X)
    popularity = np.bincount(X[:, 1], minlength=30)
    expected = np.lexsort((np.arange(30), -popularity))[:5]
    assert_array_equal(model.recommend([3, 500], n=5), [expected, expected])
    assert_array_equal(model.user_embeddings_[3], 0.0)
    assert_array_equal(model.item_embeddings_[4], 0.0)
    recommended = model.recommend(np.arange(40), n=30, exclude_seen=False)
    assert not np.any(recommended == 4)
    assert_array_equal(recommended[:, -1], -1)


def test_score_is_recall_at_10_of_recommend():
    from skmetric.recommend import recall_at_k

    X = two_communities(per_user=10)
    rng = np.random.default_rng(0)
    test = rng.random(X.shape[0]) < 0.2
    model = fit_quiet(CollaborativeMetricLearning(**FAST), X[~test])
    users = np.unique(X[test, 0])
    expected = recall_at_k(X[test], model.recommend(users, n=10), users=users, k=10)
    assert model.score(X[test]) == pytest.approx(expected)
    assert 0 < model.score(X[test]) <= 1


@pytest.mark.parametrize("users, error, message", [
    ([-1], ValueError, "ids must be non-negative"),
    ([0.5], TypeError, "users must hold integer ids"),
    (["a"], TypeError, "users must hold integer ids"),
    ([[0, 1]], ValueError, "users must be 1-D"),
])
def test_recommend_rejects_bad_users(users, error, message):
    model = fit_quiet(CollaborativeMetricLearning(**FAST), two_communities())
    with pytest.raises(error, match=re.escape(message)):
        model.recommend(users)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.recommend([0], n=0)


# ---- hostile input --------------------------------------------------------------------

GOOD = two_communities()


@pytest.mark.parametrize("X, weights, error, message", [
    (np.array([[0, 1], [-1, 2]]), None, ValueError, "X holds the user id -1"),
    (np.array([[0, 1], [1, -3]]), None, ValueError, "X holds the item id -3"),
    (np.array([[0.0, 1.0], [1.0, 2.5]]), None, TypeError, "X must hold integer ids"),
    (np.array([[0.0, 1.0], [1.0, 2.0]]), None, TypeError, "X must hold integer ids"),
    (np.array([[0, 1, 2]]), None, ValueError, "shape (n_interactions, 2)"),
    (np.zeros((0, 2), dtype=np.int64), None, ValueError, "X is empty"),
    (np.array([[0, 1], [1, 2], [0, 1]]), None, ValueError,
     "X holds the interaction (user 0, item 1) more than once"),
    (np.array([[0, 1], [1, 2]]), [1.0, np.nan], ValueError, "NaN or infinite"),
    (np.array([[0, 1], [1, 2]]), [1.0, -2.0], ValueError, "negative values"),
    (np.array([[0, 1], [1, 2]]), [1.0, 2.0, 3.0], ValueError,
     "sample_weight must have shape (2,)"),
    (np.array([[0, 1], [1, 2], [1, 3]]), [1.0, 0.0, 0.0], ValueError,
     "user 1 has interactions whose weights are all zero"),
])
def test_cml_rejects_hostile_input_before_any_kernel(monkeypatch, X, weights, error,
                                                     message):
    def forbidden(*args, **kwargs):
        raise AssertionError("a kernel ran on invalid input")

    monkeypatch.setattr(solver, "cml_hinge_terms", forbidden)
    for method in ("fit", "partial_fit"):
        with pytest.raises(error, match=re.escape(message)):
            getattr(CollaborativeMetricLearning(**FAST), method)(
                X, sample_weight=weights)


def test_cml_rejects_ids_beyond_the_item_features():
    features = np.eye(30)[:, :5]
    X = np.array([[0, 1], [1, 30]])
    with pytest.raises(ValueError, match=re.escape("X holds the item id 30, but there "
                                                   "are 30 items")):
        CollaborativeMetricLearning(**FAST, item_features=features).fit(X)


def test_score_rejects_bad_held_out_interactions():
    model = fit_quiet(CollaborativeMetricLearning(**FAST), GOOD)
    with pytest.raises(ValueError, match="user id -2"):
        model.score(np.array([[-2, 0]]))


# ---- convergence, early stopping, partial_fit, verbose ----------------------------------


def test_cml_warns_when_the_stopping_rule_was_not_met():
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=1"):
        CollaborativeMetricLearning(**{**FAST, "max_iter": 1}).fit(GOOD)


def _scripted_losses(monkeypatch, losses):
    """Make every epoch of a fit report the next of ``losses`` as its loss."""
    script = iter(losses)
    original = solver.run_epoch

    def scripted(*args, **kwargs):
        original(*args, **kwargs)
        return next(script), 0.5

    monkeypatch.setattr(solver, "run_epoch", scripted)


@pytest.mark.parametrize("feature_weight", [0.0, 1.0])
def test_cml_rising_loss_is_not_called_converged(monkeypatch, feature_weight):
    # A training loss that rises epoch after epoch (as the feature loss can) never
    # meets the stopping rule: the fit runs max_iter epochs and warns.
    _scripted_losses(monkeypatch, [1.0 + 0.1 * e for e in range(8)])
    features = np.eye(40)[:, :6] if feature_weight else None
    model = CollaborativeMetricLearning(
        **{**FAST, "max_iter": 8}, item_features=features,
        feature_weight=feature_weight)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=8"):
        model.fit(GOOD)
    assert model.n_iter_ == 8
    assert_allclose(model.loss_curve_, [1.0 + 0.1 * e for e in range(8)])


def test_cml_flat_loss_after_a_rise_converges_only_near_the_best(monkeypatch):
    # Down, then up by more than tol (no convergence counted), then back within
    # tol of the best: converged after n_iter_no_change flat epochs.
    losses = [1.0, 0.5, 0.8, 0.9, 0.85, 0.505, 0.5, 0.502, 0.9, 0.9]
    _scripted_losses(monkeypatch, losses)
    model = CollaborativeMetricLearning(**{**FAST, "max_iter": 10}, tol=1e-2,
                                        n_iter_no_change=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(GOOD)
    assert model.n_iter_ == 8


@pytest.mark.parametrize("loss, trend", [(0.8, "down"), (0.985, "flat"),
                                         (1.01, "flat"), (1.2, "up")])
def test_loss_trend_of_an_epoch(loss, trend):
    from skmetric.recommend._cml import _loss_trend

    assert _loss_trend(loss, 1.0, 0.02) == trend


def test_cml_early_stopping_keeps_the_best_epoch():
    X = two_communities(per_user=10)
    model = fit_quiet(CollaborativeMetricLearning(
        **{**FAST, "max_iter": 30}, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=3), X)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    if model.n_iter_ < 30:
        # Stopped because the rule held: no improvement of tol for 3 epochs.
        best = int(np.argmax(model.validation_scores_))
        assert model.n_iter_ - 1 - best >= 3
    # The vectors kept are those of the best epoch: rescoring the held-out part
    # is not possible from outside, but the validation score is in [0, 1].
    assert 0 <= model.best_validation_score_ <= 1


def test_partial_fit_continues_and_extends_ids():
    X = two_communities()
    model = CollaborativeMetricLearning(**FAST).partial_fit(X[X[:, 0] < 30])
    assert model.n_users_ == 30 and model.n_iter_ == 1
    before = model.user_embeddings_.copy()
    model.partial_fit(X[X[:, 0] >= 30])
    assert model.n_users_ == 40 and model.n_iter_ == 2
    assert model.user_embeddings_.shape == (40, 8)
    # Only the rows of a step's batch move: the earlier users' vectors stay.
    assert_array_equal(model.user_embeddings_[:30], before)
    assert not np.array_equal(model.item_embeddings_[:15], np.zeros((15, 8)))
    # The new users' items count as seen from now on.
    recommended = model.recommend([35], n=24)
    assert not set(recommended[0]) & set(X[X[:, 0] == 35, 1])


def test_cml_verbose_output_and_silence(capsys):
    fit_quiet(CollaborativeMetricLearning(**FAST), GOOD)
    assert capsys.readouterr().out == ""
    fit_quiet(CollaborativeMetricLearning(**FAST, verbose=2), GOOD)
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith("[CollaborativeMetricLearning]") for line in lines)
    assert sum("Epoch" in line for line in lines) == 1
    assert len(lines) >= 2 + 1 + FAST["max_iter"] + 1


# ---- item features and cold start -----------------------------------------------------


def test_item_features_indicators_centred_other_columns_standardised():
    # A rare 0/1 category keeps its scale (divided by its small standard deviation
    # it would dominate F W); a continuous column gets unit variance.
    rare = np.zeros(100)
    rare[:2] = 1.0
    year = np.linspace(1950, 2000, 100)
    features = np.column_stack([rare, year, np.full(100, 3.0)])
    F = CollaborativeMetricLearning(item_features=features)._check_item_features()
    assert_allclose(F[:, 0], rare - 0.02)
    assert_allclose(F[:, 1], (year - year.mean()) / year.std())
    assert_allclose(F[:, 2], 0.0)
    assert_array_equal(features[:, 0], rare)  # the user's array is untouched


@pytest.mark.parametrize("feature_weight", [0.0, 1.0])
def test_item_features_place_cold_items_by_their_features(feature_weight):
    # Two communities; the item's side is its feature. Items 10..14 and 25..29 have
    # no interaction at all: only their feature can place them.
    X = two_communities(n_users=60, per_user=5)
    X = X[~np.isin(X[:, 1], list(range(10, 15)) + list(range(25, 30)))]
    side = (np.arange(30) >= 15).astype(float)
    features = np.column_stack([side, 1 - side])
    model = fit_quiet(CollaborativeMetricLearning(
        8, max_iter=40, item_features=features, feature_weight=feature_weight,
        random_state=0), X)
    cold = np.r_[10:15, 25:30]
    assert model.item_feature_map_.shape == (2, 8)
    Q = model.item_embeddings_
    # Cold items too lie in the unit ball (their position F W projected on it).
    assert np.all(np.linalg.norm(Q, axis=1) <= 1 + 1e-12)
    d = ((model.user_embeddings_[:, None, :] - Q[None, cold]) ** 2).sum(axis=2)
    nearest_cold = cold[np.argmin(d, axis=1)]
    assert np.mean((nearest_cold >= 15) == (np.arange(60) % 2 == 1)) > 0.9
    # Cold items are candidates for recommendation (placed by features).
    assert np.isin(model.recommend(np.arange(60), n=25), cold).any()


# ---- scikit-learn integration -----------------------------------------------------------


def test_cml_clone_pickle_and_params():
    model = CollaborativeMetricLearning(**FAST)
    assert clone(model).get_params() == model.get_params()
    model.set_params(margin=0.3)
    assert model.margin == 0.3
    fitted = fit_quiet(model, GOOD)
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.recommend(np.arange(40)), fitted.recommend(np.arange(40)))


def test_cml_grid_search_and_cross_val_score_split_interactions():
    X = two_communities(per_user=10)
    cv = KFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(CollaborativeMetricLearning(**FAST), X, cv=cv)
        search = GridSearchCV(CollaborativeMetricLearning(**FAST),
                              {"margin": [0.2, 0.5]}, cv=cv).fit(X)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    assert search.best_params_["margin"] in (0.2, 0.5)
    assert search.best_estimator_.recommend([0]).shape == (1, 10)


# ---- scikit-learn's estimator checks -----------------------------------------------
# The samples are (user, item) integer ids, not a 2-D matrix of float features, so
# the estimator declares ``two_d_array=False`` and parametrize_with_checks yields
# nothing for it (as for the pair and triplet learners, tests/test_common.py). The
# checks that do not fit on a feature matrix run here; the others are listed with
# the reason they cannot apply. Their subjects are covered above on interactions:
# pickling, cloning, input left unchanged, bit-identical refits, hostile input,
# cross-validation and grid search.

SKLEARN_CHECKS = [
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_no_attributes_set_in_init",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimators_unfitted",
]

_FEATURES = ("fits on a 2-D matrix of float features; the samples here are "
             "(user, item) integer ids, which reject float features by design")
SKLEARN_CHECKS_NOT_APPLICABLE = {
    **{name: _FEATURES for name in (
        "check_fit_score_takes_y", "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
        "check_readonly_memmap_input", "check_positive_only_tag_during_fit",
        "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
        "check_estimators_nan_inf", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_transformer_general",
        "check_transformer_n_iter", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_fit2d_1sample",
        "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
        "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
        "check_requires_y_none", "check_transformer_data_not_an_array",
        "check_transformer_preserve_dtypes", "check_complex_data",
        "check_estimator_sparse_array", "check_estimator_sparse_matrix",
        "check_estimator_sparse_tag", "check_estimators_empty_data_messages",
        "check_fit1d", "check_transformers_unfitted",
    )},
    "check_n_features_in_after_fitting": "returns at once without two_d_array",
    "check_array_api_input": "skipped for every estimator unless SCIPY_ARRAY_API",
}


def test_sklearn_checks_run_or_are_listed_with_a_reason():
    from sklearn.utils import estimator_checks

    from skmetric import MahalanobisXing

    yielded = {getattr(check, "func", check).__name__
               for check in estimator_checks._yield_all_checks(MahalanobisXing(),
                                                               legacy=True)}
    yielded.add("check_estimator_cloneable")
    assert yielded <= set(SKLEARN_CHECKS) | set(SKLEARN_CHECKS_NOT_APPLICABLE)
    assert not set(SKLEARN_CHECKS) & set(SKLEARN_CHECKS_NOT_APPLICABLE)


@pytest.mark.parametrize("check_name", SKLEARN_CHECKS)
def test_cml_passes_the_sklearn_checks_that_apply(check_name):
    from sklearn.utils import estimator_checks

    estimator = CollaborativeMetricLearning(**FAST)
    getattr(estimator_checks, check_name)(type(estimator).__name__, estimator)
