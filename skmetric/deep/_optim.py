"""Stochastic optimisers: SGD with momentum and Adam, updating parameters in place."""

import numpy as np

# Adam's decay rates and stabiliser (Kingma & Ba 2015), as scikit-learn's MLP.
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8


class SGD:
    """Stochastic gradient descent with (Nesterov) momentum.

    ``v <- momentum * v - lr * g``; then ``p <- p + momentum * v - lr * g``
    (Nesterov) or ``p <- p + v``.

    Parameters
    ----------
    params : list of ndarray
        Updated in place by :meth:`update`.
    learning_rate : float
    momentum : float
    nesterov : bool
    """

    def __init__(self, params, learning_rate, momentum=0.9, nesterov=True):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [np.zeros_like(p) for p in params]

    def update(self, params, grads):
        """Take one step along the gradients."""
        lr, mu = self.learning_rate, self.momentum
        for p, g, v in zip(params, grads, self.velocities):
            v *= mu
            v -= lr * g
            if self.nesterov:
                p += mu * v - lr * g
            else:
                p += v


class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected moment estimates.

    Parameters
    ----------
    params : list of ndarray
        Updated in place by :meth:`update`.
    learning_rate : float
    """

    def __init__(self, params, learning_rate):
        self.learning_rate = learning_rate
        self.t = 0
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]

    def update(self, params, grads):
        """Take one step along the gradients."""
        self.t += 1
        step = (
            self.learning_rate
            * np.sqrt(1.0 - ADAM_BETA_2**self.t)
            / (1.0 - ADAM_BETA_1**self.t)
        )
        for p, g, m, v in zip(params, grads, self.first, self.second):
            m *= ADAM_BETA_1
            m += (1.0 - ADAM_BETA_1) * g
            v *= ADAM_BETA_2
            v += (1.0 - ADAM_BETA_2) * (g * g)
            p -= step * m / (np.sqrt(v) + ADAM_EPSILON)


def make_optimizer(solver, params, learning_rate, momentum):
    """The optimiser named by ``solver`` ('adam' or 'sgd') over ``params``."""
    if solver == "sgd":
        return SGD(params, learning_rate, momentum=momentum)
    return Adam(params, learning_rate)
