"""How well G covers the data: modes covered and high-quality samples (Metz et al. 2017), and
KL / JS between histograms on a grid over the plane (GAN Lab's)."""

from __future__ import annotations

import numpy as np

from .data import mode_centres

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


def histogram(points: np.ndarray) -> np.ndarray:
    """The points' share in each cell of a GRID_BINS x GRID_BINS grid over the plane (points
    outside it not counted), with half a count added to every cell so that KL stays finite."""
    cell = np.floor((points + GRID_LIMIT) * (GRID_BINS / (2 * GRID_LIMIT))).astype(int)
    inside = ((points >= -GRID_LIMIT) & (points <= GRID_LIMIT)).all(1)
    cell = np.minimum(cell[inside], GRID_BINS - 1)      # the last edge belongs to the last cell
    counts = np.bincount(cell[:, 0] * GRID_BINS + cell[:, 1], minlength=GRID_BINS ** 2) + 0.5
    return counts / counts.sum()


def divergences(p: np.ndarray, q: np.ndarray) -> dict:
    """KL(p || q) and JS between two histograms (real's and fake's), as GAN Lab measures them."""
    m = 0.5 * (p + q)
    kl = float((p * np.log(p / q)).sum())
    js = float(0.5 * (p * np.log(p / m)).sum() + 0.5 * (q * np.log(q / m)).sum())
    return {"kl": kl, "js": js}
