"""The course's 1-D GAN: learn N(mean, std) from noise, and watch why it works.

The course (IBM Skills Network lab "Creating anime characters using DCGANs and Keras") trains
G = Dense(1) against D = Dense(1) with Keras. Here the same model is written out in NumPy:
with four to thirty parameters, Keras' per-call overhead (about a millisecond) would cap training
at a few hundred steps per second, while explicit gradients run thousands, fast enough for the
browser to animate every step. `tests/test_toy.py` checks these gradients and the Adam update
against the course's own TensorFlow code, step for step.

Sections: configuration and presets; the exact Gaussian formulas; the discriminators; the GAN
itself; the course's warm-up. The optimisers and activations are the toys' own (toykit).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from . import noise, system
from .toykit import Optimizer, sigmoid, softplus
from .checks import check, finite

system.one_blas_thread()     # tiny matrices: see there

# ---------------------------------------------------------------------------------------------
# Configuration and presets
# ---------------------------------------------------------------------------------------------

D_KINDS = ("linear", "quadratic", "mlp")
OPTIMIZERS = ("adam", "sgd")
SCHEMES = ("simultaneous", "alternating")
G_LOSSES = ("non_saturating", "saturating")

# Settings that can change mid-run without touching the networks' weights or optimiser state.
LIVE_KEYS = ("lr_g", "lr_d", "beta_1", "beta_2", "batch", "scheme", "k_d", "g_loss")


@dataclass(frozen=True)
class ToyConfig:
    data_mean: float = 10.0
    data_std: float = 1.0
    sigma_z: float = 1.0
    batch: int = 5000
    d_kind: str = "quadratic"
    mlp_hidden: int = 8
    # The course feeds raw x (about 10) to D. The other discriminators see x standardised with
    # the real data's mean and std, as any dataset is normalised before training; without it an
    # x**2 feature (about 100) or a tanh layer saturates at the first step.
    normalize_input: bool = True
    optimizer: str = "adam"
    lr_g: float = 0.01
    lr_d: float = 0.05
    beta_1: float = 0.5
    beta_2: float = 0.999
    scheme: str = "simultaneous"
    k_d: int = 1
    g_loss: str = "non_saturating"
    seed: int = 0

    def __post_init__(self):
        check(finite(self.data_std) and self.data_std > 0, "data_std",
              "must be a positive number")
        check(finite(self.sigma_z) and 0 < self.sigma_z <= 1e6, "sigma_z",
              "must be a positive number, at most 1,000,000")
        check(1 <= self.batch <= 1_000_000, "batch", "must be between 1 and 1,000,000")
        check(self.d_kind in D_KINDS, "d_kind", f"must be one of {', '.join(D_KINDS)}")
        check(1 <= self.mlp_hidden <= 256, "mlp_hidden", "must be between 1 and 256")
        check(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        for name in ("lr_g", "lr_d"):
            check(finite(getattr(self, name)) and 0 <= getattr(self, name) <= 10, name,
                  "must be between 0 and 10")
        for name in ("beta_1", "beta_2"):
            check(finite(getattr(self, name)) and 0 <= getattr(self, name) < 1, name,
                  "must be at least 0 and less than 1")
        check(self.scheme in SCHEMES, "scheme", f"must be one of {', '.join(SCHEMES)}")
        check(1 <= self.k_d <= 100, "k_d", "must be between 1 and 100")
        check(self.g_loss in G_LOSSES, "g_loss", f"must be one of {', '.join(G_LOSSES)}")
        check(0 <= self.seed <= noise.MAX_SEED, "seed",
              f"must be between 0 and {noise.MAX_SEED:,}")

    def replace(self, **changes) -> "ToyConfig":
        return dataclasses.replace(self, **changes)

    def resets_model(self, other: "ToyConfig") -> bool:
        """True when going from self to other needs fresh networks (anything but LIVE_KEYS)."""
        a, b = dataclasses.asdict(self), dataclasses.asdict(other)
        return any(a[k] != b[k] for k in a if k not in LIVE_KEYS)


COURSE_SIGMA_Z_CODE = 10.0  # the course's code draws z ~ N(0, 10) ...
COURSE_SIGMA_Z_PROSE = 2.0  # ... while its text says N(0, 2)
PRESETS = {
    # The course notebook, exactly: linear D on raw x, Adam(0.5, 0.5, 0.8), z ~ N(0, 10),
    # 20 simultaneous iterations (the iteration count is the caller's; see COURSE_ITERATIONS).
    "course": ToyConfig(sigma_z=COURSE_SIGMA_Z_CODE, d_kind="linear", normalize_input=False,
                        lr_g=0.5, lr_d=0.5, beta_1=0.5, beta_2=0.8),
    # A D that can represent the optimal discriminator (its logit is quadratic in x), learning
    # five times faster than G, with rates small enough that simultaneous Adam settles instead
    # of circling (10 of 10 seeds within 0.02 of N(10, 1) after 3,000 steps).
    "default": ToyConfig(),
}
COURSE_ITERATIONS = 20


# ---------------------------------------------------------------------------------------------
# Exact formulas for two Gaussians (G is linear, so its output is exactly Gaussian)
# ---------------------------------------------------------------------------------------------

_MIN_STD = 1e-6  # a generator with w = 0 is a point mass; treat it as a very narrow Gaussian


def generated_distribution(w, b, sigma_z):
    """G(z) = w*z + b with z ~ N(0, sigma_z) is N(b, |w| * sigma_z)."""
    return np.asarray(b, float), np.maximum(np.abs(w) * sigma_z, _MIN_STD)


def normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def kl_divergence(m1, s1, m2, s2):
    """KL(N(m1, s1) || N(m2, s2)) in nats."""
    s2 = np.maximum(s2, _MIN_STD)
    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def wasserstein2(m1, s1, m2, s2):
    """W2 between 1-D Gaussians: sqrt((m1 - m2)^2 + (s1 - s2)^2)."""
    return np.sqrt((m1 - m2) ** 2 + (s1 - s2) ** 2)


def js_divergence(m1, s1, m2, s2, points=801):
    """Jensen-Shannon divergence in nats (at most ln 2). No closed form exists for Gaussians,
    so integrate numerically on a grid wide enough for both; vectorised over m2, s2."""
    m2, s2 = np.broadcast_arrays(np.asarray(m2, float), np.maximum(np.asarray(s2, float), _MIN_STD))
    lo = np.minimum(m1 - 10 * s1, m2 - 10 * s2)[..., None]
    hi = np.maximum(m1 + 10 * s1, m2 + 10 * s2)[..., None]
    t = np.linspace(0.0, 1.0, points)
    x = lo + (hi - lo) * t
    p = normal_pdf(x, m1, s1)
    q = normal_pdf(x, m2[..., None], s2[..., None])
    mix = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = 0.5 * (np.where(p > 0, p * np.log(p / mix), 0.0)
                           + np.where(q > 0, q * np.log(q / mix), 0.0))
    dx = (hi - lo)[..., 0] / (points - 1)
    integral = (integrand.sum(-1) - 0.5 * (integrand[..., 0] + integrand[..., -1])) * dx
    return np.clip(integral, 0.0, math.log(2))


def optimal_discriminator(x, data_mean, data_std, gen_mean, gen_std):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), computed in log space so it stays exact in
    the tails. Its logit, log p_data - log p_g, is quadratic in x: a linear D can move its
    threshold to match the means but can never bend to match the variances."""
    gen_std = np.maximum(gen_std, _MIN_STD)
    log_ratio = (np.log(gen_std / data_std) - 0.5 * ((x - data_mean) / data_std) ** 2
                 + 0.5 * ((x - gen_mean) / gen_std) ** 2)
    return sigmoid(log_ratio)


