"""Pair and triplet learners: the constraints themselves are the samples.

A pair learner's ``X`` holds pairs, of shape ``(n_pairs, 2, n_features)`` (the
points) or ``(n_pairs, 2)`` (row indices into the ``preprocessor`` given to the
constructor), with ``y`` = 1 for a similar pair and -1 for a dissimilar one. A
triplet learner's ``X`` holds triplets ``(a, p, n)``, "a is nearer p than n", in
the same two forms, with no ``y``; a quadruplet learner's ``X`` holds quadruplets
``(a, b, c, d)``, "a and b are nearer than c and d", likewise. scikit-learn's ``cross_val_score``,
``GridSearchCV`` and ``train_test_split`` then split the constraints, and every
fold trains on the points of its own constraints only.

The mixins here give every such learner the same ``decision_function``,
``predict``, ``score`` and, for pairs, ``calibrate_threshold``; the estimator
supplies ``_embed_points`` (the learned map of validated points) and its own
``fit``. ``transform`` of plain 2-D points comes from the estimator's base class.
"""

from numbers import Real

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from ._validation import check_pair_labels, check_tuples

STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


class _TupleLearnerMixin:
    """Validation and embedding of tuples shared by pair and triplet learners."""

    _tuple_width = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The samples are tuples of points (3-D) or of row indices: scikit-learn's
        # generic checks, written for 2-D sample matrices, do not apply (see
        # tests/test_common.py for the ones that are run).
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def _embed_points(self, points):
        """The learned map of validated float64 points (no checks)."""
        raise NotImplementedError

    def _check_tuples(self, X, reset):
        """``(points, tuples)``: distinct points and int64 indices into them.

        Tuples of points (3-D ``X``) are accepted with or without a
        preprocessor; tuples of row indices need one.
        """
        preprocessor = self.preprocessor
        if preprocessor is not None and np.ndim(X) == 3:
            preprocessor = None
        return check_tuples(self, X, self._tuple_width, preprocessor=preprocessor,
                            reset=reset)

    def _tuple_distances(self, X):
        """Learned distances ``d(t[0], t[k])`` for k >= 1, shape (n_tuples, w - 1)."""
        check_is_fitted(self)
        points, tuples = self._check_tuples(X, reset=False)
        embedded = self._embed_points(points)
        first = embedded[tuples[:, 0]]
        return np.column_stack([
            np.sqrt(np.sum((first - embedded[tuples[:, k]]) ** 2, axis=1))
            for k in range(1, tuples.shape[1])
        ])

    def fit_transform(self, X, y=None, **fit_params):
        """Not available: ``fit`` takes tuples, ``transform`` takes points.

        Raises
        ------
        TypeError
            Always; call ``fit(tuples, ...)``, then ``transform(points)``.
        """
        raise TypeError(
            f"{type(self).__name__}.fit takes pairs or triplets and transform takes "
            "plain points (n_samples, n_features), so fit_transform has no single "
            "input; call fit(tuples, ...) and then transform(points)."
        )


