"""ColorHistogram: scikit-learn's checks, the histogram against a direct count,
the stated behaviour on values out of range and the clear errors."""

import pickle
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmetric.preprocessing import ColorHistogram


@parametrize_with_checks([ColorHistogram(), ColorHistogram(n_bins=5, n_stripes=1,
                                                           hellinger=False)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _direct_histograms(images, n_bins, n_stripes, low, high):
    """Fractions per stripe, channel and bin, counted pixel by pixel."""
    n, height, width, channels = images.shape
    out = np.zeros((n, n_stripes, channels, n_bins))
    edges = np.linspace(low, high, n_bins + 1)
    for i in range(n):
        for s in range(n_stripes):
            rows = range(height * s // n_stripes, height * (s + 1) // n_stripes)
            for c in range(channels):
                values = [images[i, r, w, c] for r in rows for w in range(width)]
                counts, _ = np.histogram(values, bins=edges)
                out[i, s, c] = counts / len(values)
    return out.reshape(n, -1)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape, n_bins, n_stripes",
                         [((4, 2, 3), 4, 2), ((5, 3, 1), 7, 3), ((1, 6, 2), 3, 1),
                          ((32, 16, 3), 16, 2)])
def test_color_histogram_matches_direct_count(seed, shape, n_bins, n_stripes):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(6, int(np.prod(shape)))).astype(np.uint8)
    X_copy = X.copy()
    expected = _direct_histograms(X.reshape(-1, *shape).astype(float), n_bins,
                                  n_stripes, 0, 256)
    fractions = ColorHistogram(shape, n_bins=n_bins, n_stripes=n_stripes,
                               value_range=(0, 256), hellinger=False).fit_transform(X)
    assert_allclose(fractions, expected, rtol=0, atol=1e-15)
    hellinger = ColorHistogram(shape, n_bins=n_bins, n_stripes=n_stripes,
                               value_range=(0, 256)).fit_transform(X)
    assert_allclose(hellinger, np.sqrt(expected), rtol=0, atol=1e-15)
    assert_array_equal(X, X_copy)


def test_color_histogram_puts_each_value_in_its_bin():
    # Values 0..255 in 16 bins of 16: value v in bin v // 16; 256 (the range's
    # upper end) in the last bin.
    X = np.append(np.arange(256), 256).reshape(1, -1).astype(float)
    fractions = ColorHistogram(n_stripes=1, value_range=(0, 256),
                               hellinger=False).fit_transform(np.vstack([X, X]))
    expected = np.full(16, 16.0)
    expected[-1] += 1
    assert_allclose(fractions[0], expected / 257)


def test_color_histogram_learned_range_counts_later_values_in_end_bins():
    X_train = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 2.0, 2.0]])
    hist = ColorHistogram(n_bins=3, n_stripes=1, hellinger=False).fit(X_train)
    assert hist.value_range_ == (0.0, 3.0)
    got = hist.transform(np.array([[-5.0, 0.5, 2.5, 9.0]]))
    assert_allclose(got, [[0.5, 0.0, 0.5]])


def test_color_histogram_constant_training_data():
    hist = ColorHistogram(n_bins=4, n_stripes=1).fit(np.full((3, 5), 7.0))
    assert hist.value_range_ == (7.0, 8.0)
    assert_allclose(hist.transform(np.full((1, 5), 7.0)), [[1.0, 0.0, 0.0, 0.0]])


def test_color_histogram_feature_names_and_pickle():
    hist = ColorHistogram((2, 1, 2), n_bins=2, n_stripes=2, value_range=(0, 1))
    hist.fit(np.zeros((2, 4)))
    assert list(hist.get_feature_names_out()) == [
        f"stripe{s}_channel{c}_bin{j}" for s in range(2) for c in range(2)
        for j in range(2)]
    X = np.random.default_rng(0).uniform(size=(3, 4))
    assert_array_equal(pickle.loads(pickle.dumps(hist)).transform(X),
                       hist.transform(X))


@pytest.mark.parametrize("params, X, message", [
    ({"image_shape": (2, 2, 3)}, np.zeros((2, 10)),
     "image_shape=(2, 2, 3) holds 12 values, but X has 10 features per row."),
    ({"image_shape": (2, 5)}, np.zeros((2, 10)),
     "image_shape must be (height, width, channels), three positive integers; "
     "got (2, 5)."),
    ({"image_shape": (2, 0, 5)}, np.zeros((2, 10)),
     "image_shape must be (height, width, channels)"),
    ({"image_shape": (2, 5, 1), "n_stripes": 3}, np.zeros((2, 10)),
     "n_stripes=3 is more than the image's height (2 rows)"),
    ({"n_stripes": 2}, np.zeros((2, 10)), "n_stripes=2 needs the image's rows"),
    ({"n_stripes": 1, "value_range": (0, 1)}, np.full((2, 3), 2.0),
     "X holds values from 2 to 2, outside value_range=(0, 1)"),
    ({"n_stripes": 1, "value_range": (1, 1)}, np.ones((2, 3)),
     "value_range=(1, 1) must have low < high."),
    ({"n_stripes": 1, "value_range": (0, np.inf)}, np.ones((2, 3)),
     "value_range must be (low, high), two finite numbers"),
    ({"n_stripes": 1}, np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
])
def test_color_histogram_rejects_bad_input(params, X, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ColorHistogram(**params).fit(X)


def test_color_histogram_rejects_out_of_range_values_at_transform():
    hist = ColorHistogram(n_stripes=1, value_range=(0, 256)).fit(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("outside value_range=(0, 256)")):
        hist.transform(np.array([[0.0, 300.0, 1.0]]))


def test_color_histogram_in_a_pipeline_with_a_tracklet_learner():
    from skmetric.deep import DeepTripletTracklets

    rng = np.random.default_rng(0)
    shirts = rng.integers(0, 256, size=(6, 3))  # six people, one colour each
    tracklets = np.repeat(np.arange(6), 8)
    frames = np.arange(48) % 8 + 8 * (tracklets // 3)  # three people at once
    crops = np.repeat(shirts[tracklets], 4 * 2, axis=0).reshape(48, -1)
    crops = np.clip(crops + rng.integers(-20, 21, size=crops.shape), 0, 255)
    model = make_pipeline(
        ColorHistogram((4, 2, 3), n_bins=8, n_stripes=2,
                       value_range=(0, 256)),
        DeepTripletTracklets(4, hidden_layer_sizes=(8,), batch_size=16,
                             n_samples_per_class=4, max_iter=3, random_state=0))
    with pytest.warns(ConvergenceWarning):  # 3 epochs
        model.fit(crops, tracklets, deeptriplettracklets__frames=frames)
    assert model.transform(crops).shape == (48, 4)