# ---------------------------------------------------------------------------------------------
# Discriminators: logits(x) and the gradients of a loss through them
# ---------------------------------------------------------------------------------------------

def init_discriminator(cfg: ToyConfig, rng: np.random.Generator) -> np.ndarray:
    """Keras' defaults: glorot-uniform kernels, zero biases. A Dense(1) on one input draws its
    weight from U(-sqrt(3), sqrt(3))."""
    if cfg.d_kind == "linear":
        return np.array([rng.uniform(-math.sqrt(3), math.sqrt(3)), 0.0])
    if cfg.d_kind == "quadratic":  # features (x, x^2): glorot over fan_in 2
        lim = math.sqrt(6 / 3)
        return np.array([*rng.uniform(-lim, lim, 2), 0.0])
    h = cfg.mlp_hidden  # x -> tanh(h units) -> 1
    w1 = rng.uniform(-1, 1, h) * math.sqrt(6 / (1 + h))
    w2 = rng.uniform(-1, 1, h) * math.sqrt(6 / (h + 1))
    return np.concatenate([w1, np.zeros(h), w2, [0.0]])


def _features(cfg, x):
    return (x - cfg.data_mean) / cfg.data_std if cfg.normalize_input else x


def d_logits(cfg: ToyConfig, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    u = _features(cfg, x)
    if cfg.d_kind == "linear":
        return theta[0] * u + theta[1]
    if cfg.d_kind == "quadratic":
        return theta[0] * u + theta[1] * u * u + theta[2]
    h = cfg.mlp_hidden
    w1, b1, w2, b2 = theta[:h], theta[h:2 * h], theta[2 * h:3 * h], theta[3 * h]
    return np.tanh(np.outer(u, w1) + b1) @ w2 + b2


def d_backward(cfg: ToyConfig, theta, x, dlogits):
    """Given dLoss/dlogits for a batch, return (dLoss/dtheta, dLoss/dx)."""
    u = _features(cfg, x)
    du_dx = 1.0 / cfg.data_std if cfg.normalize_input else 1.0
    if cfg.d_kind == "linear":
        grad = np.array([dlogits @ u, dlogits.sum()])
        return grad, dlogits * theta[0] * du_dx
    if cfg.d_kind == "quadratic":
        grad = np.array([dlogits @ u, dlogits @ (u * u), dlogits.sum()])
        return grad, dlogits * (theta[0] + 2 * theta[1] * u) * du_dx
    h = cfg.mlp_hidden
    w1, b1, w2 = theta[:h], theta[h:2 * h], theta[2 * h:3 * h]
    a = np.tanh(np.outer(u, w1) + b1)
    dpre = np.outer(dlogits, w2) * (1 - a * a)
    grad = np.concatenate([u @ dpre, dpre.sum(0), dlogits @ a, [dlogits.sum()]])
    return grad, (dpre @ w1) * du_dx


# ---------------------------------------------------------------------------------------------
# The GAN
# ---------------------------------------------------------------------------------------------

# Columns recorded for every step (one G update). d_real and d_fake are mean sigmoid(D(.)).
STEP_COLUMNS = ("step", "g_loss", "d_loss", "d_real", "d_fake", "w", "b")


@dataclass
class BestStep:
    """The course keeps the iteration where D is most confused: the average of mean D(x) and
    mean D(G(z)) closest to 0.5."""
    step: int = 0
    gap: float = math.inf
    g: np.ndarray = field(default_factory=lambda: np.zeros(2))
    theta: np.ndarray = field(default_factory=lambda: np.zeros(2))


class ToyGAN:
    """G(z) = w*z + b against a discriminator D, trained with fresh samples every step.

    `train(n)` runs n steps and returns their rows (STEP_COLUMNS) as an (n, 7) array, plus
    each step's D parameters, so a caller can redraw any past step exactly.
    """

    def __init__(self, cfg: ToyConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        lim = math.sqrt(3)  # Dense(1) on one input: glorot-uniform weight, zero bias
        self.g = np.array([self.rng.uniform(-lim, lim), 0.0])
        self.theta = init_discriminator(cfg, self.rng)
        self.opt_g = Optimizer(cfg.optimizer, cfg.lr_g, cfg.beta_1, cfg.beta_2, [self.g])
        self.opt_d = Optimizer(cfg.optimizer, cfg.lr_d, cfg.beta_1, cfg.beta_2, [self.theta])
        self.step = 0
        self.best = BestStep(g=self.g.copy(), theta=self.theta.copy())

    # Settings in LIVE_KEYS change here without a reset.
    def update_config(self, cfg: ToyConfig):
        if self.cfg.resets_model(cfg):
            raise ValueError("this change needs a new model; create a new ToyGAN")
        self.cfg = cfg
        for opt, lr in ((self.opt_g, cfg.lr_g), (self.opt_d, cfg.lr_d)):
            opt.lr, opt.beta_1, opt.beta_2 = lr, cfg.beta_1, cfg.beta_2

    def sample_real(self, n):
        return self.rng.normal(self.cfg.data_mean, self.cfg.data_std, n)

    def sample_z(self, n):
        return self.rng.normal(0.0, self.cfg.sigma_z, n)

    def generate(self, z, g=None):
        w, b = self.g if g is None else g
        return w * z + b

    def _d_step(self):
        """D's loss and gradient on fresh real and generated batches. Returns five results,
        (d_loss, d_real, d_fake, grad_d, fake), where fake = (z, x_fake, logits_fake,
        softplus(logits_fake), sigmoid(logits_fake)) is what G's update reuses: the course
        computes both losses from one forward pass."""
        cfg, n = self.cfg, self.cfg.batch
        x, z = self.sample_real(n), self.sample_z(n)
        x_fake = self.generate(z)
        l_real, l_fake = d_logits(cfg, self.theta, x), d_logits(cfg, self.theta, x_fake)
        sp_real, sp_fake = softplus(l_real), softplus(l_fake)
        # D loss = 0.5 * (CE(ones, D(x)) + CE(zeros, D(G(z)))) on logits, where
        # CE(ones, l) = softplus(-l) = softplus(l) - l and CE(zeros, l) = softplus(l).
        d_loss = 0.5 * ((sp_real - l_real).mean() + sp_fake.mean())
        s_real, s_fake = sigmoid(l_real), sigmoid(l_fake)
        grad_real, _ = d_backward(cfg, self.theta, x, -0.5 * (1 - s_real) / n)
        grad_fake, _ = d_backward(cfg, self.theta, x_fake, 0.5 * s_fake / n)
        fake = (z, x_fake, l_fake, sp_fake, s_fake)
        return d_loss, s_real.mean(), s_fake.mean(), grad_real + grad_fake, fake

    def _g_grad(self, z, x_fake, l_fake, sp_fake, s_fake):
        """Gradient of G's loss through D. Non-saturating: -log D(G(z)); saturating (the
        minimax original): log(1 - D(G(z))), whose gradient vanishes while D wins."""
        n = len(z)
        if self.cfg.g_loss == "non_saturating":
            loss, dlogits = (sp_fake - l_fake).mean(), (s_fake - 1) / n
        else:
            loss, dlogits = -sp_fake.mean(), -s_fake / n
        _, dx = d_backward(self.cfg, self.theta, x_fake, dlogits)
        return loss, np.array([dx @ z, dx.sum()])

    def train(self, n_steps: int):
        rows = np.empty((n_steps, len(STEP_COLUMNS)))
        thetas = np.empty((n_steps, self.theta.size))
        # Overflow is not an error here: a diverged run is detected below and reported.
        with np.errstate(over="ignore", invalid="ignore"):
            self._train(n_steps, rows, thetas)
        # Diverged: a value that is not finite, or so large that it soon will be (and that
        # no chart can show). Such steps are never kept, so nothing of them reaches a page.
        if not (np.all(np.isfinite(rows)) and np.all(np.isfinite(thetas))
                and np.abs(rows).max() < DIVERGED_ABOVE and np.abs(thetas).max() < DIVERGED_ABOVE):
            raise FloatingPointError(
                "training diverged (a loss or weight became NaN, infinite or larger than "
                f"{DIVERGED_ABOVE:,.0f}); lower the learning rates and reset")
        return rows, thetas

    def _train(self, n_steps, rows, thetas):
        for i in range(n_steps):
            if self.cfg.scheme == "simultaneous":
                # The course: one forward pass, two tapes, both networks updated together.
                d_loss, d_real, d_fake, grad_d, fake = self._d_step()
                g_loss, grad_g = self._g_grad(*fake)
                self.opt_d.apply([self.theta], [grad_d])
                self.opt_g.apply([self.g], [grad_g])
            else:
                for _ in range(self.cfg.k_d):
                    d_loss, d_real, d_fake, grad_d, _ = self._d_step()
                    self.opt_d.apply([self.theta], [grad_d])
                z = self.sample_z(self.cfg.batch)
                x_fake = self.generate(z)
                l_fake = d_logits(self.cfg, self.theta, x_fake)
                g_loss, grad_g = self._g_grad(z, x_fake, l_fake, softplus(l_fake), sigmoid(l_fake))
                self.opt_g.apply([self.g], [grad_g])
            self.step += 1
            gap = abs(0.5 * (d_real + d_fake) - 0.5)
            if gap < self.best.gap:
                self.best = BestStep(self.step, gap, self.g.copy(), self.theta.copy())
            rows[i] = (self.step, g_loss, d_loss, d_real, d_fake, *self.g)
            thetas[i] = self.theta

    def count_above_half(self, n=5000, g=None, theta=None):
        """How many of n real and n generated samples D calls real (sigmoid(D(x)) > 0.5).
        The course forgets the sigmoid for the generated ones and compares logits with 0.5,
        which counts a different threshold (logit 0.5 is D = 0.62); this applies it to both."""
        g = self.best.g if g is None else g
        theta = self.best.theta if theta is None else theta
        rng = np.random.default_rng(self.cfg.seed + 1)
        x = rng.normal(self.cfg.data_mean, self.cfg.data_std, n)
        x_fake = self.generate(rng.normal(0.0, self.cfg.sigma_z, n), g)
        real = int((sigmoid(d_logits(self.cfg, theta, x)) > 0.5).sum())
        fake = int((sigmoid(d_logits(self.cfg, theta, x_fake)) > 0.5).sum())
        return real, fake

    def gen_stats(self):
        mean, std = generated_distribution(self.g[0], self.g[1], self.cfg.sigma_z)
        return float(mean), float(std)


def distances(cfg: ToyConfig, gm, gs):
    """KL(p_data || p_g), JS and W2 between the data and generated Gaussians N(gm, gs)."""
    m, s = cfg.data_mean, cfg.data_std
    return kl_divergence(m, s, gm, gs), js_divergence(m, s, gm, gs), wasserstein2(m, s, gm, gs)


# ---------------------------------------------------------------------------------------------
# The course's warm-up: an "implicit generative model" x_hat = z + 10
# ---------------------------------------------------------------------------------------------

def implicit_model(n=5000, shift=10.0, seed=0):
    """x ~ N(10, 1) and x_hat = z + shift with z ~ N(0, 1): same distribution, no learning."""
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 1.0, n)
    x_hat = rng.normal(0.0, 1.0, n) + shift
    return x, x_hat


# ---------------------------------------------------------------------------------------------
# A run the app can replay: every step kept, any step redrawn
# ---------------------------------------------------------------------------------------------

HISTORY_COLUMNS = STEP_COLUMNS + ("gen_mean", "gen_std", "kl", "js", "w2")
MAX_STEPS = 200_000  # about 10 MB of history; the page asks for a reset past it
DIVERGED_ABOVE = 1e6     # |loss| or |weight| past this: the run has diverged
VIEW_SAMPLES = 5000  # the course's 5,000 real and generated samples in the histogram
VIEW_BINS = 60
VIEW_GRID = 200


class ToyRun:
    """A ToyGAN plus its whole history, so any earlier step can be drawn again exactly.

    Histograms use one fixed draw of real x and of z (seeded), so what moves between frames is
    the generator, not sampling noise.
    """

    def __init__(self, cfg: ToyConfig):
        self.cfg = cfg
        self.gan = ToyGAN(cfg)
        rng = np.random.default_rng(cfg.seed + 2)
        self.view_x = rng.normal(cfg.data_mean, cfg.data_std, VIEW_SAMPLES)
        self.view_z = rng.normal(0.0, cfg.sigma_z, VIEW_SAMPLES)
        self._rows = np.empty((0, len(HISTORY_COLUMNS)), np.float32)
        self._thetas = np.empty((0, self.gan.theta.size), np.float32)
        self._n = 0
        self._initial = (self.gan.g.copy(), self.gan.theta.copy())

    @property
    def steps(self) -> int:
        return self._n

    @property
    def full(self) -> bool:
        return self._n >= MAX_STEPS

    def history(self) -> np.ndarray:
        return self._rows[: self._n]

    def update_config(self, cfg: ToyConfig):
        self.gan.update_config(cfg)
        self.cfg = cfg

    def advance(self, n_steps: int) -> int:
        """Train up to n_steps more (fewer at MAX_STEPS); returns how many ran."""
        n_steps = max(0, min(n_steps, MAX_STEPS - self._n))
        if n_steps == 0:
            return 0
        rows, thetas = self.gan.train(n_steps)
        gen_mean, gen_std = generated_distribution(rows[:, 5], rows[:, 6], self.cfg.sigma_z)
        kl, js, w2 = distances(self.cfg, gen_mean, gen_std)
        full_rows = np.column_stack([rows, gen_mean, gen_std, kl, js, w2])
        self._append(full_rows, thetas)
        return n_steps

    def _append(self, rows, thetas):
        need = self._n + len(rows)
        if need > len(self._rows):  # grow geometrically: appends stay cheap
            cap = min(MAX_STEPS, max(need, 2 * len(self._rows), 1024))
            self._rows = _grow(self._rows, cap)
            self._thetas = _grow(self._thetas, cap)
        self._rows[self._n:need] = rows
        self._thetas[self._n:need] = thetas
        self._n = need

    def params_at(self, step: int):
        """(g, theta) after `step` steps; step 0 is the untrained networks."""
        if step <= 0:
            return self._initial
        row = self._rows[min(step, self._n) - 1]
        return np.array(row[5:7], float), np.array(self._thetas[min(step, self._n) - 1], float)

    def view(self, step: int, x_range=None) -> dict:
        """Everything the charts show at `step`, as plain arrays."""
        step = int(np.clip(step, 0, self._n))
        (w, b), theta = self.params_at(step)
        cfg = self.cfg
        gm, gs = generated_distribution(w, b, cfg.sigma_z)
        x_fake = w * self.view_z + b
        if x_range is None:
            x_range = self.x_range([step])
        edges = np.linspace(*x_range, VIEW_BINS + 1)
        grid = np.linspace(*x_range, VIEW_GRID)
        return {
            "step": step,
            "w": float(w), "b": float(b), "gen_mean": float(gm), "gen_std": float(gs),
            "bin_centers": 0.5 * (edges[1:] + edges[:-1]),
            "hist_real": np.histogram(self.view_x, edges, density=False)[0] / (
                VIEW_SAMPLES * (edges[1] - edges[0])),
            "hist_fake": np.histogram(x_fake, edges, density=False)[0] / (
                VIEW_SAMPLES * (edges[1] - edges[0])),
            "grid": grid,
            "d_curve": sigmoid(d_logits(cfg, theta, grid)),
            "d_star": optimal_discriminator(grid, cfg.data_mean, cfg.data_std, gm, gs),
        }

    def x_range(self, steps) -> tuple:
        """An x range that shows the data and the generated samples at all of `steps`."""
        lo = self.cfg.data_mean - 4 * self.cfg.data_std
        hi = self.cfg.data_mean + 4 * self.cfg.data_std
        for step in steps:
            (w, b), _ = self.params_at(step)
            gm, gs = generated_distribution(w, b, self.cfg.sigma_z)
            lo, hi = min(lo, gm - 3 * gs), max(hi, gm + 3 * gs)
        span = self.cfg.data_std * 1000
        return max(lo, self.cfg.data_mean - span), min(hi, self.cfg.data_mean + span)

    def best_step(self) -> int:
        return self.gan.best.step

    def to_csv(self) -> str:
        lines = [",".join(HISTORY_COLUMNS)]
        for row in self.history():
            lines.append(",".join([str(int(row[0]))] + [f"{v:.6g}" for v in row[1:]]))
        return "\n".join(lines) + "\n"


def _grow(a: np.ndarray, rows: int) -> np.ndarray:
    out = np.empty((rows,) + a.shape[1:], a.dtype)
    out[: len(a)] = a
    return out
