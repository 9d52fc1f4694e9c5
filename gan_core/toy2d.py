"""The Toy GAN in two dimensions: watch mode collapse happen, and watch it cured.

A 1-D bell curve has one mode, so it cannot show the failure learners most need to see. Here G
and D are small MLPs on the plane (GAN Lab's ground), the data can be a mixture of 8 or 25
Gaussians, and the cures are one switch each: WGAN-GP, spectral normalisation of D, unrolled D,
minibatch standard deviation.

Why NumPy, with the gradients written out: a step is a few dozen tiny matrix products, and
Keras' per-call overhead (about a millisecond) would cap training at a few hundred steps per
second; these run thousands. `tests/test_toy2d.py` checks every gradient here, the gradient
penalty's double backward included, against TensorFlow's autodiff.

Sections: configuration and data; the MLP (forward, backward, and the backward of the input
gradient that WGAN-GP needs); spectral normalisation; optimisers; losses; the GAN; metrics.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from . import noise, system
from .toykit import Optimizer, Recent, sigmoid, softplus
from .checks import FieldError, check, finite

system.one_blas_thread()     # tiny matrices: see there

# ---------------------------------------------------------------------------------------------
# Configuration and data
# ---------------------------------------------------------------------------------------------

DATASETS = ("line", "gaussian", "ring", "two_blobs", "mixture8", "grid25", "moons", "drawn")
ACTIVATIONS = ("relu", "leaky_relu", "tanh")
OPTIMIZERS = ("adam", "sgd")
LOSSES = ("log", "least_squares")
NOISES = ("gaussian", "uniform")
CURES = ("none", "wgan_gp", "spectral_norm", "unrolled", "minibatch_std")
MAX_UNITS, MAX_LAYERS, MAX_BATCH, MAX_DRAWN = 256, 6, 4096, 5000


@dataclass(frozen=True)
class Toy2DConfig:
    data: str = "mixture8"
    g_layers: int = 2
    g_units: int = 32
    d_layers: int = 2
    d_units: int = 32
    activation: str = "relu"
    optimizer: str = "adam"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta_1: float = 0.5
    beta_2: float = 0.999
    loss: str = "log"
    d_steps: int = 1            # D steps per G step
    noise_dim: int = 2
    noise: str = "gaussian"
    batch: int = 256
    cure: str = "none"
    gp_weight: float = 0.1      # WGAN-GP's lambda (the paper's 10 is for images; see README)
    unroll: int = 5             # unrolled D's look-ahead steps
    seed: int = 0

    def __post_init__(self):
        check(self.data in DATASETS, "data", f"must be one of {', '.join(DATASETS)}")
        check(self.activation in ACTIVATIONS, "activation",
              f"must be one of {', '.join(ACTIVATIONS)}")
        check(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        check(self.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}")
        check(self.noise in NOISES, "noise", f"must be one of {', '.join(NOISES)}")
        check(self.cure in CURES, "cure", f"must be one of {', '.join(CURES)}")
        for name in ("g_layers", "d_layers"):
            check(1 <= getattr(self, name) <= MAX_LAYERS, name,
                  f"must be between 1 and {MAX_LAYERS}")
        for name in ("g_units", "d_units"):
            check(1 <= getattr(self, name) <= MAX_UNITS, name,
                  f"must be between 1 and {MAX_UNITS:,}")
        check(1 <= self.noise_dim <= 16, "noise_dim", "must be between 1 and 16")
        check(2 <= self.batch <= MAX_BATCH, "batch", f"must be between 2 and {MAX_BATCH:,}")
        check(1 <= self.d_steps <= 20, "d_steps", "must be between 1 and 20")
        check(1 <= self.unroll <= 20, "unroll", "must be between 1 and 20")
        for name in ("lr_g", "lr_d"):
            check(finite(getattr(self, name)) and 0 < getattr(self, name) <= 10, name,
                  "must be more than 0 and at most 10")
        for name in ("beta_1", "beta_2"):
            check(finite(getattr(self, name)) and 0 <= getattr(self, name) < 1, name,
                  "must be at least 0 and less than 1")
        check(finite(self.gp_weight) and 0 <= self.gp_weight <= 100, "gp_weight",
              "must be between 0 and 100")
        check(0 <= self.seed <= noise.MAX_SEED, "seed",
              f"must be between 0 and {noise.MAX_SEED:,}")


def replace(cfg: Toy2DConfig, **changes) -> Toy2DConfig:
    return dataclasses.replace(cfg, **changes)


@functools.lru_cache(maxsize=None)
def mode_centres(name: str) -> tuple[np.ndarray, float] | None:
    """(centres, std) of a dataset made of Gaussian modes, or None for the others. Cached:
    every training step draws from it; callers only read the array."""
    if name == "gaussian":
        return np.zeros((1, 2)), 0.5
    if name == "two_blobs":
        return np.array([[-1.5, 0.0], [1.5, 0.0]]), 0.25
    if name == "mixture8":
        angles = np.arange(8) * (2 * np.pi / 8)
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1), 0.05
    if name == "grid25":
        g = np.arange(-2, 3) * 1.0
        return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), 0.05
    return None


def sample_data(name: str, n: int, rng: np.random.Generator, drawn=None) -> np.ndarray:
    """n points of a dataset, float64 (n, 2), on roughly [-2.5, 2.5]^2."""
    modes = mode_centres(name)
    if modes is not None:
        centres, std = modes
        return centres[rng.integers(len(centres), size=n)] + std * rng.standard_normal((n, 2))
    if name == "line":
        t = rng.uniform(-2, 2, n)
        return np.stack([t, 0.5 * t], 1) + 0.03 * rng.standard_normal((n, 2))
    if name == "ring":
        angle = rng.uniform(0, 2 * np.pi, n)
        radius = 1.5 + 0.05 * rng.standard_normal(n)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    if name == "moons":
        upper = rng.random(n) < 0.5
        t = rng.uniform(0, np.pi, n)
        x = np.where(upper, np.cos(t), 1 - np.cos(t)) - 0.5
        y = np.where(upper, np.sin(t), 0.5 - np.sin(t)) - 0.25
        return 1.5 * np.stack([x, y], 1) + 0.05 * rng.standard_normal((n, 2))
    # drawn: the user's points, with a little jitter so a few clicks are not a few atoms
    points = np.asarray(drawn, float) if drawn is not None else np.zeros((0, 2))
    if points.ndim != 2 or points.shape[1] != 2 or not 1 <= len(points) <= MAX_DRAWN \
            or not np.isfinite(points).all():
        raise ValueError(f"a drawn distribution needs 1 to {MAX_DRAWN:,} points (x, y)")
    return points[rng.integers(len(points), size=n)] + 0.05 * rng.standard_normal((n, 2))


def sample_noise(cfg: Toy2DConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    if cfg.noise == "uniform":
        return rng.uniform(-1, 1, (n, cfg.noise_dim))
    return rng.standard_normal((n, cfg.noise_dim))


# ---------------------------------------------------------------------------------------------
# The MLP: a list of (W, b); hidden layers use the activation, the last layer is linear
# ---------------------------------------------------------------------------------------------

def init_mlp(sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """He-style initialisation; parameters as a flat list [W0, b0, W1, b1, ...]."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in),
                   np.zeros(fan_out)]
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
        return np.where(a > 0, 1.0, 0.2)
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