class PairLearnerMixin(_TupleLearnerMixin):
    """Methods of a learner whose samples are labelled pairs.

    ``decision_function`` is minus the learned distance of each pair, ``predict``
    thresholds it at ``threshold_`` (+1 similar, -1 dissimilar), ``score`` is the
    ROC AUC, and ``calibrate_threshold`` sets ``threshold_`` on given pairs.
    """

    _tuple_width = 2

    def _check_pairs_and_labels(self, X, y, reset=True):
        points, pairs = self._check_tuples(X, reset=reset)
        similar = check_pair_labels(y, pairs.shape[0])
        return points, pairs, similar

    def _calibrate_on_training_pairs(self, points, pairs, similar):
        """Set ``threshold_`` for accuracy on the training pairs (after fit)."""
        embedded = self._embed_points(points)
        scores = -np.sqrt(np.sum((embedded[pairs[:, 0]] - embedded[pairs[:, 1]])
                                 ** 2, axis=1))
        self.threshold_ = best_threshold(scores, similar, "accuracy")

    def decision_function(self, X):
        """Minus the learned distance of each pair: higher means more alike.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of row indices into the preprocessor.

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return -self._tuple_distances(X)[:, 0]

    def predict(self, X):
        """Predict whether the two points of each pair are similar.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of row indices into the preprocessor.

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,)
            1 where ``decision_function >= threshold_`` (similar), else -1.
        """
        scores = self.decision_function(X)
        return np.where(scores >= self.threshold_, 1, -1)

    def score(self, X, y):
        """ROC AUC of ``decision_function`` for telling similar pairs apart.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of row indices into the preprocessor.
        y : array-like of shape (n_pairs,)
            1 for a similar pair, -1 (or 0) for a dissimilar one; both kinds
            must occur.

        Returns
        -------
        score : float
            Area under the ROC curve, 1 for a perfect ranking, 0.5 for chance.
        """
        scores = self.decision_function(X)
        similar = check_pair_labels(y, scores.shape[0])
        return float(roc_auc_score(similar, scores))

    def calibrate_threshold(self, X, y, *, strategy="accuracy", beta=1.0,
                            min_rate=None):
        """Set ``threshold_``, which ``predict`` applies, from labelled pairs.

        Use pairs held out from ``fit`` (``fit`` itself calibrates for accuracy
        on its training pairs, which are usually easier than new ones).

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of row indices into the preprocessor.
        y : array-like of shape (n_pairs,)
            1 for a similar pair, -1 (or 0) for a dissimilar one.
        strategy : {'accuracy', 'f_beta', 'max_tpr', 'max_tnr'}, default='accuracy'
            What the threshold maximises on these pairs: the accuracy; the
            F-beta score of the similar class; the true positive rate (similar
            pairs called similar) among thresholds whose true negative rate is
            at least ``min_rate``; or the true negative rate among thresholds
            whose true positive rate is at least ``min_rate``.
        beta : float, default=1.0
            Weight of recall against precision for 'f_beta'.
        min_rate : float in [0, 1], default=None
            Required for 'max_tpr' (minimum true negative rate) and 'max_tnr'
            (minimum true positive rate).

        Returns
        -------
        self : object
            The estimator, with ``threshold_`` set.

        Notes
        -----
        Candidate thresholds lie half-way between consecutive distinct scores,
        plus -inf (every pair similar) and +inf (none). Among equally good
        candidates the highest threshold wins; for 'max_tpr' ('max_tnr'),
        among equal rates the one with the higher other rate.
        """
        if strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(map(repr, STRATEGIES))}; got "
                f"{strategy!r}."
            )
        if strategy in ("max_tpr", "max_tnr"):
            if (min_rate is None or not isinstance(min_rate, Real)
                    or not 0.0 <= min_rate <= 1.0):
                raise ValueError(
                    f"strategy={strategy!r} needs min_rate, a number in [0, 1]; "
                    f"got min_rate={min_rate!r}."
                )
        if strategy == "f_beta" and (not isinstance(beta, Real)
                                     or not 0.0 < beta < np.inf):
            raise ValueError(f"beta must be a positive number; got beta={beta!r}.")
        scores = self.decision_function(X)
        similar = check_pair_labels(y, scores.shape[0])
        self.threshold_ = best_threshold(scores, similar, strategy, beta, min_rate)
        return self


def best_threshold(scores, similar, strategy, beta=1.0, min_rate=None):
    """The threshold on ``scores`` (similar when ``score >= threshold``) that is
    best for ``strategy`` on these labelled pairs; see ``calibrate_threshold``.

    Parameters
    ----------
    scores : ndarray of shape (n_pairs,), float
    similar : ndarray of shape (n_pairs,), bool, both kinds present
    strategy : {'accuracy', 'f_beta', 'max_tpr', 'max_tnr'}
    beta : float
    min_rate : float or None

    Returns
    -------
    threshold : float
    """
    order = np.argsort(-scores, kind="stable")
    ranked, positive = scores[order], similar[order]
    n_pairs = ranked.shape[0]
    # Candidate k calls the n_called[k] highest-scoring pairs similar.
    n_called = np.r_[0, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1, n_pairs]
    true_pos = np.r_[0, np.cumsum(positive)][n_called]
    false_pos = n_called - true_pos
    n_pos = int(positive.sum())
    n_neg = n_pairs - n_pos
    tpr = true_pos / n_pos
    tnr = (n_neg - false_pos) / n_neg
    if strategy == "accuracy":
        best = np.argmax(true_pos + (n_neg - false_pos))
    elif strategy == "f_beta":
        weight = beta * beta
        denominator = (1.0 + weight) * true_pos + weight * (n_pos - true_pos) \
            + false_pos
        f_beta = np.where(denominator > 0.0,
                          (1.0 + weight) * true_pos / np.maximum(denominator, 1.0),
                          0.0)
        best = np.argmax(f_beta)
    else:
        rate, other = (tpr, tnr) if strategy == "max_tpr" else (tnr, tpr)
        feasible = np.flatnonzero(other >= min_rate)
        ranking = np.lexsort((other[feasible], rate[feasible]))
        top = feasible[ranking[-1]]
        ties = feasible[(rate[feasible] == rate[top]) & (other[feasible] == other[top])]
        best = ties.min()
    count = n_called[best]
    if count == 0:
        return np.inf
    if count == n_pairs:
        return -np.inf
    low, high = ranked[count], ranked[count - 1]
    return _strictly_between(low, high)


def _strictly_between(low, high):
    """A float in ``(low, high]``, half-way between when it is representable.

    ``low + (high - low) / 2`` rounds to ``low`` when the two are one ulp apart
    (``predict`` would then call the lower pair similar too) and overflows for
    scores of opposite signs near the largest float; ``high`` itself then
    separates them, since a pair is similar when ``score >= threshold``.
    """
    with np.errstate(over="ignore"):
        middle = low + (high - low) / 2.0
    if not np.isfinite(middle):
        middle = low / 2.0 + high / 2.0
    return float(middle if low < middle <= high else high)


class TripletLearnerMixin(_TupleLearnerMixin):
    """Methods of a learner whose samples are triplets ``(a, p, n)``.

    ``decision_function`` is ``d(a, n) - d(a, p)``, positive when the triplet is
    ordered right; ``predict`` gives its sign (+1 or -1); ``score`` is the fraction
    of triplets ordered right.
    """

    _tuple_width = 3

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def decision_function(self, X):
        """How much nearer each anchor is to its positive than to its negative.

        Parameters
        ----------
        X : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets ``(a, p, n)`` of points, or of row indices into the
            preprocessor.

        Returns
        -------
        margins : ndarray of shape (n_triplets,)
            ``d(a, n) - d(a, p)`` in the learned metric.
        """
        distances = self._tuple_distances(X)
        return distances[:, 1] - distances[:, 0]

    def predict(self, X):
        """Predict whether each anchor is nearer its positive than its negative.

        Parameters
        ----------
        X : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)

        Returns
        -------
        y_pred : ndarray of shape (n_triplets,)
            1 where ``d(a, p) < d(a, n)``, else -1.
        """
        return np.where(self.decision_function(X) > 0.0, 1, -1)

    def score(self, X, y=None):
        """Fraction of triplets ordered right: ``d(a, p) < d(a, n)``.

        Parameters
        ----------
        X : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.decision_function(X) > 0.0))


