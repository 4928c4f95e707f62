"""Splitters that hold out a fraction of each user's interactions.

scikit-learn's own splitters cut the rows of ``X`` without looking at whose they
are, so a user may end up with every interaction on one side. A recommender is
evaluated per user instead: each user keeps part of their interactions for
training and the rest is held out. Both splitters below take interactions ``X``
of shape ``(n_interactions, 2)`` (user, item) and follow scikit-learn's
``split(X, y=None, groups=None)`` protocol, so they can be passed as ``cv=`` to
``cross_val_score``, ``cross_validate`` and ``GridSearchCV``.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from .._validation_interactions import check_interactions

__all__ = ["UserRandomSplit", "UserTimeSplit"]


def _check_split_params(test_size, min_interactions, n_splits=1):
    if isinstance(test_size, bool) or not isinstance(test_size, (Integral, Real)):
        raise TypeError(
            f"test_size must be a float in (0, 1) or a positive int; got "
            f"{test_size!r}."
        )
    if isinstance(test_size, Integral):
        if test_size < 1:
            raise ValueError(
                f"test_size as an int is the number of interactions held out per "
                f"user and must be at least 1; got {test_size}."
            )
    elif not 0.0 < test_size < 1.0:
        raise ValueError(
            f"test_size as a float is each user's held-out fraction and must lie "
            f"in (0, 1); got {test_size!r}."
        )
    if isinstance(min_interactions, bool) or not isinstance(
            min_interactions, Integral) or min_interactions < 2:
        raise ValueError(
            f"min_interactions must be an integer of at least 2 (one interaction "
            f"on each side); got {min_interactions!r}."
        )
    if isinstance(n_splits, bool) or not isinstance(n_splits, Integral) or (
            n_splits < 1):
        raise ValueError(f"n_splits must be a positive integer; got {n_splits!r}.")


def _n_test_per_user(counts, test_size, min_interactions):
    """Held-out interactions of each user: the fraction rounded half up, at least
    one and at most all but one; none for users below ``min_interactions``."""
    if isinstance(test_size, Integral):
        n_test = np.full(counts.shape, int(test_size), dtype=np.int64)
    else:
        n_test = np.floor(counts * float(test_size) + 0.5).astype(np.int64)
    n_test = np.clip(n_test, 1, np.maximum(counts - 1, 1))
    return np.where(counts >= min_interactions, n_test, 0)


def _held_out(users, order, test_size, min_interactions, from_end):
    """Boolean mask of held-out rows, given each user's rows in ``order``.

    ``order`` lists the rows grouped by user (users ascending), each user's rows
    in the order in which they are held out last (``from_end``) or first.
    """
    counts = np.bincount(users)
    n_test = _n_test_per_user(counts, test_size, min_interactions)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_users = users[order]
    position = np.arange(order.shape[0]) - starts[sorted_users]
    if from_end:
        chosen = position >= counts[sorted_users] - n_test[sorted_users]
    else:
        chosen = position < n_test[sorted_users]
    test = np.zeros(users.shape[0], dtype=bool)
    test[order[chosen]] = True
    return test


def _indices(test):
    return np.flatnonzero(~test), np.flatnonzero(test)


class UserRandomSplit:
    """Hold out a random fraction of each user's interactions.

    Every user with at least ``min_interactions`` interactions gets
    ``round(test_size * n_user)`` of them (half up, at least 1 and at most
    ``n_user - 1``) drawn at random into the test part, the rest into the training
    part; users with fewer interactions stay entirely in training. Each of the
    ``n_splits`` splits is drawn independently, as ``ShuffleSplit`` does, so test
    parts of different splits may overlap.

    Parameters
    ----------
    test_size : float in (0, 1) or int, default=0.2
        Each user's held-out fraction, or (an int) the number of interactions
        held out per user.
    n_splits : int, default=5
        Number of independent splits.
    min_interactions : int, default=2
        Users with fewer interactions are never held out.
    random_state : int, RandomState instance or None, default=None
        An int gives the same splits at every call of ``split``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import UserRandomSplit
    >>> X = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0], [1, 2]])
    >>> train, test = next(UserRandomSplit(n_splits=1, random_state=0).split(X))
    >>> len(train), len(test)  # one of user 0's five, one of user 1's two
    (5, 2)
    """

    def __init__(self, test_size=0.2, *, n_splits=5, min_interactions=2,
                 random_state=None):
        self.test_size = test_size
        self.n_splits = n_splits
        self.min_interactions = min_interactions
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate ``(train, test)`` row indices of X, both sorted.

        Parameters
        ----------
        X : array-like of shape (n_interactions, 2)
            ``(user, item)`` integer ids.
        y, groups : ignored
            Present for scikit-learn's splitter protocol.

        Yields
        ------
        train, test : ndarray of int64
        """
        _check_split_params(self.test_size, self.min_interactions, self.n_splits)
        users = check_interactions(X)[:, 0]
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            order = np.lexsort((rng.random(users.shape[0]), users))
            yield _indices(_held_out(users, order, self.test_size,
                                     self.min_interactions, from_end=False))

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits, ``n_splits``."""
        return self.n_splits

    def __repr__(self):
        return (f"UserRandomSplit(test_size={self.test_size!r}, n_splits="
                f"{self.n_splits!r}, min_interactions={self.min_interactions!r}, "
                f"random_state={self.random_state!r})")


class UserTimeSplit:
    """Hold out each user's latest interactions, by timestamp.

    The timestamps come in as ``groups`` (scikit-learn routes ``groups`` to the
    splitter only, so ``GridSearchCV(...).fit(X, groups=timestamps)`` and
    ``cross_val_score(..., groups=timestamps)`` work without the estimator
    seeing them). Every user with at least ``min_interactions`` interactions
    gets their latest ``round(test_size * n_user)`` (half up, at least 1 and at
    most ``n_user - 1``) in the test part, so each test interaction is at least
    as recent as each training interaction of the same user. Equal timestamps
    are ordered by row, a later row counting as later. One split.

    Parameters
    ----------
    test_size : float in (0, 1) or int, default=0.2
        Each user's held-out fraction, or (an int) the number of latest
        interactions held out per user (1 for leave-last-one-out).
    min_interactions : int, default=2
        Users with fewer interactions are never held out.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import UserTimeSplit
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [0, 2], [1, 1]])
    >>> timestamps = np.array([10, 30, 5, 20, 1])
    >>> train, test = next(UserTimeSplit(test_size=1).split(X, groups=timestamps))
    >>> test  # user 0's item 1 (time 30), user 1's item 0 (time 5)
    array([1, 2])
    """

    def __init__(self, test_size=0.2, *, min_interactions=2):
        self.test_size = test_size
        self.min_interactions = min_interactions

    def split(self, X, y=None, groups=None):
        """Generate the one ``(train, test)`` pair of sorted row indices of X.

        Parameters
        ----------
        X : array-like of shape (n_interactions, 2)
            ``(user, item)`` integer ids.
        y : ignored
        groups : array-like of shape (n_interactions,)
            The timestamp of each interaction (numbers or ``datetime64``).

        Yields
        ------
        train, test : ndarray of int64
        """
        _check_split_params(self.test_size, self.min_interactions)
        users = check_interactions(X)[:, 0]
        times = _check_timestamps(groups, users.shape[0])
        order = np.lexsort((np.arange(users.shape[0]), times, users))
        yield _indices(_held_out(users, order, self.test_size,
                                 self.min_interactions, from_end=True))

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits: 1."""
        return 1

    def __repr__(self):
        return (f"UserTimeSplit(test_size={self.test_size!r}, "
                f"min_interactions={self.min_interactions!r})")


def _check_timestamps(groups, n_interactions):
    if groups is None:
        raise ValueError(
            "UserTimeSplit needs the timestamp of each interaction as groups: "
            "split(X, groups=timestamps), or fit(X, groups=timestamps) in "
            "GridSearchCV / cross_val_score(..., groups=timestamps)."
        )
    times = np.asarray(groups)
    if np.issubdtype(times.dtype, np.datetime64):
        if np.any(np.isnat(times)):
            raise ValueError("groups (timestamps) holds NaT.")
        times = times.astype("datetime64[ns]").astype(np.int64)
    elif times.dtype == bool or not np.issubdtype(times.dtype, np.number):
        raise TypeError(
            f"groups must hold the timestamps as numbers or datetime64; got dtype "
            f"{times.dtype}."
        )
    if times.ndim != 1 or times.shape[0] != n_interactions:
        raise ValueError(
            f"groups must hold one timestamp per interaction, shape "
            f"({n_interactions},); got shape {times.shape}."
        )
    if np.issubdtype(times.dtype, np.floating) and not np.all(np.isfinite(times)):
        raise ValueError("groups (timestamps) holds NaN or infinity.")
    return times

