"""Constraint builders: pairs and triplets of row indices for the pair and
triplet learners, from class labels, from sequences of frames, and from
tracklets.

The builders return index tuples into the rows of X, the samples that
:class:`~skmetric.MahalanobisXingPairs`, :class:`~skmetric.deep.DeepSiamesePairs`
and :class:`~skmetric.deep.DeepTripletTriplets` take with ``preprocessor=X``,
so that ``cross_val_score`` and ``GridSearchCV`` split constraints. Each is
seeded (``random_state``), bounded in size (``n_pairs`` / ``n_triplets``) and
samples uniformly without replacement among the valid tuples it describes.

- :func:`pairs_from_labels`, :func:`triplets_from_labels`: same class / other
  class;
- :func:`pairs_from_sequence`, :func:`triplets_from_sequence`: frames within
  ``positive_window`` of each other / at least ``negative_window`` apart or from
  another sequence (a frame is more alike to its neighbours than to far frames);
- :func:`pairs_from_tracklets`, :func:`triplets_from_tracklets`: rows of one
  tracklet / rows of two tracklets seen in the same frame (certainly different
  objects); tracklets that never meet are never paired, as they may be one
  object.

Examples
--------
>>> import numpy as np
>>> from skmetric.constraints import triplets_from_sequence
>>> from skmetric.deep import DeepTripletTriplets
>>> angle = 0.3 * np.arange(200)
>>> X = np.column_stack((np.cos(angle), np.sin(angle)))
>>> triplets = triplets_from_sequence(np.arange(200), 2000, random_state=0)
>>> model = DeepTripletTriplets(2, hidden_layer_sizes=(16,), tol=0.05,
...                             n_iter_no_change=2, preprocessor=X,
...                             random_state=0)
>>> model.fit(triplets).transform(X).shape
(200, 2)
"""

from ._constraints import (
    pairs_from_labels,
    pairs_from_sequence,
    pairs_from_tracklets,
    triplets_from_labels,
    triplets_from_sequence,
    triplets_from_tracklets,
)

__all__ = [
    "pairs_from_labels",
    "pairs_from_sequence",
    "pairs_from_tracklets",
    "triplets_from_labels",
    "triplets_from_sequence",
    "triplets_from_tracklets",
]
