"""Retrieval metrics on embeddings, and scorers for transformer pipelines.

Metric learning is also judged as retrieval: each query ranks the reference points by
distance, and a good metric puts the query's own class first. The definitions follow
Musgrave, Belongie & Lim, "A Metric Learning Reality Check" (ECCV 2020):

- ``R`` of a query is the number of reference points of its class (the query itself
  excluded when the queries are the references: leave-one-out);
- precision@k is the fraction of the k nearest references that share its class;
- R-precision is precision@R;
- MAP@R is ``(1/R) sum_{i=1}^{R} P(i) [rank i is of the query's class]`` with P(i)
  the precision at i: like R-precision, but rewarding correct results ranked first;
- kNN accuracy is the accuracy of the majority vote of the k nearest references
  (ties between classes go to the class whose nearest member ranks first).

Ranks are by Euclidean distance in the embedding, ties broken by the reference's
row order. Queries whose class has no other reference (R = 0) cannot be scored and
are left out of the mean; if no query can be scored a ``ValueError`` says so.

Distances are computed block by block through BLAS, so memory stays bounded for any
number of points: about 64 MiB of distances and ranks at a time.
"""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length

from ._kernels import sq_dist_row_blocks

__all__ = [
    "knn_accuracy",
    "map_at_r",
    "precision_at_k",
    "r_precision",
    "retrieval_scores",
    "RetrievalScorer",
    "map_at_r_scorer",
    "r_precision_scorer",
    "precision_at_1_scorer",
    "knn_accuracy_scorer",
]


def _check_retrieval_input(X, y, X_ref, y_ref):
    X = check_array(X, dtype=np.float64, order="C")
    y = np.asarray(y)
    check_consistent_length(X, y)
    check_classification_targets(y)
    if (X_ref is None) != (y_ref is None):
        raise ValueError("X_ref and y_ref must be given together, or neither.")
    if X_ref is None:
        if X.shape[0] < 2:
            raise ValueError(
                "leave-one-out retrieval needs at least 2 points; got "
                f"{X.shape[0]}."
            )
        return X, y, X, y, True
    X_ref = check_array(X_ref, dtype=np.float64, order="C")
    y_ref = np.asarray(y_ref)
    check_consistent_length(X_ref, y_ref)
    if X_ref.shape[1] != X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but X_ref has {X_ref.shape[1]}."
        )
    return X, y, X_ref, y_ref, False


def _ranked_matches(X, y, X_ref, y_ref, leave_one_out, depth):
    """Yield ``(start, stop, matches, labels)`` per block of queries.

    ``matches[q, r]`` is True where the r-th nearest reference of query ``start + q``
    has its class, ``labels[q, r]`` is that reference's label; both have ``depth``
    columns (or fewer if there are fewer references).
    """
    # Distances are translation invariant but the expansion |a|^2 + |b|^2 - 2 a.b
    # is not: far from the origin it cancels catastrophically. Both sides are
    # moved first (the same array in leave-one-out) by a per-column median of the
    # references that is one of their values, so that the differences are exact
    # for points on a grid (integers) or near the centre, and exact ties survive.
    middle = (X_ref.shape[0] - 1) // 2
    centre = np.partition(X_ref, middle, axis=0)[middle]
    centred_ref = X_ref - centre
    X = centred_ref if X is X_ref else X - centre
    X_ref = centred_ref
    for start, stop, dists in sq_dist_row_blocks(X, X_ref, 2**22):
        if leave_one_out:
            rows = np.arange(stop - start)
            dists[rows, rows + start] = np.inf
        keep = min(depth, X_ref.shape[0] - int(leave_one_out))
        labels = y_ref[_nearest(dists, keep)]
        yield start, stop, labels == y[start:stop, None], labels


