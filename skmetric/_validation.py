"""Shared checks on X, y, pairs, triplets and hyper-parameters.

Every estimator validates its input through this module (user-item interactions and
rankings through its sibling ``_validation_interactions.py``), so that the same bad
input gets the same message everywhere, and nothing reaches a numba kernel unchecked.

This is the only module allowed to import private scikit-learn helpers; the test
suite imports them from here and fails loudly if they move.
"""

import functools
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
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
    "check_chunklets",
    "class_members",
    "check_params",
    "check_pair_labels",
    "check_tuples",
    "check_triplets",
    "check_quadruplets",
    "check_X_y_classes",
    "check_X",
]


# Parameter values already found valid, per estimator class: a key of
# (class, ((name, type, value), ...)) for parameters that are all plain
# scalars. The constraint tables are class-level constants, so a set of values
# valid once stays valid; each fit of a small problem then spends microseconds
# here instead of re-running scikit-learn's checker (tens of microseconds).
_VALID_PARAMS = {}
_VALID_PARAMS_SIZE = 4096
_SCALAR_TYPES = (type(None), bool, int, float, str, np.integer, np.floating)


@functools.lru_cache(maxsize=None)
def _param_names(cls):
    """The constructor's parameter names (``get_params``'s keys) of a class."""
    return tuple(cls._get_param_names())


def check_params(estimator):
    """Check every constructor parameter against ``estimator._parameter_constraints``.

    Raises ``InvalidParameterError`` (a subclass of both ``ValueError`` and
    ``TypeError``) naming the parameter, the allowed values and the value given.
    A combination of scalar values (None, bool, int, float, str) that passed once
    for a class is remembered and not checked again; any other value (an array,
    a callable, an object) is checked every time.
    """
    cls = type(estimator)
    if type(estimator).get_params is BaseEstimator.get_params:
        params = {name: getattr(estimator, name) for name in _param_names(cls)}
    else:
        params = estimator.get_params(deep=False)
    key = None
    if all(isinstance(value, _SCALAR_TYPES) for value in params.values()):
        key = (cls, tuple((name, type(value), value)
                          for name, value in params.items()))
        try:
            if key in _VALID_PARAMS:
                return
        except TypeError:  # pragma: no cover - scalars are hashable
            key = None
    validate_parameter_constraints(
        estimator._parameter_constraints, params, caller_name=cls.__name__,
    )
    if key is not None:
        if len(_VALID_PARAMS) >= _VALID_PARAMS_SIZE:
            _VALID_PARAMS.clear()
        _VALID_PARAMS[key] = True


def check_X(estimator, X, *, reset=True, dtype=np.float64):
    """Validate X alone: float64, C-contiguous, finite, 2-D, at least 2 rows on fit.

    Sets ``n_features_in_`` (and ``feature_names_in_``) when ``reset`` is true.
    ``dtype`` may list accepted dtypes (the first is the conversion target), as
    ``transform`` does to keep float32 input in float32.
    Returns a new array whenever a conversion happens; the caller's array is never
    written to, and estimators copy before any in-place step.
    """
    min_samples = 2 if reset else 1
    if _plain_ndarray(estimator, X, dtype, min_samples, reset):
        _set_or_check_width(estimator, X, reset)
        return X
    return validate_data(
        estimator,
        X,
        reset=reset,
        dtype=dtype,
        order="C",
        ensure_min_samples=min_samples,
    )


def _plain_ndarray(estimator, X, dtype, min_samples, reset):
    """Whether ``check_array`` would return X itself, untouched and unwarned.

    True for a NumPy array (not a subclass, not a frame) of an accepted dtype,
    2-D, C-contiguous, with at least ``min_samples`` rows and one column, every
    value finite (a finite sum implies it), and, when ``reset`` is false, the
    fitted width and no fitted feature names. Anything else, valid or not,
    goes through scikit-learn's ``validate_data``, which converts it or raises
    its usual error: this is the common path made cheap, not another check.
    """
    if type(X) is not np.ndarray or X.ndim != 2 or not X.flags.c_contiguous:
        return False
    accepted = dtype if isinstance(dtype, (list, tuple)) else (dtype,)
    if X.dtype not in accepted or X.dtype.kind != "f":
        return False
    if X.shape[0] < min_samples or X.shape[1] < 1:
        return False
    if not reset and (hasattr(estimator, "feature_names_in_") or
                      getattr(estimator, "n_features_in_", X.shape[1])
                      != X.shape[1]):
        return False
    with np.errstate(over="ignore"):  # finite values whose sum overflows
        return bool(np.isfinite(X.sum()))


