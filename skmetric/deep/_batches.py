"""Batches for training: class-balanced (PK) batches, constraint chunks, and the
held-out split of early stopping. All randomness comes from the ``rng`` passed in.
"""

import numpy as np

from .._validation import class_members


def class_batches(members, batch_size, n_samples_per_class, rng):
    """One epoch of batches made of groups of same-class rows ("PK sampling").

    Every class is shuffled and cut into groups of ``n_samples_per_class`` rows
    (the whole class if it is smaller); its last group is topped up with other rows
    of the class, so that every row is seen once per epoch and every group is full.
    The groups of each class are spread evenly over the epoch (group j of a class
    with g groups gets the sort key ``(j + u) / g``, u uniform), and consecutive
    groups form a batch of about ``batch_size`` rows. A batch thus holds several
    classes with several rows each, so mining finds positives and negatives in it;
    a class with many rows may fill several groups of one batch.

    Parameters
    ----------
    members : list of ndarray
        Rows of each class, from :func:`class_members`.
    batch_size : int
    n_samples_per_class : int
    rng : numpy.random.RandomState

    Returns
    -------
    batches : list of ndarray of int64
    """
    groups, keys = [], []
    for rows in members:
        size = min(n_samples_per_class, rows.shape[0])
        rows = rng.permutation(rows)
        remainder = rows.shape[0] % size
        if remainder:
            extra = rng.choice(rows[: rows.shape[0] - remainder], size - remainder,
                               replace=False)
            rows = np.concatenate((rows, extra))
        n_groups = rows.shape[0] // size
        groups.extend(np.split(rows, n_groups))
        keys.append((np.arange(n_groups) + rng.uniform(size=n_groups)) / n_groups)
    order = np.argsort(np.concatenate(keys), kind="stable")
    n_rows = sum(g.shape[0] for g in groups)
    n_batches = max(1, int(round(n_rows / batch_size)))
    return [
        np.concatenate([groups[g] for g in part]).astype(np.int64)
        for part in np.array_split(order, n_batches)
    ]


def constraint_batches(n_constraints, batch_size, rng):
    """One epoch of shuffled chunks of ``batch_size`` constraint rows."""
    order = rng.permutation(n_constraints)
    n_batches = max(1, -(-n_constraints // batch_size))
    return np.array_split(order, n_batches)


def split_classes(y, fraction, rng):
    """Stratified held-out split: about ``fraction`` of each class, keeping at least
    two training rows per class.

    Returns
    -------
    train, validation : ndarray of int64 row indices
    """
    train, validation = [], []
    for rows in class_members(y):
        rows = rng.permutation(rows)
        n_val = min(int(np.floor(fraction * rows.shape[0])), rows.shape[0] - 2)
        n_val = max(n_val, 0)
        validation.append(rows[:n_val])
        train.append(rows[n_val:])
    return (np.sort(np.concatenate(train)).astype(np.int64),
            np.sort(np.concatenate(validation)).astype(np.int64))


def split_constraints(n_constraints, fraction, rng, strata=None):
    """Held-out split of constraint rows, stratified by ``strata`` when given.

    Without strata, ``floor(fraction * n)`` rows are held out (at most n - 1).
    With strata (the kinds of pairs), every stratum of at least two rows holds
    out at least one and keeps at least one, so that both kinds are scored.

    Returns
    -------
    train, validation : ndarray of int64 row indices into the constraints
    """
    stratified = strata is not None
    if not stratified:
        strata = np.zeros(n_constraints, dtype=np.int64)
    train, validation = [], []
    for value in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == value))
        n_val = min(int(np.floor(fraction * rows.shape[0])), rows.shape[0] - 1)
        if stratified:
            n_val = max(n_val, min(1, rows.shape[0] - 1))
        validation.append(rows[:max(n_val, 0)])
        train.append(rows[max(n_val, 0):])
    return (np.sort(np.concatenate(train)).astype(np.int64),
            np.sort(np.concatenate(validation)).astype(np.int64))


def split_held_out_classes(y, fraction, rng):
    """Held-out split by whole classes: no held-out class has a training row.

    ``round(fraction * n_classes)`` classes, but at least 2 (so that the held-out
    rows have classes to tell apart), are drawn at random and held out whole; at
    least 2 classes stay for training.

    Returns
    -------
    train, validation : ndarray of int64 row indices, or None
        None when y has fewer than 4 classes.
    """
    n_classes = int(y.max()) + 1
    n_held = max(2, int(round(fraction * n_classes)))
    if n_classes - n_held < 2:
        return None
    held = rng.permutation(n_classes)[:n_held]
    in_validation = np.isin(y, held)
    return (np.flatnonzero(~in_validation).astype(np.int64),
            np.flatnonzero(in_validation).astype(np.int64))