class QuadrupletLearnerMixin(_TupleLearnerMixin):
    """Methods of a learner whose samples are quadruplets ``(a, b, c, d)``.

    Each says that a and b are nearer each other than c and d.
    ``decision_function`` is ``d(c, d) - d(a, b)``, positive when the quadruplet
    is ordered right; ``predict`` gives its sign (+1 or -1); ``score`` is the
    fraction of quadruplets ordered right.
    """

    _tuple_width = 4

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def decision_function(self, X):
        """How much nearer the first pair of each quadruplet is than the second.

        Parameters
        ----------
        X : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)
            Quadruplets ``(a, b, c, d)`` of points, or of row indices into the
            preprocessor.

        Returns
        -------
        margins : ndarray of shape (n_quadruplets,)
            ``d(c, d) - d(a, b)`` in the learned metric.
        """
        check_is_fitted(self)
        points, tuples = self._check_tuples(X, reset=False)
        embedded = self._embed_points(points)

        def distance(first, second):
            diff = embedded[tuples[:, first]] - embedded[tuples[:, second]]
            return np.sqrt(np.sum(diff * diff, axis=1))

        return distance(2, 3) - distance(0, 1)

    def predict(self, X):
        """Predict whether a and b are nearer each other than c and d.

        Parameters
        ----------
        X : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)

        Returns
        -------
        y_pred : ndarray of shape (n_quadruplets,)
            1 where ``d(a, b) < d(c, d)``, else -1.
        """
        return np.where(self.decision_function(X) > 0.0, 1, -1)

    def score(self, X, y=None):
        """Fraction of quadruplets ordered right: ``d(a, b) < d(c, d)``.

        Parameters
        ----------
        X : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.decision_function(X) > 0.0))


def sample_label_quadruplets(y, n_quadruplets, rng):
    """Quadruplets ``(a, b, c, d)`` from labels: (a, b) a similar pair, (c, d) a
    dissimilar one, each drawn as :func:`sample_label_pairs` draws them.

    Returns an int64 array of shape (n_quadruplets, 4).
    """
    similar, dissimilar = sample_label_pairs(y, n_quadruplets, rng)
    return np.ascontiguousarray(np.hstack((similar, dissimilar)), dtype=np.int64)


def sample_label_pairs(y, n_pairs, rng):
    """Sample similar (same class) and dissimilar (other class) pairs of rows.

    The first point of a pair is drawn uniformly among the rows whose class has a
    second member (similar pairs) or among all rows (dissimilar pairs); the second
    uniformly among its class-mates, itself excluded, or among the rows of other
    classes. Pairs are drawn with replacement.

    Parameters
    ----------
    y : ndarray of shape (n_samples,), int64 labels ``0..n_classes-1``
    n_pairs : int
        Number of pairs of each kind.
    rng : numpy.random.RandomState

    Returns
    -------
    similar, dissimilar : ndarray of shape (n_pairs, 2), int64
    """
    order = np.argsort(y, kind="stable")
    counts = np.bincount(y)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    n_samples = y.shape[0]

    anchors = rng.choice(np.flatnonzero(counts[y] >= 2), size=n_pairs)
    cls = y[anchors]
    own_rank = np.empty(n_samples, dtype=np.int64)
    own_rank[order] = np.arange(n_samples) - starts[y[order]]
    offset = rng.randint(0, counts[cls] - 1)
    offset += offset >= own_rank[anchors]
    similar = np.column_stack((anchors, order[starts[cls] + offset]))

    anchors = rng.randint(0, n_samples, size=n_pairs)
    cls = y[anchors]
    position = rng.randint(0, n_samples - counts[cls])
    position += (position >= starts[cls]) * counts[cls]
    dissimilar = np.column_stack((anchors, order[position]))
    return similar.astype(np.int64), dissimilar.astype(np.int64)
