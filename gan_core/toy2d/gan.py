"""The 2-D GAN: the losses on D's outputs, and one training step with each cure a switch
(WGAN-GP, spectral normalisation, unrolled D, minibatch standard deviation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..toykit import Optimizer, sigmoid, softplus
from .config import Toy2DConfig
from .data import sample_data, sample_noise
from .nets import (backward, forward, gradient_penalty_backward, init_mlp, input_gradient,
                   spectral_backward, spectral_normalise)

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
        self.us = [self.rng.standard_normal(w.shape[0]).astype(w.dtype) for w in self.d[::2]]
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
        kind, n = self.cfg.activation, len(real)
        # real and fake through D as one batch, in half the NumPy calls (under minibatch std
        # each half still sees its own batch's spread)
        params, sn_state = self._d_params(d)
        out, cache = forward(params, np.concatenate([self._d_input(real), self._d_input(fake)]),
                             kind)
        loss, g_r, g_f = d_loss(self.loss_kind, out[:n], out[n:])
        grads, _ = backward(params, cache, np.concatenate([g_r, g_f]), kind, wrt=("params",))
        if self.cfg.cure == "wgan_gp":
            t = self.rng.random((len(real), 1)).astype(real.dtype)
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
        _, g_in = backward(params, cache, g_out, kind, wrt=("input",))
        g_fake = self._d_input_backward(fake, g_in)
        grads, _ = backward(self.g, g_cache, g_fake, kind, wrt=("params",))
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
        weights = np.concatenate([p.ravel() for p in self.g + self.d])
        if not (abs(loss) < 1e6 and np.abs(weights).max() < 1e6):     # False for NaN too
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
        _, g_in = backward(params, cache, g_out * len(fake), self.cfg.activation,
                           wrt=("input",))
        return -self._d_input_backward(fake, g_in)
