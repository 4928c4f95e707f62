"""Preprocessing steps that put raw inputs in a form metric learners use well.

:class:`ColorHistogram` turns flattened colour images (crops of tracked objects,
for example) into per-stripe, per-channel histograms, the classic appearance
descriptor of tracking, Hellinger-mapped so that Euclidean distances between
them compare distributions.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import Interval, check_params, check_X

__all__ = ["ColorHistogram"]


class ColorHistogram(TransformerMixin, BaseEstimator):
    """Histograms of the colour channels of horizontal stripes of images.

    Each row of X is one image of shape ``image_shape = (height, width,
    channels)``, flattened in row-major order (``X[i].reshape(image_shape)``
    is the image). The image is cut into ``n_stripes`` horizontal stripes of
    (nearly) equal height; for every stripe and channel, the values are
    counted in ``n_bins`` bins of equal width over ``value_range`` and the
    counts divided by the stripe's pixels. With ``hellinger=True`` the
    features are the square roots of these fractions, so that the Euclidean
    distance between two rows is (up to a factor sqrt(2)) the Hellinger
    distance between their histograms. Stripes keep a coarse layout (for a
    pedestrian: the upper body and the legs) while the histogram ignores where
    the colours lie within a stripe, which makes it robust to small shifts and
    deformations of the object in its box.

    Placed before a metric learner in a ``Pipeline`` (for example
    ``make_pipeline(ColorHistogram((32, 16, 3), n_stripes=2, value_range=(0,
    256)), DeepTripletTracklets())``), it gives the learner a compact input that
    already ignores pose, which the learner then weights from the supervision.

    Parameters
    ----------
    image_shape : tuple of 3 int or None, default=None
        ``(height, width, channels)`` of the images. None treats each row as
        one stripe of one channel (a histogram of the row's values); then
        ``n_stripes`` must be 1.
    n_bins : int, default=16
        Bins per channel and stripe.
    n_stripes : int, default=1
        Horizontal stripes; stripe s holds the image rows from ``height * s //
        n_stripes`` to ``height * (s + 1) // n_stripes``. At most ``height``.
    value_range : tuple (low, high) or None, default=None
        The range the bins cover: bin j holds the values in ``[low + j w, low +
        (j + 1) w)`` with ``w = (high - low) / n_bins``, the last bin also
        holding ``high``. For 8-bit images, ``(0, 256)`` gives 16 bins of 16
        grey levels each. Values outside a given range raise a ValueError.
        None takes the smallest and largest value of the training X, and
        values of later X beyond it are counted in the first or last bin.
    hellinger : bool, default=True
        Return the square roots of the fractions (Hellinger mapping) rather
        than the fractions themselves.

    Attributes
    ----------
    value_range_ : tuple of float
        The ``(low, high)`` range of the bins.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :meth:`fit`, when X has string column
        names.

    See Also
    --------
    skmetric.deep.DeepTripletTracklets : A metric learned from tracklets, for
        example on these histograms.

    Notes
    -----
    The features are ordered stripe by stripe, then channel by channel, then
    bin by bin: ``n_stripes * channels * n_bins`` of them, each row's
    fractions of one stripe and channel summing to 1 (their squares, with
    ``hellinger=True``). Cost O(n_samples * n_features) time and
    O(n_samples * n_bins) extra memory per stripe and channel.

    References
    ----------
    .. [1] M. J. Swain and D. H. Ballard. "Color indexing". International
       Journal of Computer Vision 7(1), 1991.
    .. [2] R. Arandjelovic and A. Zisserman. "Three things everyone should know
       to improve object retrieval". CVPR 2012 (the Hellinger mapping).

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.preprocessing import ColorHistogram
    >>> rng = np.random.default_rng(0)
    >>> crops = rng.integers(0, 256, size=(5, 4 * 2 * 3))  # 5 crops, 4 x 2 x 3
    >>> hist = ColorHistogram((4, 2, 3), n_bins=4, n_stripes=2,
    ...                       value_range=(0, 256))
    >>> features = hist.fit_transform(crops)
    >>> features.shape
    (5, 24)
    >>> float(np.round((features[0, :4] ** 2).sum(), 6))
    1.0
    """

    _parameter_constraints = {
        "image_shape": [tuple, list, None],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "n_stripes": [Interval(Integral, 1, None, closed="left")],
        "value_range": [tuple, list, None],
        "hellinger": ["boolean"],
    }

    def __init__(self, image_shape=None, *, n_bins=16, n_stripes=1,
                 value_range=None, hellinger=True):
        self.image_shape = image_shape
        self.n_bins = n_bins
        self.n_stripes = n_stripes
        self.value_range = value_range
        self.hellinger = hellinger

    def fit(self, X, y=None):
        """Check the image layout against X and set the range of the bins.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened images, ``n_features = height * width * channels``.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        check_params(self)
        X = check_X(self, X)
        self._layout(X.shape[1])
        if self.value_range is None:
            low, high = float(X.min()), float(X.max())
            if high == low:  # one value everywhere: any non-empty range holds it
                high = low + 1.0
        else:
            low, high = self._given_range()
            _check_in_range(X, low, high)
        self.value_range_ = (low, high)
        return self

    def transform(self, X):
        """Histogram features of the images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened images, as for :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_stripes * channels * n_bins)
            The (Hellinger-mapped) fractions of every stripe, channel and bin.
        """
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        height, width, channels = self._layout(X.shape[1])
        low, high = self.value_range_
        if self.value_range is not None:
            _check_in_range(X, low, high)
        n_bins = int(self.n_bins)
        scaled = (X - low) * (n_bins / (high - low))
        bins = np.clip(np.floor(scaled), 0, n_bins - 1).astype(np.int64)
        images = bins.reshape(X.shape[0], height, width, channels)
        n_samples = X.shape[0]
        offsets = (n_bins * np.arange(n_samples))[:, None]
        features = []
        for stripe in range(int(self.n_stripes)):
            top = height * stripe // self.n_stripes
            bottom = height * (stripe + 1) // self.n_stripes
            part = images[:, top:bottom].reshape(n_samples, -1, channels)
            for channel in range(channels):
                keys = part[:, :, channel] + offsets
                counts = np.bincount(keys.ravel(), minlength=n_samples * n_bins)
                fractions = counts.reshape(n_samples, n_bins) / part.shape[1]
                features.append(np.sqrt(fractions) if self.hellinger else fractions)
        return np.hstack(features)

    def get_feature_names_out(self, input_features=None):
        """Names ``stripe{s}_channel{c}_bin{j}`` of the output features.

        Parameters
        ----------
        input_features : None
            Ignored (the output names do not depend on the input's).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        channels = self._layout(self.n_features_in_)[2]
        return np.asarray([f"stripe{s}_channel{c}_bin{j}"
                           for s in range(self.n_stripes) for c in range(channels)
                           for j in range(self.n_bins)], dtype=object)

    # ---- checks ------------------------------------------------------------------

    def _layout(self, n_features):
        """``(height, width, channels)`` of rows of ``n_features`` values."""
        if self.image_shape is None:
            if self.n_stripes != 1:
                raise ValueError(
                    f"n_stripes={self.n_stripes} needs the image's rows: give "
                    "image_shape=(height, width, channels), or set n_stripes=1 "
                    "to take each row of X as one stripe of one channel.")
            return 1, n_features, 1
        shape = tuple(self.image_shape)
        if len(shape) != 3 or not all(isinstance(v, Integral) and v >= 1
                                      for v in shape):
            raise ValueError(
                "image_shape must be (height, width, channels), three positive "
                f"integers; got {self.image_shape!r}.")
        height, width, channels = (int(v) for v in shape)
        if height * width * channels != n_features:
            raise ValueError(
                f"image_shape={shape} holds {height * width * channels} values, "
                f"but X has {n_features} features per row.")
        if self.n_stripes > height:
            raise ValueError(
                f"n_stripes={self.n_stripes} is more than the image's height "
                f"({height} rows): a stripe would be empty.")
        return height, width, channels

    def _given_range(self):
        value_range = tuple(self.value_range)
        if len(value_range) != 2 or not all(
                np.isscalar(v) and np.isfinite(v) for v in value_range):
            raise ValueError(
                "value_range must be (low, high), two finite numbers; got "
                f"{self.value_range!r}.")
        low, high = (float(v) for v in value_range)
        if not low < high:
            raise ValueError(
                f"value_range={self.value_range!r} must have low < high.")
        return low, high


def _check_in_range(X, low, high):
    smallest, largest = float(X.min()), float(X.max())
    if smallest < low or largest > high:
        raise ValueError(
            f"X holds values from {smallest:.6g} to {largest:.6g}, outside "
            f"value_range=({low:.6g}, {high:.6g}); give the range of the images' "
            "values (for example (0, 256) for 8-bit images), or None to take "
            "that of the training X.")