def backward(params, cache, grad_out, kind):
    """Gradients of sum(grad_out * output) w.r.t. the parameters and the input."""
    grads = [None] * len(params)
    g = grad_out
    for i in reversed(range(len(cache))):
        h_in, a = cache[i]
        grads[2 * i] = h_in.T @ g
        grads[2 * i + 1] = g.sum(0)
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
    d = np.ones((n, 1))
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


# ---------------------------------------------------------------------------------------------
# Losses on D's outputs: (loss, d loss / d out) for D on real and fake, and for G
# ---------------------------------------------------------------------------------------------

def d_loss(kind, out_real, out_fake):
    """D's loss and its gradients w.r.t. D's outputs on real and fake samples."""
    n_r, n_f = len(out_real), len(out_fake)
    if kind == "log":            # cross-entropy on logits
        loss = softplus(-out_real).mean() + softplus(out_fake).mean()
        return loss, -sigmoid(-out_real) / n_r, sigmoid(out_fake) / n_f
    if kind == "least_squares":  # LSGAN, targets 1 and 0
        loss = 0.5 * ((out_real - 1) ** 2).mean() + 0.5 * (out_fake ** 2).mean()
        return loss, (out_real - 1) / n_r, out_fake / n_f
    # wasserstein: D is a critic, real up and fake down
    return out_fake.mean() - out_real.mean(), -np.ones_like(out_real) / n_r, \
        np.ones_like(out_fake) / n_f


