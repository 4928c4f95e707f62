"""Neural metric learning: non-linear embeddings in NumPy and numba.

:class:`DeepSiamese` (contrastive loss on pairs) and :class:`DeepTriplet` (triplet
loss with online mining) train a multi-layer perceptron embedding and are
scikit-learn transformers: put one before ``KNeighborsClassifier`` in a Pipeline.
:class:`DeepSiamesePairs` and :class:`DeepTripletTriplets` train the same networks
from labelled pairs or from triplets given as the samples, and
:class:`DeepTripletTracklets` from tracklets (negatives mined among the tracklets
seen at the same time).
"""

from ._base import EmbeddingCollapseWarning
from ._siamese import DeepSiamese
from ._tracklets import DeepTripletTracklets
from ._triplet import DeepTriplet
from ._tuples import DeepSiamesePairs, DeepTripletTriplets

__all__ = [
    "DeepSiamese",
    "DeepSiamesePairs",
    "DeepTriplet",
    "DeepTripletTracklets",
    "DeepTripletTriplets",
    "EmbeddingCollapseWarning",
]
