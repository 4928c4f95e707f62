"""Plain-NumPy twins of the kernels in skmetric._kernels, written from the formulas.

Each function has the name of the kernel it checks and is deliberately vectorised
and simple rather than fast.
"""

import numpy as np


def pair_sq_dists(X, left, right):
    return ((X[left] - X[right]) ** 2).sum(axis=1)


def pair_sq_diffs(X, left, right):
    return (X[left] - X[right]) ** 2


def pair_laplacian_matmul(X, left, right, weights):
    n = X.shape[0]
    laplacian = np.zeros((n, n))
    for i, j, w in zip(left, right, weights):
        e = np.zeros(n)
        e[i] += 1.0
        e[j] -= 1.0
        laplacian += w * np.outer(e, e)
    return laplacian @ X


def weighted_outer_sum(X, left, right, weights):
    diffs = X[left] - X[right]
    return (diffs * weights[:, None]).T @ diffs


def pairwise_sq_dists(A, B):
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)
