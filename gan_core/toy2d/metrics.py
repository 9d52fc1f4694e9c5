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
