"""Top-k recommendation metrics, a ranking helper and scorers for model selection.

A recommender is judged on held-out interactions: each user receives a ranked list
of items (best first, the items the user had in training left out), and the
metrics ask how many of the user's held-out items that list finds, and how high.

Conventions shared by every metric here:

- ``X_test`` holds the held-out ``(user, item)`` pairs, an integer array of shape
  ``(n_interactions, 2)``; a pair listed twice counts once. The *relevant* items of
  a user are the distinct items of their held-out pairs, ``n_relevant`` of them.
- ``recommended`` has one row per user (row ``r`` for ``users[r]``, by default user
  ``r``), item ids best first; only its first ``k`` columns are read. ``-1`` marks
  an empty slot (a user with fewer than ``k`` candidate items) and never counts
  as a hit. An item may appear at most once among a row's first ``k`` entries.
- Users whose row is given but who have no held-out pair are skipped: they cannot
  be scored. Every user of ``X_test`` needs a row (a ``ValueError`` otherwise),
  and if no user can be scored a ``ValueError`` says so. The score is the
  unweighted mean over the scored users.
- Rankings are given, so the metrics meet no ties. Turning scores into rankings
  is where ties arise: :func:`top_k_items` breaks them by the smaller item id,
  the same rule as the recommenders of :mod:`skmetric.recommend`, so a model and
  an outside method scored through it are ranked alike.

With ``hit_r = 1`` when the item at rank ``r`` (1-based) is relevant:

- recall@k = ``sum_{r<=k} hit_r / n_relevant``;
- precision@k = ``sum_{r<=k} hit_r / k`` (empty slots count as misses);
- NDCG@k = DCG / IDCG with binary gains and the log2 discount,
  ``DCG = sum_{r<=k} hit_r / log2(r + 1)``, and the ideal DCG over
  ``min(k, n_relevant)`` hits, so a perfect list scores 1;
- MAP@k: the mean of ``AP@k = sum_{r<=k} hit_r * precision@r / min(k, n_relevant)``;
- coverage@k: the fraction of the catalogue that appears in at least one user's
  first k entries.
"""

from numbers import Integral

import numpy as np

from .._validation_interactions import check_interactions, check_rankings
from ..metrics import _nearest

__all__ = [
    "RecommendationScorer",
    "coverage",
    "map_at_10_scorer",
    "map_at_k",
    "ndcg_at_10_scorer",
    "ndcg_at_k",
    "precision_at_10_scorer",
    "precision_at_k",
    "recall_at_10_scorer",
    "recall_at_k",
    "top_k_items",
]


def _check_users(users, n_rows, name="users"):
    """Distinct non-negative integer user ids, one per row; default ``0..n_rows-1``."""
    if users is None:
        return np.arange(n_rows, dtype=np.int64)
    arr = np.asarray(users)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer user ids; got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}.")
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries but there are {n_rows} rows; row r "
            "belongs to users[r]."
        )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(
            f"{name} holds the user id {int(arr.min())}; user ids are non-negative."
        )
    distinct, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(
            f"{name} lists user {int(distinct[counts > 1][0])} more than once; give "
            "each user one row."
        )
    return arr


def _rows_of(users, ids):
    """Row of each id in ``users`` (distinct), -1 where the id has no row."""
    if users.shape[0] == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    order = np.argsort(users, kind="stable")
    position = np.minimum(np.searchsorted(users[order], ids), users.shape[0] - 1)
    rows = order[position]
    return np.where(users[rows] == ids, rows, -1)


def _hits(X_test, recommended, users, k):
    """``hits (n_rows, k)`` bool and ``n_relevant (n_rows,)`` int of each row."""
    X_test = check_interactions(X_test, name="X_test")
    top = check_rankings(recommended, k)
    users = _check_users(users, top.shape[0])
    pairs = np.unique(X_test, axis=0)
    rows = _rows_of(users, pairs[:, 0])
    missing = rows < 0
    if np.any(missing):
        lost = np.unique(pairs[missing, 0])
        shown = ", ".join(str(user) for user in lost[:10].tolist())
        raise ValueError(
            f"X_test holds interactions of {lost.shape[0]} user(s) without a row in "
            f"recommended (users {shown}); give every held-out user a ranking, or "
            "leave their interactions out of X_test."
        )
    n_relevant = np.bincount(rows, minlength=top.shape[0])
    width = int(max(pairs[:, 1].max(), top.max(initial=-1))) + 2
    relevant = rows * width + pairs[:, 1]
    listed = np.arange(top.shape[0])[:, None] * width + top
    hits = np.isin(listed, relevant) & (top >= 0)
    return hits, n_relevant


def _mean_over_scored(values, n_relevant, name):
    scored = n_relevant > 0
    if not np.any(scored):
        raise ValueError(
            f"{name} found no user with a held-out interaction among the rows "
            "given; nothing can be scored."
        )
    return float(np.mean(values[scored]))


