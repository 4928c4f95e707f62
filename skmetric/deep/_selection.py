"""Which network a deep fit returns: the held-out data, their scores, the
fall-back network that embeds like the input space, and the choice among the
candidates.

The training loop (``_base.py``) holds data out with :class:`_HeldOutSplitMixin`
and offers the starting network and the network of every epoch to
:class:`_ModelSelection`, which scores them on the held-out data with
:func:`held_out_scores` against :func:`fallback_parameters`.
"""

import numpy as np

from .._threads import map_on_threads
from ..metrics import _map_at_r_among, knn_accuracy, map_at_r
from ._batches import split_classes, split_constraints, split_held_out_classes
from ._network import init_euclidean_skip

# validation='auto' holds out whole classes from this many classes on (2 held out,
# 2 or more to train on). Measured on unseen classes (benchmarks/bench_deep.py
# --open-set), selecting the epoch on held-out classes beats held-out rows of the
# training classes even with 5 training classes.
_MIN_CLASSES_FOR_CLASS_VALIDATION = 4
# Held-out rows of unseen classes ranked at once by the validation score: pieces
# of this many queries run on the fit's threads (see _unseen_map_at_r).
_QUERY_ROWS = 256
# Neighbours of the kNN accuracy that scores held-out rows of the training classes
# (closed-set use), as a KNeighborsClassifier(n_neighbors=3) after the embedding.
_VALIDATION_NEIGHBORS = 3


class _ModelSelection:
    """Which network a fit returns, from its held-out scores.

    Every candidate network (the starting one, then one per epoch) is scored by
    ``score(params)``: ``(merit, guard)``, two tuples of held-out scores (for
    labelled data, rows of the training classes and whole held-out classes; see
    :func:`held_out_scores`). A candidate counts only if it is at least as good as
    the fall-back network on every guard, and among those the best mean merit
    wins; ties, and no candidate counting, keep the fall-back. The fall-back
    embeds like the input space (None: no fall-back, the best mean wins), so
    the fit is never chosen worse than the input space on held-out data, for
    closed-set use (rows of known classes) and unseen classes alike.

    ``offer(params)`` scores a candidate and returns its mean score;
    ``best_trained`` is the best mean offered so far (what early stopping
    watches), ``chosen`` and ``chosen_score`` the parameters and mean score
    selected.
    """

    def __init__(self, fallback, score):
        self._score = score
        self.best_trained = -np.inf
        self.chosen = None
        self.chosen_score = -np.inf
        self._floor = None
        self.fell_back = fallback is not None
        if fallback is not None:
            merit, guard = score(fallback)
            self._floor = tuple(float(part) for part in guard)
            self.chosen = fallback
            self.chosen_score = float(np.mean(merit))

    def offer(self, params):
        merit, guard = self._score(params)
        mean = float(np.mean(merit))
        self.best_trained = max(self.best_trained, mean)
        safe = self._floor is None or all(
            float(part) >= floor for part, floor in zip(guard, self._floor))
        if safe and mean > self.chosen_score:
            self.chosen = [p.copy() for p in params]
            self.chosen_score = mean
            self.fell_back = False
        return mean


def fallback_parameters(coefs, intercepts, train, n_components, normalize):
    """The network that embeds like the input space (see
    :func:`init_euclidean_skip`): the hidden layers of ``coefs`` and
    ``intercepts``, the output layer at zero, the skip path on the principal
    directions of the training rows; returned as the flat parameter list."""
    X = train.X if train.labels is not None else train.X[
        np.unique(train.constraints)]
    skip, bias = init_euclidean_skip(X, n_components, normalize)
    return ([c.copy() for c in coefs[:-1]] + [np.zeros_like(coefs[-1])]
            + [b.copy() for b in intercepts[:-1]] + [bias, skip])


def held_out_scores(embed, train, validation, constraint_score, n_threads=1):
    """Held-out scores (higher is better) of a network: ``(merit, guard)``,
    two tuples.

    Labelled data: the held-out rows of the training classes are retrieved
    among the training rows, their MAP@R is a merit and their kNN accuracy
    (``_VALIDATION_NEIGHBORS`` neighbours, the closed-set use) a guard; the
    rows of the held-out classes are scored by their MAP@R, leave-one-out in
    a gallery of those rows and the training rows (retrieval of classes
    never trained on, among the ones trained on), both a merit and a guard;
    either kind is left out when nothing of it is held out.
    Constraints: ``constraint_score(embedding, constraints, extra)`` of the
    held-out constraints. ``embed(X)`` embeds rows with the network scored
    (block by block, so memory stays O(block * width)); ranking uses a
    partial sort. The unseen classes' rows are ranked in pieces on
    ``n_threads`` threads (see :func:`_unseen_map_at_r`).
    """
    if validation.labels is not None:
        E_train = embed(train.X)
        E_val = embed(validation.X)
        seen = np.isin(validation.labels, train.labels)
        merit, guard = [], []
        if np.any(seen):
            E_seen, y_seen = E_val[seen], validation.labels[seen]
            merit.append(map_at_r(E_seen, y_seen, X_ref=E_train,
                                  y_ref=train.labels))
            guard.append(knn_accuracy(E_seen, y_seen, _VALIDATION_NEIGHBORS,
                                      X_ref=E_train, y_ref=train.labels))
        if not np.all(seen):
            unseen = _unseen_map_at_r(E_val[~seen], validation.labels[~seen],
                                      E_train, train.labels, n_threads)
            merit.append(unseen)
            guard.append(unseen)
        return tuple(merit), tuple(guard)
    rows, local = np.unique(validation.constraints, return_inverse=True)
    local = local.reshape(validation.constraints.shape).astype(np.int64)
    score = constraint_score(embed(validation.X[rows]), local, validation.extra)
    return (score,), (score,)