def g_loss(kind, out_fake):
    n = len(out_fake)
    if kind == "log":            # non-saturating: -log D(G(z))
        return softplus(-out_fake).mean(), -sigmoid(-out_fake) / n
    if kind == "least_squares":
        return 0.5 * ((out_fake - 1) ** 2).mean(), (out_fake - 1) / n
    return -out_fake.mean(), -np.ones_like(out_fake) / n


# ---------------------------------------------------------------------------------------------
# The GAN: one training step, each cure a switch
# ---------------------------------------------------------------------------------------------

@dataclass
class StepStats:
    d_loss: float
    g_loss: float


class Toy2DGAN:
    def __init__(self, cfg: Toy2DConfig, drawn=None):
        self.cfg = cfg
        self.drawn = None if drawn is None else np.asarray(drawn, float)
        self.rng = np.random.default_rng(cfg.seed)
        sample_data(cfg.data, 1, np.random.default_rng(0), self.drawn)   # check it early
        d_in = 3 if cfg.cure == "minibatch_std" else 2
        self.g = init_mlp([cfg.noise_dim] + [cfg.g_units] * cfg.g_layers + [2], self.rng)
        self.d = init_mlp([d_in] + [cfg.d_units] * cfg.d_layers + [1], self.rng)
        # GAN Lab's Adam (TensorFlow.js: epsilon 1e-8)
        self.g_opt = Optimizer(cfg.optimizer, cfg.lr_g, cfg.beta_1, cfg.beta_2, self.g, 1e-8)
        self.d_opt = Optimizer(cfg.optimizer, cfg.lr_d, cfg.beta_1, cfg.beta_2, self.d, 1e-8)
        self.us = [self.rng.standard_normal(w.shape[0]) for w in self.d[::2]]
        self.steps = 0

    @property
    def loss_kind(self) -> str:
        return "wasserstein" if self.cfg.cure == "wgan_gp" else self.cfg.loss

    # -- D as the cures see it ---------------------------------------------------------------

    def _d_params(self, d):
        """D's effective weights (spectrally normalised when that cure is on) and the state
        the gradient needs to get back to the raw weights."""
        if self.cfg.cure != "spectral_norm":
            return d, None
        return spectral_normalise(d, self.us)

    def _d_input(self, x, spread=None):
        """Minibatch standard deviation: D also sees the batch's spread, so a G that puts
        every sample in one place is caught at once (`spread`: another batch's, for points
        that are not a batch, such as a heat map's grid)."""
        if self.cfg.cure != "minibatch_std":
            return x
        s = x.std(0).mean() if spread is None else spread
        return np.concatenate([x, np.full((len(x), 1), s)], 1)

    def _d_input_backward(self, x, grad_in):
        if self.cfg.cure != "minibatch_std":
            return grad_in
        n = len(x)
        std = x.std(0) + 1e-12
        ds = grad_in[:, 2].sum()
        return grad_in[:, :2] + ds * (x - x.mean(0)) / (n * std) / 2.0

    def discriminate(self, d, x, spread=None):
        """D's output on x (raw: a logit, or a critic's score), and what backward needs."""
        params, sn_state = self._d_params(d)
        inp = self._d_input(x, spread)
        out, cache = forward(params, inp, self.cfg.activation)
        return out, (params, sn_state, inp, cache)

    # -- gradients ---------------------------------------------------------------------------

    def d_gradients(self, d, real, fake):
        """D's loss (with the gradient penalty when that cure is on) and its gradients."""
        kind = self.cfg.activation
        out_r, (params, sn_state, _, cache_r) = self.discriminate(d, real)
        out_f, (_, _, _, cache_f) = self.discriminate(d, fake)
        loss, g_r, g_f = d_loss(self.loss_kind, out_r, out_f)
        grads_r, _ = backward(params, cache_r, g_r, kind)
        grads_f, _ = backward(params, cache_f, g_f, kind)
        grads = [a + b for a, b in zip(grads_r, grads_f)]
        if self.cfg.cure == "wgan_gp":
            t = self.rng.random((len(real), 1))
            mixed = t * real + (1 - t) * fake
            _, cache_m = forward(params, mixed, kind)
            gx, deltas = input_gradient(params, cache_m, kind)
            norm = np.sqrt((gx ** 2).sum(1, keepdims=True) + 1e-12)
            w = self.cfg.gp_weight
            loss += w * ((norm - 1) ** 2).mean()
            d_gx = w * 2 * (norm - 1) / norm * gx / len(real)
            for i, g in enumerate(gradient_penalty_backward(params, cache_m, deltas, d_gx,
                                                            kind)):
                grads[i] = grads[i] + g
        if sn_state is not None:
            grads = spectral_backward(grads, d, sn_state)
            if d is self.d:          # the power iteration carries on from step to step
                self.us = [u for u, _, _ in sn_state]
        return float(loss), grads

    def g_gradients(self, d, z):
        """G's loss and gradients, through D (`d`: the weights G plays against)."""
        kind = self.cfg.activation
        fake, g_cache = forward(self.g, z, kind)
        out, (params, _, _, cache) = self.discriminate(d, fake)
        loss, g_out = g_loss(self.loss_kind, out)
        _, g_in = backward(params, cache, g_out, kind)
        g_fake = self._d_input_backward(fake, g_in)
        grads, _ = backward(self.g, g_cache, g_fake, kind)
        return float(loss), grads

    def step(self) -> StepStats:
        """One G step after cfg.d_steps D steps."""
        for _ in range(self.cfg.d_steps):
            dl = self.step_d()
        return StepStats(dl, self.step_g())

    def step_d(self) -> float:
        """One step of D alone (the page's "step D only"); its loss."""
        cfg = self.cfg
        real = sample_data(cfg.data, cfg.batch, self.rng, self.drawn)
        fake = forward(self.g, sample_noise(cfg, cfg.batch, self.rng), cfg.activation)[0]
        dl, grads = self.d_gradients(self.d, real, fake)
        self.d_opt.apply(self.d, grads)
        self._check(dl)
        return dl

    def step_g(self) -> float:
        """One step of G alone, against D as it is (or as it will be, unrolled); its loss."""
        cfg, rng = self.cfg, self.rng
        z = sample_noise(cfg, cfg.batch, rng)
        d_for_g = self.d
        if cfg.cure == "unrolled":
            # G plays against where D will be after k more steps (Metz et al. 2017), so moving
            # every sample onto the mode D likes now is no longer a winning move. This is the
            # first-order version: the look-ahead D is a constant for G's gradient.
            d_for_g = [p.copy() for p in self.d]
            opt = self.d_opt.copy()
            for _ in range(cfg.unroll):
                real = sample_data(cfg.data, cfg.batch, rng, self.drawn)
                fake = forward(self.g, sample_noise(cfg, cfg.batch, rng), cfg.activation)[0]
                opt.apply(d_for_g, self.d_gradients(d_for_g, real, fake)[1])
        gl, grads = self.g_gradients(d_for_g, z)
        self.g_opt.apply(self.g, grads)
        self.steps += 1
        self._check(gl)
        return gl

    def _check(self, loss):
        values = [loss] + [float(np.abs(p).max()) for p in self.g + self.d]
        if not all(math.isfinite(v) and abs(v) < 1e6 for v in values):
            raise FloatingPointError("training diverged (a loss or weight became NaN, "
                                     "infinite or larger than a million)")

    # -- what the charts show ----------------------------------------------------------------

    def generate(self, z) -> np.ndarray:
        return forward(self.g, z, self.cfg.activation)[0]

    def d_probability(self, points, spread=None) -> np.ndarray:
        """D's belief that each point is real (a critic's score squashed the same way)."""
        out, _ = self.discriminate(self.d, points, spread)
        return sigmoid(out[:, 0])

    def g_arrows(self, z) -> np.ndarray:
        """Where G's next update pushes each generated sample: minus the loss's gradient
        w.r.t. the sample (GAN Lab's arrows)."""
        fake = self.generate(z)
        out, (params, _, _, cache) = self.discriminate(self.d, fake)
        _, g_out = g_loss(self.loss_kind, out)
        _, g_in = backward(params, cache, g_out * len(fake), self.cfg.activation)
        return -self._d_input_backward(fake, g_in)


