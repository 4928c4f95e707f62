"""skmetric: metric learning for the scikit-learn ecosystem.

Estimators learn a distance under which same-class points are close and
different-class points are far; each is a scikit-learn transformer that drops into
a ``Pipeline`` before ``KNeighborsClassifier``.
"""

from ._lmnn import LMNN
from ._xing import MahalanobisXing
from .deep import DeepSiamese, DeepTriplet

__version__ = "0.1.0"

__all__ = ["DeepSiamese", "DeepTriplet", "LMNN", "MahalanobisXing", "__version__"]