def _unseen_map_at_r(E, y, E_train, y_train, n_threads):
    """MAP@R of the rows E (labels y), leave-one-out in a gallery of E and
    E_train: :func:`~skmetric.metrics._map_at_r_among`, by pieces of
    ``_QUERY_ROWS`` queries on ``n_threads`` threads.

    Each piece ranks the same gallery (the other rows of E, then E_train) with
    its own queries first, so every query sees the same candidates and R; the
    pieces' means are weighted by their scorable queries (R > 0). The pieces
    do not depend on ``n_threads``, so neither does the score. It equals
    ``_map_at_r_among(E, y, E_train, y_train)`` up to rounding, except where a
    query is exactly as far from two candidates of different classes: such
    ties go by column order, which the pieces change.
    """
    starts = range(0, E.shape[0], _QUERY_ROWS)
    if len(starts) == 1:
        return _map_at_r_among(E, y, E_train, y_train)
    classes, counts = np.unique(np.concatenate((y, y_train)), return_counts=True)
    scorable = counts[np.searchsorted(classes, y)] > 1
    means = np.zeros(len(starts))
    weights = np.array([np.count_nonzero(scorable[start:start + _QUERY_ROWS])
                        for start in starts])
    if not weights.any():  # nothing to score: the error of _map_at_r_among
        return _map_at_r_among(E, y, E_train, y_train)

    def rank_pieces(first, stop):
        for piece in range(first, stop):
            if weights[piece] == 0:
                continue
            rows = slice(starts[piece], starts[piece] + _QUERY_ROWS)
            rest = np.ones(E.shape[0], dtype=bool)
            rest[rows] = False
            means[piece] = _map_at_r_among(
                E[rows], y[rows], np.vstack((E[rest], E_train)),
                np.concatenate((y[rest], y_train)))

    map_on_threads(rank_pieces, len(starts), n_threads)
    return float(np.dot(means, weights) / weights.sum())


def _can_hold_out_kinds(kinds):
    """Whether every kind of pair has the two that early stopping needs."""
    return kinds is None or np.bincount(kinds, minlength=2).min() >= 2


def _check_kinds_to_hold_out(kinds):
    """Early stopping on pairs holds out both kinds: each needs two pairs (one to
    train on, one to score), or the held-out ROC AUC would be undefined."""
    if kinds is None:
        return
    counts = np.bincount(kinds, minlength=2)
    if counts.min() < 2:
        names = ("dissimilar", "similar")
        shown = ", ".join(f"{counts[k]} {names[k]}" for k in (1, 0))
        raise ValueError(
            f"early_stopping holds out similar and dissimilar pairs and needs at "
            f"least 2 of each kind (one to train on, one to score); got {shown}. "
            "Give more pairs or set early_stopping=False."
        )


class _HeldOutSplitMixin:
    """What early stopping holds out (a mixin of the deep estimators' base):
    whole classes, rows of every class, or constraints."""

    def _split(self, data, rng, use):
        if not use:
            return data, None
        if data.labels is not None:
            train, validation = self._split_labelled(data.labels, rng)
            if validation is None:
                return data, None
        else:
            if self.early_stopping == "auto" and not _can_hold_out_kinds(data.extra):
                return data, None  # too few pairs of a kind: the training loss
            _check_kinds_to_hold_out(data.extra)
            train, validation = split_constraints(
                data.constraints.shape[0], self.validation_fraction, rng, data.extra
            )
        if validation.shape[0] == 0 and self.early_stopping == "auto":
            return data, None  # too little data to hold any out: the training loss
        if validation.shape[0] == 0:
            what = ("no point (every class keeps at least 2 training points)"
                    if data.labels is not None else f"none of the "
                    f"{data.constraints.shape[0]} {self._constraint_name}")
            raise ValueError(
                f"validation_fraction={self.validation_fraction} holds out {what}; "
                "raise it or set early_stopping=False."
            )
        return data.subset(train), data.subset(validation)

    def _validation_mode(self, labels):
        """'classes', 'samples' or 'both': how labelled rows are held out."""
        if self.validation != "auto":
            return self.validation
        n_classes = int(labels.max()) + 1
        return ("classes" if n_classes >= _MIN_CLASSES_FOR_CLASS_VALIDATION
                else "samples")

    def _split_labelled(self, labels, rng):
        """Held-out rows of labelled data: ``(train, validation or None)``."""
        mode = self._validation_mode(labels)
        if mode == "samples":
            return split_classes(labels, self.validation_fraction, rng)
        n_classes = int(labels.max()) + 1
        held = split_held_out_classes(labels, self.validation_fraction, rng)
        if held is not None and mode == "both":
            # Whole classes, then rows of every class left for training.
            train, validation = held
            kept, rows = split_classes(labels[train], self.validation_fraction, rng)
            return (train[kept],
                    np.sort(np.concatenate((validation, train[rows]))))
        if held is None:
            if self.early_stopping == "auto":
                return None, None
            raise ValueError(
                f"validation='classes' holds out at least 2 whole classes and trains "
                f"on at least 2; y has {n_classes} classes. Use validation='samples' "
                "or set early_stopping=False."
            )
        return held
