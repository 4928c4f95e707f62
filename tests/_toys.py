"""Small synthetic problems with known answers, shared by the estimator tests."""

import numpy as np


def informative_axis_data(n_samples=120, n_noise=4, seed=0):
    """Two classes separated along axis 0 only; the other axes are wide noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_samples // 2)
    informative = y * 2.0 + rng.normal(scale=0.3, size=n_samples)
    noise = rng.normal(scale=3.0, size=(n_samples, n_noise))
    return np.column_stack((informative, noise)), y