# ---------------------------------------------------------------------------------------------
# Metrics: modes covered and high-quality samples (Metz et al. 2017), and grid KL / JS
# ---------------------------------------------------------------------------------------------

MODE_SHARE = 0.008     # a mode counts as covered when this share of samples is within 3 sigma
#                        of it (20 of 2,500, as VEEGAN and the unrolled-GAN paper count)


def mode_metrics(name: str, samples: np.ndarray) -> dict | None:
    """modes_covered, modes_total and high_quality (the share of samples within 3 sigma of
    some mode) for a dataset of Gaussian modes; None for the others."""
    modes = mode_centres(name)
    if modes is None:
        return None
    centres, std = modes
    dist = np.sqrt(((samples[:, None, :] - centres[None]) ** 2).sum(-1))
    nearest = dist.argmin(1)
    close = dist[np.arange(len(samples)), nearest] <= 3 * std
    counts = np.bincount(nearest[close], minlength=len(centres))
    return {"modes_covered": int((counts >= MODE_SHARE * len(samples)).sum()),
            "modes_total": len(centres), "high_quality": float(close.mean())}


GRID_LIMIT, GRID_BINS = 3.0, 40


def divergences(real: np.ndarray, fake: np.ndarray) -> dict:
    """KL(real || fake) and JS between the two samples' histograms on a grid over the plane,
    as GAN Lab measures them (a small count is added so that KL stays finite)."""
    edges = np.linspace(-GRID_LIMIT, GRID_LIMIT, GRID_BINS + 1)
    p = np.histogram2d(real[:, 0], real[:, 1], [edges, edges])[0].ravel() + 0.5
    q = np.histogram2d(fake[:, 0], fake[:, 1], [edges, edges])[0].ravel() + 0.5
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)
    kl = float((p * np.log(p / q)).sum())
    js = float(0.5 * (p * np.log(p / m)).sum() + 0.5 * (q * np.log(q / m)).sum())
    return {"kl": kl, "js": js}


