"""scikit-learn's estimator checks over every public estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmetric import LMNN, MahalanobisXing
from skmetric.deep import DeepSiamese, DeepTriplet

# Fast constructor arguments for each public estimator.
ESTIMATORS = [
    MahalanobisXing(max_iter=20, random_state=0),
    MahalanobisXing(diagonal=True, max_iter=20, random_state=0),
    LMNN(max_iter=20, random_state=0),
    LMNN(2, loss="hinge", max_impostors=200, max_iter=20, random_state=0),
    # Deep embeddings: tiny nets, few epochs.
    DeepSiamese(4, hidden_layer_sizes=(8,), batch_size=16, n_samples_per_class=4,
                max_iter=3, random_state=0),
    DeepTriplet(4, hidden_layer_sizes=(8,), batch_size=16, n_samples_per_class=4,
                max_iter=3, random_state=0),
]

# Checks expected to fail, each with its reason; empty while none do.
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
# The checks' data are not standardised (uniform on [0, 3] and the like): a few
# epochs of a tiny network on them may map every row to about the same point.
@pytest.mark.filterwarnings("ignore::skmetric.deep.EmbeddingCollapseWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
