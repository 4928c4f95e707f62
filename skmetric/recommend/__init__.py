"""Recommendation as metric learning: users and items in one learned space.

The samples are interactions, an integer array ``(n_interactions, 2)`` of
``(user, item)`` ids, so that scikit-learn's splitters, ``cross_val_score`` and
``GridSearchCV`` split interactions as they split rows. This package holds the
top-k metrics and scorers, and splitters that hold out each user's interactions.
"""

from ._cml import CollaborativeMetricLearning

from ._metrics import (
    RecommendationScorer,
    coverage,
    map_at_10_scorer,
    map_at_k,
    ndcg_at_10_scorer,
    ndcg_at_k,
    precision_at_10_scorer,
    precision_at_k,
    recall_at_10_scorer,
    recall_at_k,
    top_k_items,
)
from ._splits import UserRandomSplit, UserTimeSplit

__all__ = [
    "CollaborativeMetricLearning",
    "RecommendationScorer",
    "UserRandomSplit",
    "UserTimeSplit",
    "coverage",
    "map_at_10_scorer",
    "map_at_k",
    "ndcg_at_10_scorer",
    "ndcg_at_k",
    "precision_at_10_scorer",
    "precision_at_k",
    "recall_at_10_scorer",
    "recall_at_k",
    "top_k_items",
]
