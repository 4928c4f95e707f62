"""scikit-learn's estimator checks over every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmetric import MahalanobisXing

# Fast constructor arguments for each public estimator.
ESTIMATORS = [
    MahalanobisXing(max_iter=20, random_state=0),
    MahalanobisXing(diagonal=True, max_iter=20, random_state=0),
]

# Checks expected to fail, each with its reason; empty while none do.
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
