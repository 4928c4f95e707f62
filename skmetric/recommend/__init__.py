"""Recommendation as metric learning: users and items in one learned space.

Samples are interactions, ``X`` of shape ``(n_interactions, 2)`` holding
``(user, item)`` integer ids, so that scikit-learn's splitters and searches split
interactions as they split rows.
"""

from ._cml import CollaborativeMetricLearning

__all__ = ["CollaborativeMetricLearning"]
