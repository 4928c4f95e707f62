"""DeepTripletTracklets: mining never picks a negative of a tracklet that was not
seen at the same time; hostile input; determinism; the checks that apply."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.utils import estimator_checks

import skmetric.deep._triplet as deep_triplet
from skmetric.deep import DeepTripletTracklets
from skmetric.deep._tracklets import tracklet_batches

from .test_common import TUPLE_CHECKS

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(hidden_layer_sizes=(8,), batch_size=16, n_samples_per_class=4,
            max_iter=3, random_state=0)


def _scene(seed=0, n_objects=12, length=10, at_once=3, n_features=6):
    """Objects crossing a scene: ``at_once`` tracklets alive together, then the
    next ones; rows shuffled (frames unsorted)."""
    rng = np.random.default_rng(seed)
    look = rng.normal(size=(n_objects, n_features))
    tracklet = np.repeat(np.arange(n_objects), length)
    shift = rng.integers(0, 3, n_objects)[tracklet]
    frames = (np.tile(np.arange(length), n_objects)
              + length * (tracklet // at_once) + shift)
    X = look[tracklet] + rng.normal(scale=0.5, size=(tracklet.size, n_features))
    order = rng.permutation(tracklet.size)
    return X[order], tracklet[order], frames[order]


def _together(tracklet, frames):
    return {(u, v) for u, fu in zip(tracklet, frames)
            for v, fv in zip(tracklet, frames) if fu == fv and u != v}


@pytest.mark.parametrize("miner", ["semihard", "all", "hard", "batch_hard", "easy"])
def test_mining_never_picks_a_tracklet_not_seen_together(monkeypatch, miner):
    # The batch's mask allows exactly the co-occurring tracklets' rows, and the
    # loss puts no weight on a pair of rows of two tracklets never seen together
    # (the kernel's selection under the mask is checked against its NumPy twin
    # in test_tracking_kernels.py).
    X, tracklet, frames = _scene()
    together = _together(tracklet, frames)
    calls = []
    real = deep_triplet.triplet_rows_loss_weights

    def spy(D2, labels, allowed, margin, squared, code, start, stop, W, losses,
            counts):
        real(D2, labels, allowed, margin, squared, code, start, stop, W, losses,
             counts)
        calls.append((labels.copy(), allowed.copy(), W[start:stop].copy(),
                      counts[start:stop].copy(), start, stop))

    monkeypatch.setattr(deep_triplet, "triplet_rows_loss_weights", spy)
    model = DeepTripletTracklets(4, miner=miner, **{**FAST, "max_iter": 4})
    model.fit(X, tracklet, frames=frames)
    assert calls
    codes = np.unique(tracklet)  # labels are the sorted tracklet ids' codes
    n_weighted = n_selected = 0
    for labels, allowed, W, counts, start, stop in calls:
        ids = codes[labels]
        expected = np.array([[(u, v) in together for v in ids] for u in ids])
        assert_array_equal(allowed.astype(bool), expected)
        other = ids[start:stop, None] != ids[None, :]
        forbidden = other & ~expected[start:stop]
        assert not W[forbidden].any()
        n_weighted += np.count_nonzero(W[other])
        n_selected += counts[:, 1].sum()
    if miner != "easy":
        assert n_weighted > 0 and n_selected > 0


def test_batches_put_cooccurring_tracklets_together():
    X, tracklet, frames = _scene(n_objects=30)
    model = DeepTripletTracklets(4, **FAST).fit(X, tracklet, frames=frames)
    members = [np.flatnonzero(tracklet == t) for t in range(30)]
    rng = np.random.RandomState(0)
    batches = tracklet_batches(members, model._mid_frames, 40, 4, rng)
    together = _together(tracklet, frames)
    assert_array_equal(np.sort(np.unique(np.concatenate(batches))),
                       np.arange(tracklet.size))
    # Most tracklets meet a co-occurring one in some batch (random PK batches of
    # 40 rows out of 300 would give each about a 1 in 3 chance).
    met = set()
    for batch in batches:
        ids = set(tracklet[batch].tolist())
        met |= {a for a in ids if any((a, b) in together for b in ids)}
    assert len(met) >= 24


def test_fit_is_deterministic_and_pickles():
    X, tracklet, frames = _scene()
    first = DeepTripletTracklets(4, **FAST).fit(X, tracklet, frames=frames)
    second = clone(first).fit(X, tracklet, frames=frames)
    assert_array_equal(first.transform(X), second.transform(X))
    again = pickle.loads(pickle.dumps(first))
    assert_array_equal(again.transform(X), first.transform(X))


def test_learns_the_appearance():
    X, tracklet, frames = _scene(n_features=6)
    noise = np.random.default_rng(1).normal(size=(X.shape[0], 10)) * 3.0
    X = np.hstack((X, noise))  # 10 noise features drown the 6 informative ones
    model = DeepTripletTracklets(8, hidden_layer_sizes=(32,), batch_size=40,
                                 n_samples_per_class=5, max_iter=60,
                                 learning_rate_init=1e-2, random_state=0)
    Z = model.fit(X, tracklet, frames=frames).transform(X)

    def nearest_same(Z):
        D = ((Z[:, None] - Z[None]) ** 2).sum(axis=2)
        np.fill_diagonal(D, np.inf)
        return np.mean(tracklet[D.argmin(axis=1)] == tracklet)

    assert nearest_same(Z) > nearest_same(X) + 0.1


def test_hostile_input():
    X, tracklet, frames = _scene()
    model = DeepTripletTracklets(4, **FAST)
    with pytest.raises(ValueError, match="needs the frame of every row"):
        model.fit(X, tracklet)
    with pytest.raises(ValueError, match="needs the tracklet of every row"):
        model.fit(X, None, frames=frames)
    bad = frames.copy()
    bad[3] = -2
    with pytest.raises(ValueError, match="frames must be non-negative; got -2"):
        model.fit(X, tracklet, frames=bad)
    twice = frames.copy()
    first_rows = np.flatnonzero(tracklet == tracklet[0])[:2]
    twice[first_rows[1]] = twice[first_rows[0]]
    with pytest.raises(ValueError, match="is seen twice in frame"):
        model.fit(X, tracklet, frames=twice)
    apart = np.arange(tracklet.size)  # every row in its own frame
    with pytest.raises(ValueError, match="no two tracklets are seen in the same"):
        model.fit(X, tracklet, frames=apart)
    with pytest.raises(ValueError, match="frames has 5 entries"):
        model.fit(X, tracklet, frames=frames[:5])
    with pytest.raises(ValueError, match="distance_weighted"):
        DeepTripletTracklets(miner="distance_weighted").fit(X, tracklet,
                                                             frames=frames)


def test_single_row_tracklet_is_accepted_as_a_negative():
    X, tracklet, frames = _scene()
    keep = np.ones(tracklet.size, bool)
    keep[np.flatnonzero(tracklet == 0)[1:]] = False  # tracklet 0 keeps one row
    model = DeepTripletTracklets(4, **FAST).fit(X[keep], tracklet[keep],
                                                frames=frames[keep])
    assert model.transform(X).shape == (X.shape[0], 4)


def test_input_left_unchanged_and_float32():
    X, tracklet, frames = _scene()
    copies = X.copy(), tracklet.copy(), frames.copy()
    model = DeepTripletTracklets(4, **FAST).fit(X.astype(np.float32), tracklet,
                                                frames=frames)
    model.fit(X, tracklet, frames=frames)
    for given, copy in zip((X, tracklet, frames), copies):
        assert_array_equal(given, copy)
    assert_allclose(model.transform(X.astype(np.float32)), model.transform(X),
                    atol=1e-5)


@pytest.mark.parametrize("check_name", TUPLE_CHECKS)
def test_passes_the_checks_that_do_not_fit(check_name):
    # Fitting needs frames, which scikit-learn's fitting checks do not pass.
    estimator = DeepTripletTracklets(4, **FAST)
    getattr(estimator_checks, check_name)(type(estimator).__name__, estimator)


@pytest.mark.parametrize("miner", ["all", "semihard", "batch_hard"])
@pytest.mark.parametrize("normalize", [False, True])
def test_tracklet_loss_gradient_matches_finite_differences(miner, normalize):
    from .test_gradients import _check_network_gradient, _network_problem

    rng, X, labels, coefs, intercepts = _network_problem(5, "tanh")
    model = DeepTripletTracklets(margin=0.5, miner=miner, normalize=normalize)
    # Tracklets 0-1 and 1-2 seen together, 3 with nobody.
    model._cooccur = np.zeros((4, 4), dtype=bool)
    model._cooccur[[0, 1, 1, 2], [1, 0, 2, 1]] = True
    embedding_loss = model._labelled_loss(labels, rng)
    _check_network_gradient(X, coefs, intercepts, embedding_loss, "tanh", normalize)
