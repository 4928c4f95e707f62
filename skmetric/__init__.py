"""skmetric: metric learning for the scikit-learn ecosystem.

Estimators learn a distance under which same-class points are close and
different-class points are far; each is a scikit-learn transformer that drops into
a ``Pipeline`` before ``KNeighborsClassifier``. Pair and triplet learners
(:class:`MahalanobisXingPairs`, :class:`skmetric.deep.DeepSiamesePairs`,
:class:`skmetric.deep.DeepTripletTriplets`) learn from side information instead:
their samples are the pairs or triplets themselves.
"""

from ._covariance import Covariance
from ._itml import ITML, ITMLPairs
from ._lfda import LFDA
from ._lmnn import LMNN
from ._lsml import LSML, LSMLQuadruplets
from ._mlkr import MLKR
from ._nca import NCA
from ._rca import RCA, RCAChunks
from ._scml import SCML, SCMLTriplets
from ._sdml import SDML, SDMLPairs
from ._xing import MahalanobisXing
from ._xing_pairs import MahalanobisXingPairs
from .deep import DeepSiamese, DeepTriplet

__version__ = "0.1.0"

__all__ = [
    "Covariance",
    "DeepSiamese",
    "DeepTriplet",
    "ITML",
    "ITMLPairs",
    "LFDA",
    "LMNN",
    "LSML",
    "LSMLQuadruplets",
    "MLKR",
    "MahalanobisXing",
    "MahalanobisXingPairs",
    "NCA",
    "RCA",
    "RCAChunks",
    "SCML",
    "SCMLTriplets",
    "SDML",
    "SDMLPairs",
    "__version__",
]