def _set_or_check_width(estimator, X, reset):
    """What ``validate_data`` does to the estimator for a plain array X: on
    reset, record ``n_features_in_`` and forget the feature names of an earlier
    fit (the width was checked by :func:`_plain_ndarray` otherwise)."""
    if reset:
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.n_features_in_ = X.shape[1]


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
    if (_plain_ndarray(estimator, X, np.float64, 2, reset)
            and type(y) is np.ndarray and y.ndim == 1
            and y.shape[0] == X.shape[0] and y.dtype.kind in "iu"):
        # Integer labels in a 1-D array are always 'binary' or 'multiclass'
        # targets: nothing for check_X_y or check_classification_targets to
        # convert or reject.
        _set_or_check_width(estimator, X, reset)
        classes, y_encoded = _encode_integer_labels(y)
        return _checked_classes(estimator, X, classes, y_encoded, min_class_size)
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
    return _checked_classes(estimator, X, classes, y_encoded, min_class_size)


def _encode_integer_labels(y):
    """``np.unique(y, return_inverse=True)`` for a 1-D integer y, by counting
    when the labels are small non-negative integers (a few times faster)."""
    if y.dtype.kind != "i" or y.min() < 0 or y.max() > 4 * y.shape[0] + 64:
        return np.unique(y, return_inverse=True)
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    if present.shape[0] == counts.shape[0]:  # already 0 .. n_classes - 1
        return present.astype(y.dtype), y
    lookup = np.zeros(counts.shape[0], dtype=np.int64)
    lookup[present] = np.arange(present.shape[0])
    return present.astype(y.dtype), lookup[y]


def _checked_classes(estimator, X, classes, y_encoded, min_class_size):
    """Reject a single class or classes below ``min_class_size`` (see
    :func:`check_X_y_classes`); return its three outputs."""
    y_encoded = y_encoded.ravel()
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


def _check_index_array(indices, width, n_samples, what, rows_of="X"):
    """Integer array of shape (m, width) with every entry in [0, n_samples).

    ``n_samples=None`` checks only that the indices are non-negative (a callable
    preprocessor, whose number of rows is unknown).
    """
    arr = np.asarray(indices)
    if arr.dtype == bool:
        # True/False would silently index rows 1 and 0 (a mask is not a row index).
        raise TypeError(
            f"{what} must be an integer array of row indices; got a boolean array "
            "(a mask, not row numbers)."
        )
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
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
    if low < 0 or (n_samples is not None and high >= n_samples):
        bad = low if low < 0 else high
        if n_samples is None:
            where, valid = rows_of, "non-negative"
        else:
            where, valid = f"the {n_samples} rows of {rows_of}", f"0..{n_samples - 1}"
        raise ValueError(
            f"{what} refers to row {bad}, outside {where} (valid indices are "
            f"{valid})."
        )
    return np.ascontiguousarray(arr)


_TUPLE_NAMES = {2: "pairs", 3: "triplets", 4: "quadruplets"}


