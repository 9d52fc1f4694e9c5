"""Evaluate a generator on held-out faces: the one place `evaluate`, `sweep` and `card` ask.

- `real_sample(images, n, seed)`: 2n held-out faces in a seeded order; the first n are the
  reference, the next n the real-vs-real floor.
- `fakes(gen, n, seed)`: the quality noise stream (`noise.QUALITY`), drawn in one call, so
  the same seed gives the same z whoever measures.
- `Ruler(real, seed)`: everything about the real faces computed once (SWD's floor, their
  VGG16 features, colours); `ruler.measure(fakes)` gives one row: SWD and MS-SSIM (`quality`),
  precision, recall, density, coverage and KID (`fidelity`), colour mean and spread, each
  with its real-vs-real value.
"""

from __future__ import annotations

import numpy as np

from . import fidelity, noise, perceptual, quality


def real_sample(images, n: int, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(images))[:2 * n]
    return np.asarray(images[order])


def quality_z(latent_dim: int, n: int, seed: int = 0, psi: float = 1.0) -> np.ndarray:
    """n z of the quality stream, drawn in one call, scaled by the truncation psi."""
    return noise.draw(seed, noise.QUALITY, 0, n, latent_dim) * np.float32(psi)


def fakes(gen, n: int, seed: int = 0, psi: float = 1.0) -> np.ndarray:
    """n faces of the quality stream's z."""
    return gen(quality_z(gen.latent_dim, n, seed, psi))


def colour_stats(batch: np.ndarray) -> dict[str, list[float]]:
    """Per-channel mean and spread (std over all pixels) of uint8 images, in [0, 255]."""
    x = batch.reshape(-1, 3).astype(np.float64)
    return {"mean_rgb": [round(v, 1) for v in x.mean(0)],
            "std_rgb": [round(v, 1) for v in x.std(0)]}


class Ruler:
    """The held-out faces, measured once, to measure generated faces against."""

    def __init__(self, real: np.ndarray, seed: int = 0):
        if len(real) < 16:
            raise ValueError(f"evaluation needs at least 16 real faces, got {len(real)}")
        self.real, self.seed, self.n = real, seed, len(real) // 2
        self.floor = quality.real_floor(real, seed=seed)
        self.features = perceptual.vgg_features(real)
        self.fidelity_floor = fidelity.real_floor(self.features, self.n, seed)

    def measure(self, fakes: np.ndarray) -> dict:
        fakes = fakes[:self.n]
        row = quality.compare(fakes, self.real, seed=self.seed, floor=self.floor)
        row.update(fidelity.compare(perceptual.vgg_features(fakes), self.features, self.seed,
                                    floor=self.fidelity_floor))
        row = {k: round(float(v), 4) if isinstance(v, (float, np.floating)) else v
               for k, v in row.items()}
        return row | colour_stats(fakes)

    def real_row(self) -> dict:
        return {**self.floor, **self.fidelity_floor, **colour_stats(self.real[:self.n])}