def _nearest(dists, keep):
    """Column indices of the ``keep`` smallest entries of each row, in order.

    The same as ``np.argsort(dists, axis=1, kind="stable")[:, :keep]`` (ties by
    column order), at a lower cost: a partial sort when ``keep`` is below two
    thirds of the columns (the rows whose ``keep``-th smallest value is tied with
    a value left out fall back to the full sort), and an unstable sort whose rows
    with a tie among the values kept are sorted again, stably.
    """
    n_cols = dists.shape[1]
    if keep >= n_cols or 3 * keep > 2 * n_cols:
        return _stable_argsort(dists, keep)
    part = np.argpartition(dists, keep - 1, axis=1)[:, :keep]
    part.sort(axis=1)  # column order first, so that the stable sort breaks ties
    values = np.take_along_axis(dists, part, axis=1)
    order = np.take_along_axis(part, _stable_argsort(values, keep), axis=1)
    kth = values.max(axis=1)
    tied = np.count_nonzero(dists <= kth[:, None], axis=1) > keep
    if np.any(tied):
        order[tied] = np.argsort(dists[tied], axis=1, kind="stable")[:, :keep]
    return order


def _stable_argsort(values, keep):
    """``np.argsort(values, axis=1, kind="stable")[:, :keep]``, faster.

    Rows sort unstably (the faster sort); a row's first ``keep`` indices are
    then the stable ones unless two of its first ``keep + 1`` sorted values are
    equal, and only such rows are sorted again, stably.
    """
    order = np.argsort(values, axis=1)
    head = np.take_along_axis(values, order[:, : keep + 1], axis=1)
    tied = np.any(head[:, 1:] == head[:, :-1], axis=1)
    if np.any(tied):
        order[tied] = np.argsort(values[tied], axis=1, kind="stable")
    return order[:, :keep]


def _class_counts(y, y_ref, leave_one_out):
    """R of every query: references of its class, itself excluded in leave-one-out."""
    classes, counts = np.unique(y_ref, return_counts=True)
    position = np.searchsorted(classes, y)
    position = np.minimum(position, classes.shape[0] - 1)
    found = classes[position] == y
    R = np.where(found, counts[position], 0)
    return R - int(leave_one_out)


def _mean_over_scorable(values, R, name):
    scorable = R > 0
    if not np.any(scorable):
        raise ValueError(
            f"{name} needs at least one query whose class has another reference "
            "point; every class here has a single point."
        )
    return float(np.mean(values[scorable]))


def _retrieval_scores(X, y, X_ref, y_ref, statistic):
    X, y, X_ref, y_ref, loo = _check_retrieval_input(X, y, X_ref, y_ref)
    R = _class_counts(y, y_ref, loo)
    depth = max(1, int(R.max()))
    values = np.zeros(X.shape[0])
    for start, stop, matches, _ in _ranked_matches(X, y, X_ref, y_ref, loo, depth):
        values[start:stop] = statistic(matches, R[start:stop])
    return values, R


def _map_at_r_among(X, y, X_other, y_other):
    """MAP@R of the rows of X, leave-one-out, in a gallery of X and X_other.

    Each row of X is a query that ranks every other row of X and every row of
    ``X_other``; R counts the other rows of its class in both. With ``X_other``
    the rows of classes the queries do not have, this scores how well unseen
    classes stay apart from each other and from the seen ones (the early
    stopping of :mod:`skmetric.deep` on held-out classes).

    Parameters
    ----------
    X : ndarray of shape (n_queries, n_components), float64
    y : ndarray of shape (n_queries,)
    X_other : ndarray of shape (n_other, n_components), float64
    y_other : ndarray of shape (n_other,)

    Returns
    -------
    score : float
    """
    X_ref = np.ascontiguousarray(np.vstack((X, X_other)), dtype=np.float64)
    y_ref = np.concatenate((y, y_other))
    R = _class_counts(y, y_ref, True)
    depth = max(1, int(R.max()))
    values = np.zeros(X.shape[0])
    for start, stop, matches, _ in _ranked_matches(X, y, X_ref, y_ref, True, depth):
        values[start:stop] = _map_at_r_rows(matches, R[start:stop])
    return _mean_over_scorable(values, R, "map_at_r")


def _map_at_r_rows(matches, R):
    ranks = np.arange(1, matches.shape[1] + 1)
    within = ranks[None, :] <= R[:, None]
    hits = matches & within
    precision = np.cumsum(hits, axis=1) / ranks[None, :]
    safe_R = np.maximum(R, 1)
    return np.where(hits, precision, 0.0).sum(axis=1) / safe_R


def _r_precision_rows(matches, R):
    ranks = np.arange(1, matches.shape[1] + 1)
    hits = matches & (ranks[None, :] <= R[:, None])
    return hits.sum(axis=1) / np.maximum(R, 1)