def check_tuples(estimator, X, width, *, preprocessor=None, reset=True):
    """Validate pairs, triplets or quadruplets, as points or row indices; deduplicate.

    Parameters
    ----------
    estimator : estimator instance
        Receives ``n_features_in_`` (and ``feature_names_in_`` from a named
        preprocessor) when ``reset`` is true; checked against them otherwise.
    X : array-like of shape (n_tuples, width, n_features) or (n_tuples, width)
        Tuples of points, or (with a preprocessor) of row indices.
    width : {2, 3, 4}
        2 for pairs, 3 for triplets, 4 for quadruplets.
    preprocessor : array-like of shape (n_samples, n_features), callable or None
        Feature array indexed by integer tuples, or a callable mapping a 1-D
        int64 array of row indices to the array of their points.
    reset : bool, default=True
        True at fit; False checks the points against the fitted width.

    Returns
    -------
    points : ndarray of shape (n_points, n_features), float64, C-contiguous
        The distinct points of the tuples, each once (identical rows merged).
    tuples : ndarray of shape (n_tuples, width), int64
        Row indices into ``points``.
    """
    what = _TUPLE_NAMES[width]
    if preprocessor is None:
        points, inverse = _distinct_points_of_point_tuples(estimator, X, width,
                                                           reset)
    else:
        if callable(preprocessor):
            tuples = _check_index_array(X, width, None, what, "the preprocessor")
            _check_roles_of_rows(tuples, width)
            used, inverse = np.unique(tuples, return_inverse=True)
            points = np.asarray(preprocessor(used))
            if points.ndim != 2 or points.shape[0] != used.shape[0]:
                raise ValueError(
                    f"preprocessor must map {used.shape[0]} row indices to an "
                    f"array of shape ({used.shape[0]}, n_features); got shape "
                    f"{points.shape}."
                )
            points = check_X(estimator, points, reset=reset)
        else:
            table = check_X(estimator, preprocessor, reset=reset)
            tuples = _check_index_array(X, width, table.shape[0], what,
                                        "the preprocessor")
            _check_roles_of_rows(tuples, width)
            used, inverse = np.unique(tuples, return_inverse=True)
            points = table[used]
        points, merged = np.unique(points + 0.0, axis=0, return_inverse=True)
        inverse = merged.ravel()[inverse.ravel()]
    tuples = inverse.reshape(-1, width).astype(np.int64)
    if width == 3 and preprocessor is None:
        # Points are told apart by their values; rows of a preprocessor by their
        # index (checked above), so two equal rows may be anchor and positive.
        _check_triplet_roles(tuples, "point")
    elif width == 3:
        # ... but an anchor equal in value to its negative can never be nearer its
        # positive, whichever rows hold the two.
        _check_triplet_roles(tuples, "point", roles=((0, 2, "anchor and negative"),))
    elif width == 4 and preprocessor is None:
        _check_quadruplet_roles(tuples, "point")
    return np.ascontiguousarray(points, dtype=np.float64), tuples


