"""What the 2-D toy learns: the datasets on the plane (Gaussian modes, a ring, moons, the
learner's own drawing), G's noise, and drawn points read from a file."""

from __future__ import annotations

import functools

import numpy as np

from .config import MAX_DRAWN, Toy2DConfig
from .nets import DTYPE

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
    """n points of a dataset, (n, 2) in the networks' DTYPE, on roughly [-2.5, 2.5]^2."""
    return _points(name, n, rng, drawn).astype(DTYPE)


def _points(name, n, rng, drawn):
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
        return rng.uniform(-1, 1, (n, cfg.noise_dim)).astype(DTYPE)
    return rng.standard_normal((n, cfg.noise_dim)).astype(DTYPE)


def read_points(path) -> np.ndarray:
    """The points of a drawn distribution from a text file, one "x,y" a line (the page's CSV
    of drawn points too); files.DamagedFile naming the file for anything else."""
    from .. import files

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
