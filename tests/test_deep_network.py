"""The network, the optimisers and the behaviour both deep estimators share."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmetric.deep import DeepSiamese, DeepTriplet, EmbeddingCollapseWarning
from skmetric.deep._base import embedding_collapsed
from skmetric.deep._batches import class_batches, class_members, split_classes
from skmetric.deep import _network as network
from skmetric.deep._network import (
    backward,
    forward,
    init_parameters,
    network_loss_grad,
    pack,
    unpack,
)
from skmetric.deep._optim import SGD, Adam

from ._toys import informative_axis_data

BOTH = pytest.mark.parametrize("Estimator", [DeepSiamese, DeepTriplet])
FAST = dict(hidden_layer_sizes=(16,), n_components=8, batch_size=32,
            n_samples_per_class=4, max_iter=5, early_stopping=False)


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:n]), y[:n]


def _quiet_fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


# ---- network and optimisers -------------------------------------------------------

def test_deep_init_is_glorot_uniform():
    rng = np.random.RandomState(0)
    coefs, intercepts = init_parameters([50, 30, 10], rng)
    assert [c.shape for c in coefs] == [(50, 30), (30, 10)]
    assert [b.shape for b in intercepts] == [(30,), (10,)]
    for coef, (fan_in, fan_out) in zip(coefs, [(50, 30), (30, 10)]):
        bound = np.sqrt(6 / (fan_in + fan_out))
        assert np.abs(coef).max() <= bound
        assert np.abs(coef).max() > 0.9 * bound
        assert_allclose(coef.std(), bound / np.sqrt(3), rtol=0.1)


@pytest.mark.parametrize("normalize", [False, True])
def test_deep_forward_matches_the_formula(normalize):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(7, 4))
    coefs, intercepts = init_parameters([4, 5, 3], rng)
    embedding, _ = forward(X, coefs, intercepts, "tanh", normalize)
    expected = np.tanh(X @ coefs[0] + intercepts[0]) @ coefs[1] + intercepts[1]
    if normalize:
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert_allclose(np.linalg.norm(embedding, axis=1), 1.0)
    assert_allclose(embedding, expected, rtol=1e-12)


def test_deep_normalisation_backward_is_tangent():
    # The gradient through z = h/|h| has no component along h.
    rng = np.random.RandomState(1)
    X = rng.normal(size=(6, 3))
    coefs, intercepts = init_parameters([3, 4], rng)
    _, cache = forward(X, coefs, intercepts, "relu", True)
    raw = cache[0][-1]
    coef_grads, intercept_grads, _ = backward(raw.copy(), cache, coefs, "relu")
    assert_allclose(intercept_grads[0], 0.0, atol=1e-12)
    assert_allclose(coef_grads[0], 0.0, atol=1e-12)


def test_deep_pack_unpack_round_trip():
    arrays = [np.arange(6.0).reshape(2, 3), np.arange(4.0)]
    back = unpack(pack(arrays), arrays)
    for a, b in zip(arrays, back):
        assert_array_equal(a, b)


@pytest.mark.parametrize("make", [lambda p: SGD(p, 0.1, momentum=0.9),
                                  lambda p: SGD(p, 0.1, momentum=0.5, nesterov=False),
                                  lambda p: Adam(p, 0.1)])
def test_deep_optimisers_minimise_a_quadratic(make):
    target = np.array([1.0, -2.0, 3.0])
    params = [np.zeros(3)]
    optimizer = make(params)
    for _ in range(300):
        optimizer.update(params, [params[0] - target])
    assert_allclose(params[0], target, atol=1e-2)


def test_deep_class_batches_cover_every_row_with_class_groups():
    y = np.repeat(np.arange(5), [10, 7, 3, 20, 4]).astype(np.int64)
    members = class_members(y)
    batches = class_batches(members, 16, 4, np.random.RandomState(0))
    seen = np.concatenate(batches)
    assert set(seen.tolist()) == set(range(y.shape[0]))
    for batch in batches:
        counts = np.bincount(y[batch], minlength=5)
        assert np.all((counts == 0) | (counts >= 3))  # groups of 4 (class 2 has 3)
        assert len(np.unique(y[batch])) >= 2
    again = class_batches(members, 16, 4, np.random.RandomState(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_deep_split_classes_keeps_two_training_rows_per_class():
    y = np.repeat(np.arange(3), [2, 3, 30]).astype(np.int64)
    train, validation = split_classes(y, 0.5, np.random.RandomState(0))
    assert np.bincount(y[train]).tolist() == [2, 2, 15]
    assert np.bincount(y[validation], minlength=3).tolist() == [0, 1, 15]
    assert not set(train) & set(validation)


def test_deep_embedding_collapsed():
    rng = np.random.default_rng(0)
    assert embedding_collapsed(np.ones((10, 3)) + 1e-5 * rng.normal(size=(10, 3)))
    assert embedding_collapsed(np.zeros((4, 2)))
    assert not embedding_collapsed(rng.normal(size=(10, 3)))


# ---- shared estimator behaviour ---------------------------------------------------

@BOTH
def test_deep_learns_the_informative_axis(Estimator):
    X, y = informative_axis_data(n_samples=200, n_noise=6)
    euclid = KNeighborsClassifier(3).fit(X[::2], y[::2]).score(X[1::2], y[1::2])
    model = _quiet_fit(Estimator(8, hidden_layer_sizes=(16,), max_iter=30,
                                 batch_size=64, learning_rate_init=0.01,
                                 random_state=0), X[::2], y[::2])
    Z_train, Z_test = model.transform(X[::2]), model.transform(X[1::2])
    learned = KNeighborsClassifier(3).fit(Z_train, y[::2]).score(Z_test, y[1::2])
    assert learned >= 0.9
    assert learned > euclid + 0.1


@BOTH
def test_deep_same_random_state_same_result(Estimator):
    X, y = _digits()
    a = _quiet_fit(Estimator(random_state=3, **FAST), X, y)
    b = _quiet_fit(Estimator(random_state=3, **FAST), X, y)
    c = _quiet_fit(Estimator(random_state=4, **FAST), X, y)
    for ca, cb, cc in zip(a.coefs_, b.coefs_, c.coefs_):
        assert_array_equal(ca, cb)
        assert not np.allclose(ca, cc)
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(a.transform(X), b.transform(X))


@BOTH
def test_deep_fitted_attributes_and_transform(Estimator):
    X, y = _digits()
    model = _quiet_fit(Estimator(random_state=0, **FAST), X, y)
    assert [c.shape for c in model.coefs_] == [(64, 16), (16, 8)]
    assert [b.shape for b in model.intercepts_] == [(16,), (8,)]
    assert model.n_iter_ == len(model.loss_curve_) <= 5
    assert model.n_features_in_ == 64
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    Z = model.transform(X)
    assert Z.shape == (300, 8)
    assert_allclose(np.linalg.norm(Z, axis=1), 1.0)
    name = Estimator.__name__.lower()
    assert model.get_feature_names_out().tolist() == [f"{name}{i}" for i in range(8)]
    raw = _quiet_fit(Estimator(random_state=0, normalize=False, **FAST), X, y)
    assert not np.allclose(np.linalg.norm(raw.transform(X), axis=1), 1.0)


@BOTH
def test_deep_pipeline_grid_search(Estimator):
    X, y = _digits(240)
    pipe = make_pipeline(
        Estimator(random_state=0,
                  **{**FAST, "max_iter": 20, "learning_rate_init": 0.01}),
        KNeighborsClassifier(3),
    )
    key = f"{Estimator.__name__.lower()}__skip"
    grid = GridSearchCV(pipe, {key: [None, "pca"]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert set(grid.best_params_) == {key}


@BOTH
def test_deep_pickle_round_trip(Estimator):
    X, y = _digits()
    model = _quiet_fit(Estimator(random_state=0, **FAST), X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.transform(X), model.transform(X))


@BOTH
def test_deep_refit_on_other_width_resets(Estimator):
    X, y = _digits()
    model = _quiet_fit(Estimator(random_state=0, warm_start=True, **FAST), X, y)
    _quiet_fit(model, X[:, :10], y)
    assert model.coefs_[0].shape == (10, 16)
    assert model.n_features_in_ == 10
    assert model.n_iter_ == len(model.loss_curve_) <= 5
    assert model.transform(X[:, :10]).shape == (300, 8)


@BOTH
def test_deep_accepts_float32_and_lists_and_leaves_input_unchanged(Estimator):
    X, y = _digits(120)
    X32 = X.astype(np.float32)
    copy = X32.copy()
    a = _quiet_fit(Estimator(random_state=0, **FAST), X32, y)
    b = _quiet_fit(Estimator(random_state=0, **FAST), X32.tolist(), y.tolist())
    assert_array_equal(X32, copy)
    assert_allclose(a.transform(X32), b.transform(X32))


@BOTH
def test_deep_warm_start_and_partial_fit_continue_training(Estimator):
    X, y = _digits()
    first = _quiet_fit(Estimator(random_state=0, warm_start=True, **FAST), X, y)
    coefs = [c.copy() for c in first.coefs_]
    _quiet_fit(first, X, y)
    assert first.n_iter_ == len(first.loss_curve_) > 5
    assert not np.allclose(first.coefs_[0], coefs[0])
    cold = _quiet_fit(Estimator(random_state=0, **FAST), X, y)
    _quiet_fit(cold, X, y)
    assert cold.n_iter_ <= 5  # no warm start: a fresh fit

    partial = Estimator(random_state=0, **FAST)
    for epoch in range(3):
        partial.partial_fit(X, y)
        assert partial.n_iter_ == epoch + 1
    assert len(partial.loss_curve_) == 3
    with pytest.raises(ValueError, match="X has 10 features"):
        partial.partial_fit(X[:, :10], y)


@BOTH
def test_deep_early_stopping_keeps_the_best_epoch(Estimator):
    X, y = _digits()
    model = _quiet_fit(Estimator(random_state=0, n_iter_no_change=3,
                                 **{**FAST, "max_iter": 12, "early_stopping": True}),
                       X, y)
    scores = model.validation_scores_
    assert len(scores) == model.n_iter_ + 1  # the starting network, then each epoch
    # The best network's score, or the fall-back's when none matched it.
    assert model.best_validation_score_ == max(scores) or not model.coefs_[-1].any()
    assert 0.0 < max(scores) <= 1.0


@BOTH
def test_deep_verbose_output(Estimator, capsys):
    X, y = _digits(120)
    name = Estimator.__name__
    _quiet_fit(Estimator(random_state=0, verbose=2,
                         **{**FAST, "early_stopping": True}), X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"[{name}] Training a 64-16-8 relu network on 120 "
                               "samples")
    assert re.search(r"Epoch\s+Loss\s+Active\s+Validation\s+Time\(s\)", lines[1])
    assert all(line.startswith(f"[{name}]") for line in lines)
    assert len(lines) == 3 + 5 + 1
    assert re.match(rf"\[{name}\] (Converged|Stopped) after \d+ epochs", lines[-1])
    _quiet_fit(Estimator(random_state=0, verbose=1, **FAST), X, y)
    assert len(capsys.readouterr().out.splitlines()) == 2
    _quiet_fit(Estimator(random_state=0, **FAST), X, y)
    assert capsys.readouterr().out == ""


@BOTH
def test_deep_warns_when_not_converged(Estimator):
    X, y = _digits(120)
    with pytest.warns(ConvergenceWarning, match=re.escape(
            f"{Estimator.__name__} did not converge in max_iter=2 iterations")):
        Estimator(random_state=0, **{**FAST, "max_iter": 2}).fit(X, y)


@BOTH
def test_deep_warns_when_the_embedding_collapses(Estimator):
    # A huge L2 penalty drives every weight to zero: all rows embed to the same
    # normalised bias. (The skip path is not penalised, so it is left out.)
    X, y = _digits(120)
    with pytest.warns(EmbeddingCollapseWarning, match="the embedding has collapsed"):
        _quiet_fit(Estimator(random_state=0, alpha=1e3, learning_rate_init=0.05,
                             skip=None,
                             **{**FAST, "max_iter": 30}), X, y)


@BOTH
def test_deep_warns_about_unscaled_features(Estimator):
    X, y = _digits(120)
    X = X.copy()
    X[:, 5] *= 1e5
    with pytest.warns(UserWarning, match="standardise X"):
        _quiet_fit(Estimator(random_state=0, **FAST), X, y)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("Estimator", [DeepSiamese, DeepTriplet])
def test_deep_skip_path_gradient_matches_finite_differences(Estimator, activation,
                                                            normalize):
    # Every weight, bias and skip entry of a network with a skip path.
    from skmetric.deep._network import network_loss_grad

    rng = np.random.RandomState(0)
    X = rng.normal(size=(24, 5))
    labels = np.repeat(np.arange(4), 6).astype(np.int64)
    coefs, intercepts = init_parameters([5, 7, 3], rng)
    skip = rng.normal(size=(5, 3))
    model = Estimator(margin=0.5, normalize=normalize)
    embedding_loss = model._labelled_loss(labels, rng)
    params = coefs + intercepts + [skip]

    def value_grad(theta):
        c0, c1, b0, b1, s = unpack(theta, params)
        loss, coef_grads, intercept_grads, skip_grad, _, _ = network_loss_grad(
            X, [c0, c1], [b0, b1], embedding_loss, activation, normalize, 0.01, s)
        return loss, pack(coef_grads + intercept_grads + [skip_grad])

    flat = pack(params)
    loss, analytic = value_grad(flat)
    assert loss > 0.0
    h = 1e-6
    numeric = np.array([
        (value_grad(flat + h * e)[0] - value_grad(flat - h * e)[0]) / (2 * h)
        for e in np.eye(flat.shape[0])
    ])
    assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)
    assert np.abs(analytic[-skip.size:]).max() > 1e-3  # the skip path does learn
    # The skip path adds X @ skip to the output, before the normalisation.
    plain, _ = forward(X, coefs, intercepts, activation, False)
    with_skip, _ = forward(X, coefs, intercepts, activation, False, skip)
    assert_allclose(with_skip, plain + X @ skip, rtol=1e-12)


# ---- the network in pieces (shared out over threads) ------------------------------

def _pieces_problem(Estimator, n=150, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 6))
    labels = np.repeat(np.arange(5), -(-n // 5))[:n].astype(np.int64)
    coefs, intercepts = init_parameters([6, 9, 4], rng)
    skip = rng.normal(size=(6, 4))
    embedding_loss = Estimator(margin=0.5)._labelled_loss(labels, rng)
    return X, coefs, intercepts, skip, embedding_loss


def _loss_grad(X, coefs, intercepts, skip, embedding_loss, n_threads=1):
    loss, coef_grads, intercept_grads, skip_grad, _, _ = network_loss_grad(
        X, coefs, intercepts, embedding_loss, "relu", True, 0.01, skip, n_threads)
    return loss, coef_grads + intercept_grads + [skip_grad]


@pytest.mark.parametrize("piece_rows", [7, 64])
@BOTH
def test_deep_network_in_pieces_matches_one_pass(Estimator, piece_rows, monkeypatch):
    # 150 rows: pieces of 7 (the last of 3 rows) or 64 (64, 64, 22); their
    # gradients summed equal the one-pass gradients to rounding, and the same
    # pieces give the same bits on one thread or on three.
    problem = _pieces_problem(Estimator)
    monkeypatch.setattr(network, "PIECE_ROWS", 1000)
    whole_loss, whole = _loss_grad(*problem)
    monkeypatch.setattr(network, "PIECE_ROWS", piece_rows)
    loss, grads = _loss_grad(*problem)
    assert loss == pytest.approx(whole_loss, rel=1e-12)
    for got, expected in zip(grads, whole):
        assert np.abs(expected).max() > 1e-4
        assert_allclose(got, expected, rtol=1e-9, atol=1e-13)
    threads_loss, threads_grads = _loss_grad(*problem, n_threads=3)
    assert threads_loss == loss
    for got, expected in zip(threads_grads, grads):
        assert_array_equal(got, expected)


@pytest.mark.parametrize("Estimator", [DeepSiamese, DeepTriplet])
def test_deep_network_gradient_in_pieces_matches_finite_differences(Estimator,
                                                                    monkeypatch):
    monkeypatch.setattr(network, "PIECE_ROWS", 7)  # 24 rows: 7, 7, 7, 3
    X, coefs, intercepts, skip, embedding_loss = _pieces_problem(Estimator, n=24)
    params = coefs + intercepts + [skip]

    def value_grad(theta):
        c0, c1, b0, b1, s = unpack(theta, params)
        loss, grads = _loss_grad(X, [c0, c1], [b0, b1], s, embedding_loss,
                                 n_threads=2)
        return loss, pack(grads)

    flat = pack(params)
    loss, analytic = value_grad(flat)
    assert loss > 0.0
    h = 1e-6
    numeric = np.array([
        (value_grad(flat + h * e)[0] - value_grad(flat - h * e)[0]) / (2 * h)
        for e in np.eye(flat.shape[0])
    ])
    assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("piece_rows", [5, 64])
@pytest.mark.parametrize("n", [1, 64, 150])
def test_deep_batch_distances_and_weights_grad_in_pieces(n, piece_rows,
                                                         monkeypatch):
    # The batch's distances and the gradient of sum_ij W_ij |E_i - E_j|^2 by
    # pieces of rows: the kernels' values to rounding, the same bits on any
    # number of threads.
    from skmetric import _kernels as kernels

    rng = np.random.default_rng(n)
    E = rng.normal(size=(n, 6))
    W = rng.normal(size=(n, n))
    E_copy, W_copy = E.copy(), W.copy()
    monkeypatch.setattr(network, "PIECE_ROWS", piece_rows)
    D2 = network.batch_sq_dists(E)
    grad = network.batch_weights_grad(E, W)
    assert_allclose(D2, kernels.pairwise_sq_dists(E, E), rtol=1e-12, atol=1e-12)
    assert_allclose(grad, kernels.sq_dist_weights_grad(E, W), rtol=1e-10,
                    atol=1e-11)
    for n_threads in (2, 3):
        assert_array_equal(network.batch_sq_dists(E, n_threads), D2)
        assert_array_equal(network.batch_weights_grad(E, W, n_threads), grad)
    assert_array_equal(E, E_copy)
    assert_array_equal(W, W_copy)