# ---------------------------------------------------------------------------------------------
# Stories: presets that reproduce what a learner should see, each checked by a test
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Story:
    config: Toy2DConfig
    steps: int
    expect_modes_covered: tuple[int, int]   # inclusive, for the story's seed
    about: str


# Two ways a plain GAN collapses on 8 Gaussians, each with the cures that undo it. Each cure
# changes one switch: same data, same seed. tests/test_toy2d.py trains every story and checks
# its mode count.
#
# A strong D (3 layers of 64, learning twice as fast as G): plain training keeps a few modes,
# with no gradient across the empty gaps to the others. Spectral normalisation and the gradient
# penalty make D smooth, so its gradient reaches the missing modes.
_STRONG_D = Toy2DConfig(data="mixture8", d_layers=3, d_units=64, lr_d=2e-3, seed=0)
# A G that learns 20 times faster than D (the collapse of Metz et al. 2017): G piles onto
# whichever mode D likes now, D catches up, and G hops to the next. Unrolled D lets G see that D
# will punish the pile k steps on; minibatch standard deviation lets D see the pile at once.
# (Against the strong D, already near its best reply, k more D steps change little.) k = 10 is
# in the base, so that A/B with B unrolled is the unrolled story beside its own.
_FAST_G = Toy2DConfig(data="mixture8", lr_g=2e-2, lr_d=1e-3, unroll=10, seed=0)
PRESETS: dict[str, Story] = {
    "vanilla-8": Story(_STRONG_D, 3000, (1, 5),
                       "plain GAN on 8 Gaussians: mode collapse, a few modes kept"),
    "spectral-norm-8": Story(replace(_STRONG_D, cure="spectral_norm"), 3000, (8, 8),
                             "the same with spectral normalisation in D: all 8 modes"),
    "wgan-gp-8": Story(replace(_STRONG_D, cure="wgan_gp"), 3000, (8, 8),
                       "the same as a WGAN with gradient penalty: all 8 modes"),
    "fast-g-8": Story(_FAST_G, 2000, (0, 4),
                      "G learning 20 times faster than D hops from mode to mode: a few at most"),
    "unrolled-8": Story(replace(_FAST_G, cure="unrolled"), 2000, (8, 8),
                        "the same with unrolled D (10 look-ahead steps): all 8 modes"),
    "minibatch-std-8": Story(replace(_FAST_G, cure="minibatch_std"), 2000, (8, 8),
                             "the same with minibatch standard deviation: all 8 modes"),
    "default": Story(Toy2DConfig(), 3000, (0, 8),
                     "GAN Lab's set-up: 2 layers of 32 each, 8 Gaussians"),
}


