"""What both toy GANs (gan_core.toy, gan_core.toy2d) are made of beyond their networks: the
optimisers and the two activations, in NumPy. Adam is written as Keras 3 writes it, so the
course's preset matches the course's own Keras code step for step (tests/test_toy.py)."""

from __future__ import annotations

import copy
import math

import numpy as np

KERAS_EPSILON = 1e-7        # keras.optimizers.Adam's default


def sigmoid(x):
    x = np.asarray(x)
    return 0.5 * (1.0 + np.tanh(0.5 * (x if x.dtype == np.float32 else x.astype(float))))


def softplus(x):
    """log(1 + e^x), stable for any x (and five times faster than np.logaddexp)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


class Optimizer:
    """Adam or plain SGD ("adam", "sgd") over a list of NumPy arrays, updated in place. Its
    rate and betas may change between steps (the 1-D toy's live settings). The moments are one
    flat vector: a handful of NumPy calls a step instead of a handful per array, with the same
    arithmetic element by element."""

    def __init__(self, kind: str, lr: float, beta_1: float, beta_2: float, params,
                 epsilon: float = KERAS_EPSILON):
        self.kind, self.lr, self.beta_1, self.beta_2 = kind, lr, beta_1, beta_2
        self.epsilon = epsilon
        self.shapes = [np.shape(p) for p in params]
        self.ends = np.cumsum([int(np.prod(s)) for s in self.shapes]).tolist()
        self.m = np.zeros(self.ends[-1], np.result_type(*params))
        self.v = np.zeros(self.ends[-1], np.result_type(*params))
        self.t = 0

    def apply(self, params, grads):
        self.t += 1
        g = np.concatenate([np.ravel(x) for x in grads])
        if self.kind == "sgd":
            update = self.lr * g
        else:
            alpha = self.lr * math.sqrt(1 - self.beta_2 ** self.t) / (1 - self.beta_1 ** self.t)
            m, v = self.m, self.v
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            update = alpha * m / (np.sqrt(v) + self.epsilon)
        start = 0
        for p, shape, end in zip(params, self.shapes, self.ends):
            p -= update[start:end].reshape(shape)
            start = end

    def copy(self) -> Optimizer:
        return copy.deepcopy(self)
