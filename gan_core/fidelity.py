"""Fidelity and diversity in a feature space: are the faces real-looking, and are there enough
kinds of them? SWD (`quality`) cannot tell these apart near its floor; these can.

- Precision and recall (Kynkäänniemi et al. 2019, k = 3): each set's manifold is the union of
  balls around its points, each ball reaching the point's k-th nearest neighbour. Precision:
  the share of generated faces inside the real manifold (are they real-looking?). Recall: the
  share of real faces inside the generated one (is every kind of real face made?).
- Density and coverage (Naeem et al. 2020): density counts how many real balls hold each
  generated face (1 on average for a perfect generator; robust to real outliers); coverage is
  the share of real faces whose own ball holds a generated face.
- KID (Bińkowski et al. 2018): the unbiased MMD² with the cubic kernel (x·y/d + 1)³, averaged
  over random subsets (of at most half of each set), with its standard error. Unbiased: about
  0 for two samples of the same faces, whatever their number. On these features (not
  Inception's) its scale is its own: read it against the real-vs-real value.

Features are `perceptual.vgg_features` (VGG16's conv4_3 and conv5_3, pooled: the paper's fc2
is not in the weights we ship). Every figure comes with its real-vs-real value (`_real`):
another sample of real faces, of the same size, against the same reference.
"""

from __future__ import annotations

import numpy as np

K = 3
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
KEYS = ("precision", "recall", "density", "coverage", "kid")
FEATURES = "VGG16 conv4_3 + conv5_3, spatial mean (not fc2)"   # said beside every figure


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0))


def radii(points: np.ndarray, k: int = K) -> np.ndarray:
    """Each point's distance to its k-th nearest other point."""
    d = _distances(points, points)
    return np.sort(d, axis=1)[:, k]          # column 0 is the point itself


def prdc(real: np.ndarray, fake: np.ndarray, k: int = K) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake` features against `real` ones."""
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision and recall need more than {k} faces in each set")
    r_real, r_fake = radii(real, k), radii(fake, k)
    d = _distances(real, fake)                              # (real, fake)
    inside_real = d <= r_real[:, None]                      # fake j in real i's ball
    return {"precision": float(inside_real.any(0).mean()),
            "recall": float((d <= r_fake[None, :]).any(1).mean()),
            "density": float(inside_real.sum(0).mean() / k),
            "coverage": float((d.min(1) <= r_real).mean())}


def _cubic(a, b, d):
    return (a @ b.T / d + 1) ** 3


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float]:
    """(KID, its standard error over `subsets` random subsets of each set)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    # Subsets of at most half of each set: subsets of all of it would all be the same set, and
    # the spread over them, the standard error, would say nothing.
    m = min(subset_size, len(real) // 2, len(fake) // 2) if subsets > 1 else \
        min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError("KID needs at least 2 faces in each set")
    rng, d = np.random.default_rng(seed), real.shape[1]
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx, kyy, kxy = _cubic(x, x, d), _cubic(y, y, d), _cubic(x, y, d)
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                      + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    se = float(np.std(values, ddof=1) / np.sqrt(subsets)) if subsets > 1 else 0.0
    return float(np.mean(values)), se


def measure(real: np.ndarray, fake: np.ndarray, seed: int = 0,
            with_kid: bool = True) -> dict[str, float]:
    """Precision, recall, density, coverage (and KID with its standard error) of `fake`
    features against `real` ones."""
    out = prdc(real, fake)
    if with_kid:
        out["kid"], out["kid_se"] = kid(real, fake, seed=seed)
    return out


def real_floor(real_features: np.ndarray, n: int, seed: int = 0,
               with_kid: bool = True) -> dict[str, float]:
    """The next n real faces against the first n: each figure's `_real` value. It depends
    on the real faces alone, so a caller measuring many generators computes it once."""
    values = measure(real_features[:n], real_features[n:2 * n], seed, with_kid)
    return {f"{key}_real": value for key, value in values.items()}


def compare(fake_features: np.ndarray, real_features: np.ndarray, seed: int = 0,
            floor: dict | None = None, with_kid: bool = True) -> dict:
    """Fakes against the first n real faces, beside the floor (`real_floor`, computed here
    unless given). n = min(len(fakes), len(real) // 2)."""
    n = min(len(fake_features), len(real_features) // 2)
    out = measure(real_features[:n], fake_features[:n], seed, with_kid)
    out.update(floor if floor is not None else real_floor(real_features, n, seed, with_kid))
    out["features"] = FEATURES
    return out
