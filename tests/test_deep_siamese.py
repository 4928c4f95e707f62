"""DeepSiamesePairs: weak supervision by explicit pairs; DeepSiamese options."""

import warnings

import numpy as np
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skmetric.deep import DeepSiamese, DeepSiamesePairs

from .test_deep_triplet import ordered_fraction, tracking_sequence


def _tracking_pairs(frames):
    similar = np.column_stack((frames, frames + 1))
    dissimilar = np.column_stack((frames, frames + 6))
    pairs = np.concatenate((similar, dissimilar))
    labels = np.repeat([1, -1], frames.shape[0])
    return pairs, labels


def test_deep_siamese_pairs_learn_a_tracking_sequence():
    X = StandardScaler().fit_transform(tracking_sequence())
    pairs, labels = _tracking_pairs(np.arange(0, 190))
    test_frames = np.arange(200, 298)
    model = DeepSiamesePairs(4, hidden_layer_sizes=(32,), batch_size=32,
                             learning_rate_init=0.01, max_iter=60, preprocessor=X,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(pairs, labels)
    Z = model.transform(X)
    assert ordered_fraction(X, test_frames) < 0.75
    assert ordered_fraction(Z, test_frames) > 0.85
    # 0/1 labels mean the same as 1/-1, and the pairs as points the same as rows.
    fits = []
    for form, y in ((pairs, labels), (pairs, (labels > 0).astype(int)),
                    (X[pairs], labels)):
        short = DeepSiamesePairs(4, hidden_layer_sizes=(32,), batch_size=32,
                                 learning_rate_init=0.01, max_iter=5,
                                 preprocessor=None if form.ndim == 3 else X,
                                 random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(short.fit(form, y).transform(X))
    assert_allclose(fits[1], fits[0])
    assert_allclose(fits[2], fits[0])


def test_deep_siamese_pairs_early_stopping_scores_held_out_pairs():
    X = StandardScaler().fit_transform(tracking_sequence(200))
    pairs, labels = _tracking_pairs(np.arange(0, 190))
    model = DeepSiamesePairs(4, hidden_layer_sizes=(32,), batch_size=32,
                             learning_rate_init=0.01, max_iter=10,
                             early_stopping=True, validation_fraction=0.2,
                             preprocessor=X, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(pairs, labels)
    assert len(model.validation_scores_) == model.n_iter_ + 1
    assert 0.5 < model.best_validation_score_ <= 1.0  # ROC AUC


def test_deep_siamese_hard_negatives_fit():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 15)
    X = rng.normal(size=(60, 5)) + 3.0 * np.eye(5)[y]
    model = DeepSiamese(4, hard_negatives=True, hidden_layer_sizes=(8,),
                        batch_size=32, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert np.all(np.isfinite(model.transform(X)))