def map_at_r(X, y, *, X_ref=None, y_ref=None):
    """Mean average precision at R (MAP@R) of the rows of X as queries.

    Parameters
    ----------
    X : array-like of shape (n_queries, n_components)
        Embedded queries (for example ``estimator.transform(X_test)``).
    y : array-like of shape (n_queries,)
        Their class labels.
    X_ref, y_ref : array-like of shape (n_references, n_components) and
        (n_references,), default=None
        The reference set ranked for each query. None: leave-one-out within X.

    Returns
    -------
    score : float
        In [0, 1]; 1 when every query's R nearest references are its class-mates.
    """
    values, R = _retrieval_scores(X, y, X_ref, y_ref, _map_at_r_rows)
    return _mean_over_scorable(values, R, "map_at_r")


def r_precision(X, y, *, X_ref=None, y_ref=None):
    """R-precision: the fraction of each query's R nearest references of its class.

    Parameters and returns as :func:`map_at_r`.
    """
    values, R = _retrieval_scores(X, y, X_ref, y_ref, _r_precision_rows)
    return _mean_over_scorable(values, R, "r_precision")


def precision_at_k(X, y, k=1, *, X_ref=None, y_ref=None):
    """Precision@k: the fraction of each query's k nearest references of its class.

    Parameters
    ----------
    X, y, X_ref, y_ref : as :func:`map_at_r`.
    k : int, default=1
        Number of nearest references looked at; at most the number of references
        (less one in leave-one-out).

    Returns
    -------
    score : float
    """
    X, y, X_ref, y_ref, loo = _check_retrieval_input(X, y, X_ref, y_ref)
    available = X_ref.shape[0] - int(loo)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer in [1, {available}]; got {k!r}.")
    R = _class_counts(y, y_ref, loo)
    values = np.zeros(X.shape[0])
    for start, stop, matches, _ in _ranked_matches(X, y, X_ref, y_ref, loo, k):
        values[start:stop] = matches.mean(axis=1)
    return _mean_over_scorable(values, R, "precision_at_k")


def retrieval_scores(X, y, *, k=1, X_ref=None, y_ref=None):
    """MAP@R, R-precision and precision@k from one ranking of the references.

    Equal to :func:`map_at_r`, :func:`r_precision` and :func:`precision_at_k`
    called one by one (the same ranks, ties and left-out queries), at the cost
    of one of them: the distances are computed and ranked once, to the depth
    that the largest of R and k needs.

    Parameters
    ----------
    X, y, X_ref, y_ref : as :func:`map_at_r`.
    k : int, default=1
        Depth of precision@k; at most the number of references (less one in
        leave-one-out).

    Returns
    -------
    scores : dict
        ``{"map_at_r": float, "r_precision": float, "precision_at_k": float}``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric.metrics import retrieval_scores
    >>> X = np.array([[0.0], [0.1], [1.0], [1.2]])
    >>> retrieval_scores(X, [0, 0, 1, 1])
    {'map_at_r': 1.0, 'r_precision': 1.0, 'precision_at_k': 1.0}
    """
    X, y, X_ref, y_ref, loo = _check_retrieval_input(X, y, X_ref, y_ref)
    available = X_ref.shape[0] - int(loo)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer in [1, {available}]; got {k!r}.")
    R = _class_counts(y, y_ref, loo)
    depth = max(1, int(R.max()), int(k))
    values = np.zeros((3, X.shape[0]))
    for start, stop, matches, _ in _ranked_matches(X, y, X_ref, y_ref, loo, depth):
        values[0, start:stop] = _map_at_r_rows(matches, R[start:stop])
        values[1, start:stop] = _r_precision_rows(matches, R[start:stop])
        values[2, start:stop] = matches[:, :k].mean(axis=1)
    names = ("map_at_r", "r_precision", "precision_at_k")
    return {name: _mean_over_scorable(row, R, name)
            for name, row in zip(names, values)}