def _discounts(k):
    return 1.0 / np.log2(np.arange(2, k + 2))


def recall_at_k(X_test, recommended, *, users=None, k=10):
    """Recall@k: the fraction of each user's held-out items found in their top k.

    ``hits / n_relevant`` per user, averaged over the users with at least one
    held-out interaction (conventions in :mod:`skmetric.recommend`'s metrics:
    duplicates count once, -1 is an empty slot).

    Parameters
    ----------
    X_test : array-like of shape (n_interactions, 2)
        Held-out ``(user, item)`` pairs, integer ids.
    recommended : array-like of shape (n_rows, n_recommended)
        Item ids best first, ``n_recommended >= k``; row ``r`` for ``users[r]``.
    users : array-like of shape (n_rows,), default=None
        The user of each row, distinct; None means row ``r`` is user ``r``.
    k : int, default=10
        Length of the list scored.

    Returns
    -------
    score : float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import recall_at_k
    >>> X_test = np.array([[0, 3], [0, 5], [1, 2]])
    >>> recommended = np.array([[3, 1, 2], [0, 1, 4]])
    >>> recall_at_k(X_test, recommended, k=3)  # user 0: 1 of 2, user 1: 0 of 1
    0.25
    """
    hits, n_relevant = _hits(X_test, recommended, users, k)
    values = hits.sum(axis=1) / np.maximum(n_relevant, 1)
    return _mean_over_scored(values, n_relevant, "recall_at_k")


def precision_at_k(X_test, recommended, *, users=None, k=10):
    """Precision@k: the fraction of each user's top k that is held out for them.

    ``hits / k`` per user (an empty slot is a miss), averaged over the users with
    at least one held-out interaction. Parameters as :func:`recall_at_k`.

    Returns
    -------
    score : float
        In [0, 1]; at most ``n_relevant / k`` for a user with few held-out items.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import precision_at_k
    >>> precision_at_k(np.array([[0, 3], [0, 5]]), np.array([[3, 5, 1, 2]]), k=4)
    0.5
    """
    hits, n_relevant = _hits(X_test, recommended, users, k)
    return _mean_over_scored(hits.sum(axis=1) / k, n_relevant, "precision_at_k")


def ndcg_at_k(X_test, recommended, *, users=None, k=10):
    """Normalised discounted cumulative gain at k, with binary gains.

    ``DCG = sum_{r=1}^{k} hit_r / log2(r + 1)`` divided by the ideal DCG, that of
    a list whose first ``min(k, n_relevant)`` entries are all hits; averaged over
    the users with at least one held-out interaction. Parameters as
    :func:`recall_at_k`.

    Returns
    -------
    score : float
        In [0, 1]; 1 when the first ``min(k, n_relevant)`` items are all relevant.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import ndcg_at_k
    >>> round(ndcg_at_k(np.array([[0, 5]]), np.array([[3, 5, 1]]), k=3), 4)
    0.6309
    """
    hits, n_relevant = _hits(X_test, recommended, users, k)
    discounts = _discounts(k)
    ideal = np.cumsum(discounts)[np.clip(np.minimum(n_relevant, k) - 1, 0, None)]
    values = (hits @ discounts) / ideal
    return _mean_over_scored(values, n_relevant, "ndcg_at_k")


def map_at_k(X_test, recommended, *, users=None, k=10):
    """Mean average precision at k.

    ``AP@k = sum_{r=1}^{k} hit_r * precision@r / min(k, n_relevant)`` per user,
    averaged over the users with at least one held-out interaction. Parameters
    as :func:`recall_at_k`.

    Returns
    -------
    score : float
        In [0, 1]; 1 when the first ``min(k, n_relevant)`` items are all relevant.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import map_at_k
    >>> map_at_k(np.array([[0, 5], [0, 1]]), np.array([[3, 5, 1]]), k=3)
    0.5833333333333333
    """
    hits, n_relevant = _hits(X_test, recommended, users, k)
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    values = (precision * hits).sum(axis=1) / np.clip(np.minimum(n_relevant, k),
                                                      1, None)
    return _mean_over_scored(values, n_relevant, "map_at_k")


def coverage(recommended, n_items, *, k=10):
    """Catalogue coverage: the fraction of the items in at least one user's top k.

    Parameters
    ----------
    recommended : array-like of shape (n_rows, n_recommended)
        Item ids best first (-1 for an empty slot), ``n_recommended >= k``.
    n_items : int
        Size of the catalogue; every listed id must be below it.
    k : int, default=10

    Returns
    -------
    score : float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import coverage
    >>> coverage(np.array([[0, 1], [1, 2]]), n_items=8, k=2)
    0.375
    """
    if isinstance(n_items, bool) or not isinstance(n_items, Integral) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer; got {n_items!r}.")
    top = check_rankings(recommended, k)
    listed = np.unique(top[top >= 0])
    if listed.size and listed[-1] >= n_items:
        raise ValueError(
            f"recommended lists the item id {int(listed[-1])}, but n_items={n_items} "
            f"(valid ids are 0..{n_items - 1})."
        )
    return listed.shape[0] / n_items