def _distinct_points_of_point_tuples(estimator, X, width, reset):
    """Distinct rows of tuples of points ``(n_tuples, width, n_features)``."""
    what = _TUPLE_NAMES[width]
    shape = getattr(X, "shape", None) or np.shape(X)
    if len(shape) == 2 and shape[1] == width and np.issubdtype(
        np.asarray(X).dtype, np.integer
    ):
        raise ValueError(
            f"X holds {what} of row indices, shape {tuple(shape)}, but preprocessor "
            f"is None: give the feature array as {type(estimator).__name__}("
            f"preprocessor=X_points), or pass the {what} as points, of shape "
            f"(n_{what}, {width}, n_features)."
        )
    X = check_array(X, dtype=np.float64, allow_nd=True, ensure_2d=False,
                    ensure_min_samples=0, input_name="X")
    if X.ndim != 3 or X.shape[1] != width or X.shape[2] == 0:
        raise ValueError(
            f"X must hold {what} of points, of shape (n_{what}, {width}, "
            f"n_features), or {what} of row indices, of shape (n_{what}, {width}), "
            f"with a preprocessor; got shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"X is empty; at least one of the {what} is needed.")
    points, inverse = np.unique(X.reshape(-1, X.shape[2]) + 0.0, axis=0,
                                return_inverse=True)
    if reset:
        # Validating the 2-D distinct points sets n_features_in_ and forgets the
        # feature names of an earlier fit.
        points = check_X(estimator, points, reset=True)
    else:
        check_X(estimator, points[:1], reset=False)
    return points, inverse.ravel()


def check_pair_labels(y, n_pairs):
    """Validate the labels of pairs: 1 (or True) similar; -1, 0 (or False) not.

    Returns
    -------
    similar : ndarray of shape (n_pairs,), bool
    """
    if y is None:
        raise ValueError(
            "y is required with pairs: 1 for a similar pair, -1 for a dissimilar "
            "one."
        )
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n_pairs:
        raise ValueError(
            f"y must have shape ({n_pairs},), one label per pair; "
            f"got shape {labels.shape}."
        )
    if labels.dtype == object or not np.issubdtype(labels.dtype, np.number):
        if labels.dtype != bool:
            raise TypeError(
                f"y must be numeric (1 / -1 or 0) or boolean; got dtype "
                f"{labels.dtype}."
            )
    values = set(np.unique(labels).tolist())
    if not values <= {-1, 0, 1, True, False}:
        raise ValueError(
            "y must be 1 (similar) or -1 / 0 (dissimilar); "
            f"got values {sorted(values - {-1, 0, 1}, key=repr)}."
        )
    similar = labels.astype(np.int64) == 1
    if similar.all() or not similar.any():
        kind = "similar" if similar.all() else "dissimilar"
        raise ValueError(
            f"every pair is {kind}; at least one similar and one dissimilar "
            "pair are needed."
        )
    return similar


def check_triplets(triplets, n_samples, rows_of="X"):
    """Validate triplets ``(a, p, n)`` of row indices: a is nearer p than n.

    Returns an int64 C-contiguous array of shape (n_triplets, 3). A triplet whose
    anchor is its positive, or whose positive is its negative, says nothing; one
    whose anchor is its negative can never hold: all are rejected.
    """
    triplets = _check_index_array(triplets, 3, n_samples, "triplets", rows_of)
    _check_triplet_roles(triplets, "row")
    return triplets


_TRIPLET_ROLES = ((0, 1, "anchor and positive"), (0, 2, "anchor and negative"),
                  (1, 2, "positive and negative"))


def _check_triplet_roles(triplets, unit, roles=_TRIPLET_ROLES):
    """Reject a triplet with the same row (or point) in two of its ``roles``."""
    for first, second, names in roles:
        same = np.flatnonzero(triplets[:, first] == triplets[:, second])
        if same.size:
            which = (f"({triplets[same[0], first]})" if unit == "row"
                     else "(identical points)")
            raise ValueError(
                f"triplets row {same[0]} has the same {names} {which}; a triplet "
                "needs three different points."
            )


def _check_roles_of_rows(tuples, width):
    """Role checks of index tuples (triplets and quadruplets; pairs have none)."""
    if width == 3:
        _check_triplet_roles(tuples, "row")
    elif width == 4:
        _check_quadruplet_roles(tuples, "row")


def check_quadruplets(quadruplets, n_samples, rows_of="X"):
    """Validate quadruplets ``(a, b, c, d)`` of row indices: d(a, b) < d(c, d).

    Returns an int64 C-contiguous array of shape (n_quadruplets, 4). A quadruplet
    whose first pair joins a row to itself says nothing, and one whose second pair
    does can never hold: both are rejected.
    """
    quadruplets = _check_index_array(quadruplets, 4, n_samples, "quadruplets",
                                     rows_of)
    _check_quadruplet_roles(quadruplets, "row")
    return quadruplets


def _check_quadruplet_roles(quadruplets, unit):
    """Reject a quadruplet whose first or second pair joins a point to itself."""
    for first, second, which in ((0, 1, "first"), (2, 3, "second")):
        same = np.flatnonzero(quadruplets[:, first] == quadruplets[:, second])
        if same.size:
            what = (f"({quadruplets[same[0], first]})" if unit == "row"
                    else "(identical points)")
            raise ValueError(
                f"quadruplets row {same[0]} has the same point twice in its {which} "
                f"pair {what}; a quadruplet (a, b, c, d) compares two pairs of "
                "distinct points."
            )


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


def check_frames(frames, name="frames", n_samples=None):
    """Frame numbers: a 1-D array of non-negative integers (integral floats
    accepted), returned as int64; the length must be ``n_samples`` when given."""
    frames = check_array(frames, ensure_2d=False, dtype=None, input_name=name,
                         ensure_min_samples=1)
    if frames.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {frames.shape}.")
    if n_samples is not None and frames.shape[0] != n_samples:
        raise ValueError(f"{name} has {frames.shape[0]} entries; expected "
                         f"{n_samples} (one per row).")
    if frames.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integers; got dtype {frames.dtype}.")
    if frames.dtype.kind == "f" and not np.all(frames == np.round(frames)):
        raise ValueError(f"{name} must hold integers; got non-integral values.")
    frames = frames.astype(np.int64)
    if frames.min() < 0:
        raise ValueError(f"{name} must be non-negative; got {frames.min()} at row "
                         f"{int(np.argmin(frames))}.")
    return frames


def check_groups(groups, name, n_samples):
    """Group labels (sequence or tracklet ids, any hashable values), one per row,
    encoded as int64 codes ``0..k-1`` in sorted order of the values."""
    groups = check_array(groups, ensure_2d=False, dtype=None, input_name=name,
                         ensure_all_finite=True)
    if groups.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {groups.shape}.")
    if groups.shape[0] != n_samples:
        raise ValueError(f"{name} has {groups.shape[0]} entries; expected "
                         f"{n_samples} (one per row).")
    return np.unique(groups, return_inverse=True)[1].astype(np.int64).ravel()


def check_chunklets(estimator, X, *, preprocessor=None, reset=True):
    """Validate chunklets: groups of points known to share a (unknown) class.

    Parameters
    ----------
    estimator : estimator instance
        Receives ``n_features_in_`` when ``reset`` is true.
    X : array-like of shape (n_chunklets, size) or (n_chunklets, size, n_features)
        Row indices into the preprocessor, -1 marking an empty slot (for
        chunklets shorter than ``size``), or the points themselves (every
        chunklet of the same size).
    preprocessor : array-like of shape (n_samples, n_features) or None
        The points that indices refer to.
    reset : bool, default=True

    Returns
    -------
    points : ndarray of shape (n_points, n_features), float64, C-contiguous
        The points of the chunklets, chunklet by chunklet.
    chunk : ndarray of shape (n_points,), int64
        The chunklet of each point, ``0..n_chunklets-1``.
    """
    if preprocessor is not None and np.ndim(X) == 2:
        table = check_X(estimator, preprocessor, reset=reset)
        arr = np.asarray(X)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(
                "chunklets must be an integer array of row indices (-1 for an "
                f"empty slot); got dtype {arr.dtype}."
            )
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"chunklets is empty; got shape {arr.shape}.")
        arr = arr.astype(np.int64)
        if arr.min() < -1 or arr.max() >= table.shape[0]:
            bad = arr.min() if arr.min() < -1 else arr.max()
            raise ValueError(
                f"chunklets refers to row {bad}, outside the {table.shape[0]} rows "
                f"of the preprocessor (valid: 0..{table.shape[0] - 1}, or -1 for an "
                "empty slot)."
            )
        sizes = (arr >= 0).sum(axis=1)
        if np.any(sizes == 0):
            raise ValueError(
                f"chunklet {int(np.flatnonzero(sizes == 0)[0])} has no point (every "
                "slot is -1)."
            )
        used = arr[arr >= 0]
        if np.unique(used).shape[0] < used.shape[0]:
            values, counts = np.unique(used, return_counts=True)
            raise ValueError(
                f"row {int(values[counts > 1][0])} is in more than one chunklet (or "
                "twice in one); chunklets must be disjoint: merge chunklets that "
                "share a point."
            )
        chunk = np.repeat(np.arange(arr.shape[0]), sizes)
        points = table[arr[arr >= 0]]
    else:
        if preprocessor is None and np.ndim(X) == 2:
            raise ValueError(
                f"X holds chunklets of row indices, shape {np.shape(X)}, but "
                f"preprocessor is None: give the points as "
                f"{type(estimator).__name__}(preprocessor=X_points), or pass the "
                "chunklets as points, of shape (n_chunklets, size, n_features)."
            )
        arr = check_array(X, dtype=np.float64, allow_nd=True, ensure_2d=False,
                          ensure_min_samples=0, input_name="X")
        if arr.ndim != 3 or arr.shape[2] == 0:
            raise ValueError(
                "X must hold chunklets of points, of shape (n_chunklets, size, "
                "n_features), or chunklets of row indices, of shape "
                f"(n_chunklets, size), with a preprocessor; got shape {arr.shape}."
            )
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"X is empty; got shape {arr.shape}.")
        points = arr.reshape(-1, arr.shape[2])
        points = check_X(estimator, points, reset=reset) if reset else \
            check_X(estimator, points, reset=False)
        chunk = np.repeat(np.arange(arr.shape[0]), arr.shape[1])
    if np.bincount(chunk).max() < 2:
        raise ValueError(
            "every chunklet has a single point; a chunklet needs at least two "
            "points to say anything."
        )
    return np.ascontiguousarray(points, dtype=np.float64), chunk.astype(np.int64)