def read_points(path) -> np.ndarray:
    """The points of a drawn distribution from a text file, one "x,y" a line (the page's CSV
    of drawn points too); files.DamagedFile naming the file for anything else."""
    from . import files

    with open(path, "rb") as f:
        raw = f.read(64 * MAX_DRAWN + 1)
    points = []
    try:
        for line in raw.decode("utf-8").splitlines():
            if line.strip() and not line.lower().startswith("x"):    # a header, if any
                x, y = (float(v) for v in line.split(","))
                points.append((x, y))
    except (ValueError, UnicodeDecodeError):
        raise files.DamagedFile(f"{path} is not a file of points, one \"x,y\" a line") \
            from None
    points = np.array(points, float).reshape(-1, 2)
    if len(raw) > 64 * MAX_DRAWN or not 1 <= len(points) <= MAX_DRAWN \
            or not np.isfinite(points).all() or np.abs(points).max() > 10:
        raise files.DamagedFile(f"{path}: a drawn distribution is 1 to {MAX_DRAWN:,} finite "
                                "points within -10..10")
    return points


def train(cfg: Toy2DConfig, steps: int, drawn=None, samples: int = 2500) -> dict:
    """Train headless for `steps` steps: speed, losses and, for mixtures, the mode metrics of
    `samples` generated points (a fixed noise draw, so a run's numbers are reproducible)."""
    if not 1 <= steps <= 1_000_000:
        raise FieldError("steps", "must be between 1 and 1,000,000")
    gan = Toy2DGAN(cfg, drawn)
    start = time.perf_counter()
    for _ in range(steps):
        stats = gan.step()
    seconds = time.perf_counter() - start
    fake = gan.generate(sample_noise(cfg, samples, np.random.default_rng(cfg.seed + 1)))
    real = sample_data(cfg.data, samples, np.random.default_rng(cfg.seed + 2), gan.drawn)
    return {"steps": steps, "steps_per_s": steps / seconds, "d_loss": stats.d_loss,
            "g_loss": stats.g_loss, **(mode_metrics(cfg.data, fake) or {}),
            **divergences(real, fake)}