def top_k_items(scores, k=10, *, exclude=None, users=None):
    """The k best-scored items of each row, ties broken by the smaller item id.

    Turns any model's score matrix (higher is better) into rankings for the
    metrics above, with the same tie rule as :mod:`skmetric.recommend`'s
    recommenders, so that all methods are ranked alike.

    Parameters
    ----------
    scores : array-like of shape (n_rows, n_items)
        Finite scores; row ``r`` belongs to ``users[r]``.
    k : int, default=10
        Length of each list. Rows with fewer than k candidate items (for example
        when ``k > n_items``, or most items are excluded) are padded with -1.
    exclude : array-like of shape (n_interactions, 2), default=None
        ``(user, item)`` pairs never recommended (typically the training
        interactions); pairs of users without a row are ignored.
    users : array-like of shape (n_rows,), default=None
        The user of each row, distinct; None means row ``r`` is user ``r``.

    Returns
    -------
    recommended : ndarray of shape (n_rows, k), int64
        Item ids best first, -1 in empty slots.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.recommend import top_k_items
    >>> scores = np.array([[0.5, 0.9, 0.5, 0.1]])
    >>> top_k_items(scores, k=3, exclude=np.array([[0, 1]]))
    array([[0, 2, 3]])
    """
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")
    scores = np.asarray(scores)
    if scores.dtype == object or not np.issubdtype(scores.dtype, np.number) or (
            scores.dtype == bool):
        raise TypeError(f"scores must be numeric; got dtype {scores.dtype}.")
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(
            f"scores must be 2-D (n_rows, n_items) with at least one item; got "
            f"shape {scores.shape}."
        )
    n_rows, n_items = scores.shape
    users = _check_users(users, n_rows)
    excluded_rows = excluded_items = np.empty(0, dtype=np.int64)
    if exclude is not None:
        exclude = check_interactions(exclude, n_items=n_items, name="exclude",
                                     allow_empty=True)
        rows = _rows_of(users, exclude[:, 0])
        excluded_rows, excluded_items = rows[rows >= 0], exclude[rows >= 0, 1]
    keep = min(k, n_items)
    recommended = np.full((n_rows, k), -1, dtype=np.int64)
    block = max(1, 2**22 // n_items)  # about 32 MiB of float64 at a time
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        costs = -np.asarray(scores[start:stop], dtype=np.float64)
        if not np.all(np.isfinite(costs)):
            raise ValueError("scores must be finite; got NaN or infinity.")
        inside = (excluded_rows >= start) & (excluded_rows < stop)
        costs[excluded_rows[inside] - start, excluded_items[inside]] = np.inf
        order = _nearest(costs, keep)
        chosen = np.take_along_axis(costs, order, axis=1)
        recommended[start:stop, :keep] = np.where(np.isinf(chosen), -1, order)
    return recommended


_METRICS = {
    "recall": recall_at_k,
    "precision": precision_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
}


class RecommendationScorer:
    """A scorer ``scorer(estimator, X_test)`` for ``GridSearchCV(scoring=...)``.

    It asks the fitted recommender for the top k items of every user in the
    held-out interactions ``X_test``, with their training items excluded
    (``estimator.recommend(users, n=k, exclude_seen=True)``), and scores the
    lists against ``X_test`` with the metric. Any estimator with that
    ``recommend`` method works, so interactions split by
    :class:`~skmetric.recommend.UserRandomSplit` or ``KFold`` can be scored.

    Parameters
    ----------
    metric : {'recall', 'precision', 'ndcg', 'map'}
    k : int, default=10

    Examples
    --------
    >>> from skmetric.recommend import RecommendationScorer
    >>> RecommendationScorer("ndcg", k=20)
    RecommendationScorer('ndcg', k=20)
    """

    def __init__(self, metric, k=10):
        if metric not in _METRICS:
            raise ValueError(
                f"metric must be one of {sorted(_METRICS)}; got {metric!r}."
            )
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}.")
        self.metric = metric
        self.k = k

    def __call__(self, estimator, X, y=None, **kwargs):
        if not hasattr(estimator, "recommend"):
            raise TypeError(
                f"{self!r} needs a fitted recommender with a recommend(users, n, "
                f"exclude_seen) method; got {type(estimator).__name__}."
            )
        X = check_interactions(X, name="X")
        users = np.unique(X[:, 0])
        recommended = estimator.recommend(users, n=self.k, exclude_seen=True)
        return _METRICS[self.metric](X, recommended, users=users, k=self.k)

    def __repr__(self):
        return f"RecommendationScorer({self.metric!r}, k={self.k})"


recall_at_10_scorer = RecommendationScorer("recall", k=10)
precision_at_10_scorer = RecommendationScorer("precision", k=10)
ndcg_at_10_scorer = RecommendationScorer("ndcg", k=10)
map_at_10_scorer = RecommendationScorer("map", k=10)
