"""Shared checks on X, y, pairs, triplets and hyper-parameters.

Every estimator validates its input through this module, so that the same bad input
gets the same message everywhere, and nothing reaches a numba kernel unchecked.

This is the only module allowed to import private scikit-learn helpers; the test
suite imports them from here and fails loudly if they move.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, validate_data

# Private scikit-learn API: parameter constraint declarations and their checker.
# tests/test_validation.py::test_private_sklearn_imports_still_exist guards them.
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "check_array_param",
    "class_members",
    "check_params",
    "check_pairs",
    "check_triplets",
    "check_X_y_classes",
    "check_X",
]


def check_params(estimator):
    """Check every constructor parameter against ``estimator._parameter_constraints``.

    Raises ``InvalidParameterError`` (a subclass of both ``ValueError`` and
    ``TypeError``) naming the parameter, the allowed values and the value given.
    """
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )


def check_X(estimator, X, *, reset=True, dtype=np.float64):
    """Validate X alone: float64, C-contiguous, finite, 2-D, at least 2 rows on fit.

    Sets ``n_features_in_`` (and ``feature_names_in_``) when ``reset`` is true.
    ``dtype`` may list accepted dtypes (the first is the conversion target), as
    ``transform`` does to keep float32 input in float32.
    Returns a new array whenever a conversion happens; the caller's array is never
    written to, and estimators copy before any in-place step.
    """
    return validate_data(
        estimator,
        X,
        reset=reset,
        dtype=dtype,
        order="C",
        ensure_min_samples=2 if reset else 1,
    )


def check_X_y_classes(estimator, X, y, *, min_class_size=2, reset=True):
    """Validate X and class labels y; encode y as ``0..n_classes-1``.

    Parameters
    ----------
    estimator : estimator instance
        The estimator being fitted (receives ``n_features_in_``).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    min_class_size : int, default=2
        Smallest number of samples a class may have. A class with fewer samples
        raises a ``ValueError`` that states the counts.
    reset : bool, default=True
        Set ``n_features_in_`` from X; False checks X against it instead (for
        ``partial_fit`` after a first fit).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous
    y_encoded : ndarray of shape (n_samples,), int64
    classes : ndarray of shape (n_classes,)
        The original labels, ``classes[y_encoded]`` gives y back.
    """
    X, y = validate_data(
        estimator, X, y, reset=reset, dtype=np.float64, order="C",
        ensure_min_samples=2,
    )
    try:
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
    except TypeError as exc:  # labels that cannot be sorted: 'a' and 1, or None
        kinds = ", ".join(sorted({type(label).__name__ for label in np.ravel(y)}))
        raise TypeError(
            f"y mixes labels of types that cannot be ordered ({kinds}); give labels "
            "of one type, for example all strings or all integers."
        ) from exc
    name = type(estimator).__name__
    labels = classes.tolist()  # native Python values for readable messages
    if classes.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least 2 classes in y to learn a metric; "
            f"got a single class {labels[0]!r}."
        )
    counts = np.bincount(y_encoded)
    small = np.flatnonzero(counts < min_class_size)
    if small.size:
        shown = ", ".join(f"{labels[c]!r}: {counts[c]}" for c in small[:10])
        raise ValueError(
            f"{name} needs at least {min_class_size} samples in every class; "
            f"these classes have fewer ({shown})."
        )
    return X, y_encoded.astype(np.int64), classes


def _check_index_array(indices, width, n_samples, what):
    """Integer array of shape (m, width) with every entry in [0, n_samples)."""
    arr = np.asarray(indices)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool
    ):
        if arr.size and np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise TypeError(
                    f"{what} must hold integer row indices; got non-integer values."
                )
        else:
            raise TypeError(
                f"{what} must be an integer array of row indices; "
                f"got dtype {arr.dtype}."
            )
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(
            f"{what} must have shape (n_{what}, {width}); got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty; at least one row is needed.")
    arr = arr.astype(np.int64)
    low, high = arr.min(), arr.max()
    if low < 0 or high >= n_samples:
        bad = low if low < 0 else high
        raise ValueError(
            f"{what} refers to row {bad}, outside the {n_samples} rows of X "
            f"(valid indices are 0..{n_samples - 1})."
        )
    return np.ascontiguousarray(arr)


def check_pairs(pairs, pair_labels, n_samples):
    """Validate explicit pairs of row indices and their similar/dissimilar labels.

    Parameters
    ----------
    pairs : array-like of shape (n_pairs, 2)
        Row indices ``(i, j)`` into X.
    pair_labels : array-like of shape (n_pairs,)
        1 (or True) for a similar pair; -1, 0 (or False) for a dissimilar one.
    n_samples : int
        Number of rows of X.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2), int64
    similar : ndarray of shape (n_pairs,), bool
    """
    if pair_labels is None:
        raise ValueError(
            "pair_labels is required with pairs: 1 for a similar pair, "
            "-1 (or 0) for a dissimilar one."
        )
    pairs = _check_index_array(pairs, 2, n_samples, "pairs")
    labels = np.asarray(pair_labels)
    if labels.ndim != 1 or labels.shape[0] != pairs.shape[0]:
        raise ValueError(
            f"pair_labels must have shape ({pairs.shape[0]},), one label per pair; "
            f"got shape {labels.shape}."
        )
    if labels.dtype == object or not np.issubdtype(labels.dtype, np.number):
        if labels.dtype != bool:
            raise TypeError(
                f"pair_labels must be numeric (1 / -1 or 0) or boolean; "
                f"got dtype {labels.dtype}."
            )
    values = set(np.unique(labels).tolist())
    if not values <= {-1, 0, 1, True, False}:
        raise ValueError(
            "pair_labels must be 1 (similar) or -1 / 0 (dissimilar); "
            f"got values {sorted(values - {-1, 0, 1})}."
        )
    similar = labels.astype(np.int64) == 1
    if similar.all() or not similar.any():
        kind = "similar" if similar.all() else "dissimilar"
        raise ValueError(
            f"every pair is {kind}; at least one similar and one dissimilar "
            "pair are needed."
        )
    return pairs, similar


def check_triplets(triplets, n_samples):
    """Validate explicit triplets ``(a, p, n)``: row a is nearer row p than row n.

    Returns an int64 C-contiguous array of shape (n_triplets, 3). A triplet whose
    positive equals its negative carries no information and is rejected.
    """
    triplets = _check_index_array(triplets, 3, n_samples, "triplets")
    same = np.flatnonzero(triplets[:, 1] == triplets[:, 2])
    if same.size:
        raise ValueError(
            f"triplets row {same[0]} has the same positive and negative "
            f"({triplets[same[0], 1]}); a triplet needs two different rows."
        )
    return triplets


def check_array_param(value, shape, name):
    """Validate an array-valued hyper-parameter (for example ``init``)."""
    arr = check_array(value, dtype=np.float64, ensure_2d=True)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got shape {arr.shape}.")
    return arr


def class_members(y, n_classes=None):
    """Row indices of each class of encoded labels ``0..n_classes-1``.

    Returns a list of ``n_classes`` int64 arrays (rows in increasing order), as
    ``check_X_y_classes`` encodes y; ``n_classes`` defaults to ``y.max() + 1``.
    """
    order = np.argsort(y, kind="stable").astype(np.int64)
    counts = np.bincount(y, minlength=0 if n_classes is None else n_classes)
    return np.split(order, np.cumsum(counts)[:-1])