# ---------------------------------------------------------------------------------------------
# A run the page plays: the GAN, its history, and what each frame draws
# ---------------------------------------------------------------------------------------------

SHOWN, EVAL = 150, 1000        # points drawn on the plane; points the metrics are measured on
HEAT_BINS, MESH, ARROWS = 24, 9, 24
MAX_SNAPSHOTS = 200            # the timeline's reach: older ones are thinned, never piled up
MAX_ROWS = 20_000
HISTORY_COLUMNS = ("step", "d_loss", "g_loss", "modes_covered", "high_quality", "kl", "js")


class Toy2DRun:
    """A 2-D GAN being played: every recorded state (a row of HISTORY_COLUMNS, and the
    weights, for the timeline) and the drawing of any of them. Its memory is bounded: rows
    and snapshots are thinned when they pass their caps."""

    def __init__(self, cfg: Toy2DConfig, drawn=None):
        self.cfg = cfg
        self.gan = Toy2DGAN(cfg, drawn)
        rng = np.random.default_rng([cfg.seed, 7])      # what is shown never moves
        self.real_shown = sample_data(cfg.data, SHOWN, rng, self.gan.drawn)
        self.real_eval = sample_data(cfg.data, EVAL, rng, self.gan.drawn)
        self.z_shown = sample_noise(cfg, SHOWN, rng)
        self.z_eval = sample_noise(cfg, EVAL, rng)
        self.z_mesh = _mesh_noise(cfg)
        modes = mode_centres(cfg.data)
        self.modes_total = len(modes[0]) if modes else None
        # the heat map's cell centres, on both axes
        self.axis = (np.arange(HEAT_BINS) + 0.5) / HEAT_BINS * 2 * GRID_LIMIT - GRID_LIMIT
        self.rows: list[tuple] = []
        self.snapshots: dict[int, tuple] = {}
        self.d_only = 0            # D steps taken alone (they do not count as steps)
        self.recent = Recent()
        self.record()

    @property
    def steps(self) -> int:
        return self.gan.steps

    def advance(self, steps: int, part: str = "both") -> int:
        """Train `steps` steps of both (or of D or G alone); records the state after them."""
        step = {"both": self.gan.step, "d": self.gan.step_d, "g": self.gan.step_g}[part]
        for _ in range(steps):
            step()
        self.d_only += steps if part == "d" else 0
        self.record()
        return steps

    def rewind(self, step: int) -> bool:
        """Go back to a recent recorded step, as if training had stopped there; False (and
        nothing changed) when that step is not among the recent ones."""
        kept = self.recent.take(step)
        if kept is None:
            return False
        self.gan, self.d_only = kept
        self.rows = [r for r in self.rows if r[0] <= step]
        self.snapshots = {s: v for s, v in self.snapshots.items() if s <= step}
        self.record()           # its row and snapshot again (thinning may have dropped them)
        return True

    def record(self):
        gan = self.gan
        fake = gan.generate(self.z_eval)
        modes = mode_metrics(self.cfg.data, fake) or {}
        dist = divergences(self.real_eval, fake)
        real_out = gan.discriminate(gan.d, self.real_eval[:256])[0]
        fake_out = gan.discriminate(gan.d, fake[:256])[0]
        d_l = d_loss(gan.loss_kind, real_out, fake_out)[0]
        g_l = g_loss(gan.loss_kind, fake_out)[0]
        row = (gan.steps, float(d_l), float(g_l), modes.get("modes_covered"),
               modes.get("high_quality"), dist["kl"], dist["js"])
        if self.rows and self.rows[-1][0] == gan.steps:    # a D-only step: same G step
            self.rows[-1] = row
        else:
            self.rows.append(row)
        if len(self.rows) > MAX_ROWS:
            self.rows = self.rows[::2] + ([self.rows[-1]] if len(self.rows) % 2 == 0 else [])
        # float32 copies: ~40 KB at D 3 x 64 (drawing an old frame needs no more precision)
        self.snapshots[gan.steps] = tuple([a.astype(np.float32) for a in arrays]
                                          for arrays in (gan.g, gan.d, gan.us))
        if len(self.snapshots) > MAX_SNAPSHOTS:
            keys = sorted(self.snapshots)
            for k in keys[1:-1:2]:         # every other one, the first and newest kept
                del self.snapshots[k]
        self.recent.keep(gan.steps, (gan, self.d_only))

    def row(self, step: int) -> dict:
        """The recorded row at `step` (or the last one before it)."""
        i = bisect.bisect_right(self.rows, step, key=lambda r: r[0])   # rows are by step
        return dict(zip(HISTORY_COLUMNS, self.rows[max(i - 1, 0)]))

    def timeline(self) -> list[int]:
        return sorted(self.snapshots)

    def frame(self, step: int | None = None) -> dict:
        """What the plane shows at a recorded step (default: now): D's belief over a grid,
        generated points, G's manifold (a grid of z pushed through G) and G's gradient
        arrows, each as plain arrays."""
        gan = self.gan
        step = self.steps if step is None else max(s for s in self.snapshots if s <= step)
        now = (gan.g, gan.d, gan.us)
        gan.g, gan.d, gan.us = self.snapshots[step]
        try:
            gx, gy = np.meshgrid(self.axis, self.axis)
            fake = gan.generate(self.z_shown)
            # under minibatch std, D judges each point beside a batch: G's, not the grid
            heat = gan.d_probability(np.stack([gx.ravel(), gy.ravel()], 1),
                                     spread=fake.std(0).mean())
            mesh = gan.generate(self.z_mesh).reshape(MESH, MESH, 2)
            arrows = gan.g_arrows(self.z_shown[:ARROWS])
        finally:
            gan.g, gan.d, gan.us = now
        return {"step": step, "heat": heat.reshape(HEAT_BINS, HEAT_BINS),
                "fake": fake, "mesh": mesh, "arrow_from": fake[:ARROWS], "arrows": arrows}

    def to_csv(self) -> str:
        lines = [",".join(HISTORY_COLUMNS)]
        for r in self.rows:
            lines.append(",".join("" if v is None else f"{v:.6g}" for v in r))
        return "\n".join(lines) + "\n"


