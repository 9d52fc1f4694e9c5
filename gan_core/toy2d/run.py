"""A run the page plays: the GAN, its history, and what each frame draws."""

from __future__ import annotations

import bisect

import numpy as np

from .config import Toy2DConfig
from .data import mode_centres, sample_data, sample_noise
from .gan import Toy2DGAN, d_loss, g_loss
from .metrics import GRID_LIMIT, divergences, histogram, mode_metrics
from .nets import DTYPE

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
        self.real_histogram = histogram(self.real_eval)
        self.z_shown = sample_noise(cfg, SHOWN, rng)
        self.z_eval = sample_noise(cfg, EVAL, rng)
        self.z_mesh = _mesh_noise(cfg)
        modes = mode_centres(cfg.data)
        self.modes_total = len(modes[0]) if modes else None
        # the heat map's cell centres, on both axes
        axis = (np.arange(HEAT_BINS) + 0.5) / HEAT_BINS * 2 * GRID_LIMIT - GRID_LIMIT
        self.axis = axis.astype(DTYPE)
        self.rows: list[tuple] = []
        self.snapshots: dict[int, tuple] = {}
        self.d_only = 0            # D steps taken alone (they do not count as steps)
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

    def record(self):
        gan = self.gan
        fake = gan.generate(self.z_eval)
        modes = mode_metrics(self.cfg.data, fake) or {}
        dist = divergences(self.real_histogram, histogram(fake))
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
        self.snapshots[gan.steps] = tuple([a.copy() for a in arrays]
                                          for arrays in (gan.g, gan.d, gan.us))
        if len(self.snapshots) > MAX_SNAPSHOTS:
            keys = sorted(self.snapshots)
            for k in keys[1:-1:2]:         # every other one, the first and newest kept
                del self.snapshots[k]

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
    z = np.zeros((MESH * MESH, cfg.noise_dim), DTYPE)
    a, b = np.meshgrid(line, line)
    z[:, 0] = a.ravel()
    if cfg.noise_dim > 1:
        z[:, 1] = b.ravel()
    return z