def knn_accuracy(X, y, n_neighbors=3, *, X_ref=None, y_ref=None):
    """Accuracy of the k-nearest-neighbour majority vote.

    With ``X_ref`` None each point is classified by its k nearest other points
    (leave-one-out). Ties between classes go to the class whose nearest member
    ranks first, so k=1 is plain nearest-neighbour.

    Parameters
    ----------
    X, y, X_ref, y_ref : as :func:`map_at_r`.
    n_neighbors : int, default=3

    Returns
    -------
    accuracy : float
    """
    X, y, X_ref, y_ref, loo = _check_retrieval_input(X, y, X_ref, y_ref)
    available = X_ref.shape[0] - int(loo)
    if not isinstance(n_neighbors, (int, np.integer)) or not (
        1 <= n_neighbors <= available
    ):
        raise ValueError(
            f"n_neighbors must be an integer in [1, {available}]; got {n_neighbors!r}."
        )
    correct = 0
    for start, stop, _, labels in _ranked_matches(
        X, y, X_ref, y_ref, loo, n_neighbors
    ):
        for q in range(stop - start):
            votes = labels[q]
            values, first, counts = np.unique(votes, return_index=True,
                                              return_counts=True)
            best = counts == counts.max()
            winner = values[best][np.argmin(first[best])]
            correct += winner == y[start + q]
    return correct / X.shape[0]


class RetrievalScorer:
    """A scorer ``scorer(estimator, X, y)`` for ``GridSearchCV(scoring=...)``.

    It embeds X with the fitted estimator and scores the embedding by
    leave-one-out retrieval within X, so it works on the held-out fold of a
    cross-validation. The embedding is ``estimator.transform(X)`` for a
    transformer (a metric learner, or a Pipeline ending in one). A Pipeline
    that ends in an estimator without ``transform`` (a classifier such as
    ``KNeighborsClassifier`` after the metric learner) is scored on the
    embedding that its last step receives, ``pipeline[:-1].transform(X)``; so
    ``GridSearchCV(make_pipeline(LMNN(), KNeighborsClassifier()),
    scoring={"accuracy": "accuracy", "map": map_at_r_scorer}, refit="accuracy")``
    reports both.

    Any other estimator without ``transform`` raises a ``TypeError``.
    scikit-learn's ``cross_val_score``, ``cross_validate`` and ``GridSearchCV``
    catch the errors of a scorer when ``error_score`` is a number (NaN by
    default): the score becomes NaN and the error is shown as a
    ``UserWarning`` only. Pass ``error_score='raise'`` to have the error raised.

    Parameters
    ----------
    metric : {'map_at_r', 'r_precision', 'precision_at_k', 'knn_accuracy'}
    **kwargs : dict
        Passed to the metric (``k`` or ``n_neighbors``).
    """

    _METRICS = {
        "map_at_r": map_at_r,
        "r_precision": r_precision,
        "precision_at_k": precision_at_k,
        "knn_accuracy": knn_accuracy,
    }

    def __init__(self, metric, **kwargs):
        if metric not in self._METRICS:
            raise ValueError(
                f"metric must be one of {sorted(self._METRICS)}; got {metric!r}."
            )
        self.metric = metric
        self.kwargs = kwargs

    def __call__(self, estimator, X, y):
        embedding = self._embedding_step(estimator).transform(X)
        return self._METRICS[self.metric](embedding, y, **self.kwargs)

    def _embedding_step(self, estimator):
        """The fitted transformer whose output is scored (see the class notes)."""
        if hasattr(estimator, "transform"):
            return estimator
        if isinstance(estimator, Pipeline) and len(estimator) > 1:
            head = estimator[:-1]
            if hasattr(head, "transform"):
                return head
        raise TypeError(
            f"{self!r} scores an embedding, so it needs a fitted transformer "
            f"(an estimator with a transform method); got "
            f"{type(estimator).__name__}, which has none. Score the metric "
            "learner itself, or a Pipeline of transformers that may end in a "
            "classifier (it is then scored on pipeline[:-1].transform(X)); to "
            "score the embedding step of another classifier pipeline, call the "
            "scorer on that step, for example scorer(pipeline[:-1], X, y)."
        )

    def __repr__(self):
        args = "".join(f", {key}={value!r}" for key, value in self.kwargs.items())
        return f"RetrievalScorer({self.metric!r}{args})"


map_at_r_scorer = RetrievalScorer("map_at_r")
r_precision_scorer = RetrievalScorer("r_precision")
precision_at_1_scorer = RetrievalScorer("precision_at_k", k=1)
knn_accuracy_scorer = RetrievalScorer("knn_accuracy", n_neighbors=3)