def _mesh_noise(cfg: Toy2DConfig) -> np.ndarray:
    """A MESH x MESH grid over the first two components of z (the rest 0), over the noise's
    bulk: [-2, 2] for a Gaussian, [-1, 1] for uniform noise."""
    reach = 2.0 if cfg.noise == "gaussian" else 1.0
    line = np.linspace(-reach, reach, MESH)
    z = np.zeros((MESH * MESH, cfg.noise_dim))
    a, b = np.meshgrid(line, line)
    z[:, 0] = a.ravel()
    if cfg.noise_dim > 1:
        z[:, 1] = b.ravel()
    return z


# ---------------------------------------------------------------------------------------------
# A set-up as a link: the fields that differ from a story preset, "field:value,..."
# ---------------------------------------------------------------------------------------------

def encode_setup(cfg: Toy2DConfig, base: Toy2DConfig) -> str:
    return ",".join(f"{f.name}:{getattr(cfg, f.name)}" for f in dataclasses.fields(cfg)
                    if getattr(cfg, f.name) != getattr(base, f.name))


def decode_setup(text: str, base: Toy2DConfig) -> Toy2DConfig:
    """The inverse of encode_setup; a malformed or out-of-range link is a ValueError that
    says which part."""
    types = {f.name: type(getattr(base, f.name)) for f in dataclasses.fields(base)}
    changes = {}
    for part in filter(None, (text or "").split(",")):
        name, _, value = part.partition(":")
        if name not in types:
            raise ValueError(f"{part!r}: no setting called {name!r}")
        try:
            changes[name] = types[name](value)
        except ValueError:
            raise ValueError(f"{part!r}: {value!r} is not a {types[name].__name__}") from None
    return replace(base, **changes)
