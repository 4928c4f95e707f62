"""Neural metric learning: non-linear embeddings in NumPy and numba.

:class:`DeepSiamese` (contrastive loss on pairs) and :class:`DeepTriplet` (triplet
loss with online mining) train a multi-layer perceptron embedding and are
scikit-learn transformers: put one before ``KNeighborsClassifier`` in a Pipeline.
"""

from ._base import EmbeddingCollapseWarning
from ._siamese import DeepSiamese
from ._triplet import DeepTriplet

__all__ = ["DeepSiamese", "DeepTriplet", "EmbeddingCollapseWarning"]
