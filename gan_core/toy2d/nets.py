"""The toy's MLP in NumPy with its gradients written out: forward, backward, the input
gradient and its own backward (which WGAN-GP's penalty needs), and spectral normalisation.
tests/test_toy2d.py checks each against TensorFlow's autodiff."""

from __future__ import annotations

import math

import numpy as np

DTYPE = np.float32     # GAN Lab's precision (TensorFlow.js); the tests check the math in float64

# ---------------------------------------------------------------------------------------------
# The MLP: a list of (W, b); hidden layers use the activation, the last layer is linear
# ---------------------------------------------------------------------------------------------

def init_mlp(sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """He-style initialisation; parameters as a flat list [W0, b0, W1, b1, ...], in DTYPE."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
        params += [w.astype(DTYPE), np.zeros(fan_out, DTYPE)]
    return params


def _act(a, kind):
    if kind == "relu":
        return np.maximum(a, 0.0)
    if kind == "leaky_relu":
        return np.where(a > 0, a, 0.2 * a)
    return np.tanh(a)


def _act_grad(a, h, kind):
    """f'(a), given h = f(a)."""
    if kind == "relu":
        return (a > 0).astype(a.dtype)
    if kind == "leaky_relu":
        return np.where(a > 0, 1.0, 0.2).astype(a.dtype)
    return 1.0 - h * h


def _act_grad2(a, h, kind):
    """f''(a): zero for the piecewise-linear activations."""
    if kind == "tanh":
        return -2.0 * h * (1.0 - h * h)
    return np.zeros_like(a)


def forward(params, x, kind):
    """Output (n, out) and the cache the backward passes need: each layer's input and a."""
    cache, h = [], x
    layers = len(params) // 2
    for i in range(layers):
        a = h @ params[2 * i] + params[2 * i + 1]
        cache.append((h, a))
        h = _act(a, kind) if i < layers - 1 else a
    return h, cache


def backward(params, cache, grad_out, kind, wrt=("params", "input")):
    """Gradients of sum(grad_out * output) w.r.t. the parameters and the input (`wrt`: which
    of the two the caller needs; the other comes back as None, and is not computed)."""
    grads = [None] * len(params) if "params" in wrt else None
    g = grad_out
    for i in reversed(range(len(cache))):
        h_in, a = cache[i]
        if grads is not None:
            grads[2 * i] = h_in.T @ g
            grads[2 * i + 1] = g.sum(0)
        if i == 0 and "input" not in wrt:
            return grads, None
        g = g @ params[2 * i].T
        if i > 0:
            prev_a = cache[i - 1][1]
            g = g * _act_grad(prev_a, h_in, kind)
    return grads, g


def input_gradient(params, cache, kind):
    """d out / d x for a one-output MLP, per sample (n, in), and the backward pass's values
    (what gradient_penalty_backward needs to differentiate it once more)."""
    n = cache[0][0].shape[0]
    deltas = []                       # delta_i: d out / d a_i, per layer, last first
    d = np.ones((n, 1), cache[0][1].dtype)   # float64 ones made the whole penalty float64
    for i in reversed(range(len(cache))):
        deltas.append(d)
        e = d @ params[2 * i].T
        if i > 0:
            h_in = cache[i][0]
            d = e * _act_grad(cache[i - 1][1], h_in, kind)
        else:
            d = e
    return d, deltas[::-1]


def gradient_penalty_backward(params, cache, deltas, grad_x_grad, kind):
    """Gradients w.r.t. the parameters of sum(grad_x_grad * (d out / d x)): the backward of
    the backward, which WGAN-GP's penalty on the input gradient's norm needs."""
    layers = len(params) // 2
    grads = [np.zeros_like(p) for p in params]
    # Reverse through the input-gradient computation: g = e_0, e_i = delta_i @ W_i^T,
    # delta_{i-1} = e_i * f'(a_{i-1}).
    d_e = grad_x_grad                         # d/d e_0
    d_a = [np.zeros_like(c[1]) for c in cache]   # gradients reaching each a_i
    for i in range(layers):
        delta = deltas[i]
        grads[2 * i] += d_e.T @ delta         # e_i = delta_i @ W_i^T
        d_delta = d_e @ params[2 * i]
        if i == layers - 1:
            break                             # delta_last = 1: no parameters behind it
        h_next = cache[i + 1][0]              # f(a_i)
        a_i = cache[i][1]
        e_next = deltas[i + 1] @ params[2 * (i + 1)].T
        d_a[i] += d_delta * e_next * _act_grad2(a_i, h_next, kind)
        d_e = d_delta * _act_grad(a_i, h_next, kind)
    # d_a flows back through the forward pass, as in backward().
    g = np.zeros_like(cache[-1][1])
    for i in reversed(range(layers)):
        g = g + d_a[i]
        h_in = cache[i][0]
        grads[2 * i] += h_in.T @ g
        grads[2 * i + 1] += g.sum(0)
        if i > 0:
            g = (g @ params[2 * i].T) * _act_grad(cache[i - 1][1], h_in, kind)
    return grads


# ---------------------------------------------------------------------------------------------
# Spectral normalisation (Miyato et al. 2018): W / sigma(W), sigma by one power iteration a step
# ---------------------------------------------------------------------------------------------

def spectral_normalise(params, us):
    """The weights divided by their top singular value, and what the gradient needs."""
    normed, state = list(params), []
    for i in range(0, len(params), 2):
        w, u = params[i], us[i // 2]
        v = w.T @ u
        v /= np.linalg.norm(v) + 1e-12
        u_new = w @ v
        u_new /= np.linalg.norm(u_new) + 1e-12
        sigma = float(u_new @ w @ v)
        normed[i] = w / sigma
        state.append((u_new, v, sigma))
    return normed, state


def spectral_backward(grads, params, state):
    """dL/dW from G = dL/d(W/sigma), with sigma = u^T W v for the power iteration's u and v:
    (G - lambda u v^T) / sigma, lambda = sum(G * W / sigma) (Miyato et al., eq. 12)."""
    out = list(grads)
    for i in range(0, len(params), 2):
        u, v, sigma = state[i // 2]
        g = grads[i]
        out[i] = (g - (g * params[i] / sigma).sum() * np.outer(u, v)) / sigma
    return out
