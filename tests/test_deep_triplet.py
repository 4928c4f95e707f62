"""DeepTripletTriplets: weak supervision by explicit triplets; DeepTriplet miners
end to end."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skmetric.deep import DeepTriplet, DeepTripletTriplets


def tracking_sequence(n_frames=300, n_noise=10, step=0.5, seed=0):
    """Frames of an object moving round a loop, seen through nuisance features.

    The position is an angle advancing by ``step`` per frame, shown by 4 smooth
    features; ``n_noise`` features are fresh noise in every frame and dominate raw
    Euclidean distances, so that these cannot tell frame t+1 from t+2.
    """
    rng = np.random.default_rng(seed)
    angle = step * np.arange(n_frames)
    signal = np.column_stack((np.cos(angle), np.sin(angle), np.cos(2 * angle),
                              np.sin(2 * angle)))
    return np.column_stack((signal, rng.normal(size=(n_frames, n_noise))))


def ordered_fraction(Z, frames):
    """Fraction of frames t with d(t, t+1) < d(t, t+2)."""
    near = np.linalg.norm(Z[frames] - Z[frames + 1], axis=1)
    far = np.linalg.norm(Z[frames] - Z[frames + 2], axis=1)
    return np.mean(near < far)


def test_deep_triplets_learn_a_tracking_sequence():
    X = tracking_sequence()
    train_frames = np.arange(0, 198)
    test_frames = np.arange(200, 298)
    triplets = np.column_stack((train_frames, train_frames + 1, train_frames + 2))
    assert ordered_fraction(X, test_frames) < 0.75  # raw distances: near chance
    Xs = StandardScaler().fit_transform(X)
    model = DeepTripletTriplets(4, hidden_layer_sizes=(32,), batch_size=32,
                                learning_rate_init=0.01, max_iter=60,
                                preprocessor=Xs, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(triplets)
    Z = model.transform(Xs)
    assert ordered_fraction(Z, test_frames) > 0.9
    assert ordered_fraction(Z, train_frames) > 0.9
    # score is the fraction of triplets ordered right, here on unseen frames.
    test_triplets = np.column_stack((test_frames, test_frames + 1, test_frames + 2))
    assert model.score(test_triplets) == ordered_fraction(Z, test_frames)


def test_deep_triplets_early_stopping_on_held_out_triplets():
    X = StandardScaler().fit_transform(tracking_sequence(200))
    frames = np.arange(0, 198)
    triplets = np.column_stack((frames, frames + 1, frames + 2))
    model = DeepTripletTriplets(4, hidden_layer_sizes=(32,), batch_size=32,
                                learning_rate_init=0.01, max_iter=15,
                                early_stopping=True, validation_fraction=0.2,
                                preprocessor=X, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(triplets)
    assert len(model.validation_scores_) == model.n_iter_ + 1
    assert model.best_validation_score_ == max(model.validation_scores_) > 0.6


@pytest.mark.parametrize("miner", ["all", "semihard", "hard", "batch_hard",
                                   "distance_weighted", "easy"])
@pytest.mark.parametrize("squared", [False, True])
def test_deep_triplet_every_miner_fits(miner, squared):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 15)
    X = rng.normal(size=(60, 5)) + 3.0 * np.eye(5)[y]
    model = DeepTriplet(4, miner=miner, squared=squared, hidden_layer_sizes=(8,),
                        batch_size=32, max_iter=3, alpha=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert np.all(np.isfinite(model.transform(X)))
    assert_allclose(np.linalg.norm(model.transform(X), axis=1), 1.0)
    if miner == "easy":  # easy triplets have zero loss: nothing is learned
        assert model.loss_curve_ == [0.0] * 3
    else:
        assert model.loss_curve_[0] > 0.0


def test_deep_transform_in_blocks_matches_one_pass(monkeypatch):
    import skmetric.deep._base as deep_base

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DeepTriplet(4, max_iter=3, random_state=0).fit(X, y)
    whole = model.transform(X)
    monkeypatch.setattr(deep_base, "_EMBED_ROWS", 7)
    assert_allclose(model.transform(X), whole, rtol=1e-12, atol=1e-14)


def test_deep_warns_when_inputs_are_far_from_unit_scale():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X) * 1e-6
    with pytest.warns(UserWarning, match="median standard deviation is 1e-06, far "
                                         "from 1"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            DeepTriplet(4, max_iter=2, random_state=0).fit(X, y)
