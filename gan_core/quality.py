"""How good a generator is, with no pretrained network to download.

- Sliced Wasserstein distance (SWD), as in ProGAN (Karras et al. 2018, their
  `sliced_wasserstein.py`): Laplacian pyramid levels 64, 32 and 16; 128 random 7x7 neighbourhoods
  per image and level; descriptors normalised per channel; the distance between the two sets of
  descriptors along 512 random directions. Reported x 1000 as in the paper. Lower is better.
- MS-SSIM (Wang et al. 2003) of random pairs of generated images: how alike two samples are.
  Higher than real-vs-real pairs means the generator repeats itself (mode collapse).

Every figure comes with the real-vs-real value beside it, the floor to compare against.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

LEVELS = (64, 32, 16)
PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS, REPEATS = 128, 4
MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])

# ---------------------------------------------------------------------------------------------
# Sliced Wasserstein distance
# ---------------------------------------------------------------------------------------------

_GAUSS = np.array([1, 4, 6, 4, 1], np.float32) / 16


def _blur(x):
    """Separable 5-tap Gaussian, edges reflected; x (n, c, h, w)."""
    x = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    x = sliding_window_view(x, 5, axis=2) @ _GAUSS
    return sliding_window_view(x, 5, axis=3) @ _GAUSS


def _down(x):
    return _blur(x)[:, :, ::2, ::2]


def _up(x):
    n, c, h, w = x.shape
    y = np.zeros((n, c, h * 2, w * 2), np.float32)
    y[:, :, ::2, ::2] = x * 4
    return _blur(y)


def laplacian_pyramid(images: np.ndarray, levels: int = len(LEVELS)) -> list[np.ndarray]:
    """uint8 (n, h, w, 3) -> [finest band-pass, ..., coarsest low-pass], each (n, 3, h', w')."""
    x = images.astype(np.float32).transpose(0, 3, 1, 2)
    pyramid = []
    for _ in range(levels - 1):
        small = _down(x)
        pyramid.append(x - _up(small))
        x = small
    pyramid.append(x)
    return pyramid


def _descriptors(level: np.ndarray, rng) -> np.ndarray:
    n, c, h, w = level.shape
    ys = rng.integers(0, h - PATCH + 1, (n, PATCHES_PER_IMAGE))
    xs = rng.integers(0, w - PATCH + 1, (n, PATCHES_PER_IMAGE))
    windows = sliding_window_view(level, (PATCH, PATCH), axis=(2, 3))  # n, c, h', w', 7, 7
    img = np.arange(n)[:, None]
    desc = windows[img, :, ys, xs]                                       # n, 128, c, 7, 7
    return desc.reshape(n * PATCHES_PER_IMAGE, c, PATCH * PATCH)


def _normalise(desc):
    desc = desc - desc.mean(axis=(0, 2), keepdims=True)
    desc /= desc.std(axis=(0, 2), keepdims=True) + 1e-8
    return desc.reshape(len(desc), -1)


def _sliced(a, b, rng):
    total = 0.0
    for _ in range(REPEATS):
        dirs = rng.standard_normal((a.shape[1], DIRECTIONS)).astype(np.float32)
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        total += float(np.mean(np.abs(pa - pb)))
    return total / REPEATS


def swd(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict[str, float]:
    """SWD x 1000 between two equally sized uint8 image sets, per level and mean."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("SWD needs two image sets of the same size, at least 2 each")
    rng = np.random.default_rng(seed)
    out = {}
    for res, la, lb in zip(LEVELS, laplacian_pyramid(a), laplacian_pyramid(b)):
        da, db = _normalise(_descriptors(la, rng)), _normalise(_descriptors(lb, rng))
        out[f"swd_{res}"] = _sliced(da, db, rng) * 1e3
    out["swd"] = float(np.mean([out[f"swd_{r}"] for r in LEVELS]))
    return out


# ---------------------------------------------------------------------------------------------
# MS-SSIM
# ---------------------------------------------------------------------------------------------

def _gauss_filter(x, size, sigma):
    """'valid' separable Gaussian over axes 1, 2 of x (n, h, w, c)."""
    g = np.exp(-0.5 * np.square(np.arange(size) - (size - 1) / 2) / sigma**2)
    g = (g / g.sum()).astype(np.float64)
    x = sliding_window_view(x, size, axis=1) @ g
    return sliding_window_view(x, size, axis=2) @ g


def _ssim(a, b, max_val=255.0, size=11, sigma=1.5):
    """Per-pair (ssim, contrast-structure) of float64 batches (n, h, w, c)."""
    h, w = a.shape[1:3]
    size_used = min(size, h, w)
    sigma = sigma * size_used / size
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    mu_a, mu_b = _gauss_filter(a, size_used, sigma), _gauss_filter(b, size_used, sigma)
    s_aa = _gauss_filter(a * a, size_used, sigma) - mu_a**2
    s_bb = _gauss_filter(b * b, size_used, sigma) - mu_b**2
    s_ab = _gauss_filter(a * b, size_used, sigma) - mu_a * mu_b
    cs = (2 * s_ab + c2) / (s_aa + s_bb + c2)
    ssim = ((2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)) * cs
    return ssim.mean(axis=(1, 2, 3)), cs.mean(axis=(1, 2, 3))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MS-SSIM of each pair (a[i], b[i]) of uint8 images (n, h, w, 3), 5 scales."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mcs = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        ssim, cs = _ssim(a, b)
        mcs.append(cs)
        if scale < len(MS_SSIM_WEIGHTS) - 1:
            a = (a[:, 0::2, 0::2] + a[:, 1::2, 0::2] + a[:, 0::2, 1::2] + a[:, 1::2, 1::2]) / 4
            b = (b[:, 0::2, 0::2] + b[:, 1::2, 0::2] + b[:, 0::2, 1::2] + b[:, 1::2, 1::2]) / 4
    mcs = np.maximum(np.stack(mcs[:-1], axis=1), 0.0)
    ssim = np.maximum(ssim, 0.0)
    return np.prod(mcs ** MS_SSIM_WEIGHTS[:-1], axis=1) * ssim ** MS_SSIM_WEIGHTS[-1]


def mean_pair_ms_ssim(images: np.ndarray, pairs: int = 512, seed: int = 0) -> float:
    """Mean MS-SSIM of random pairs of distinct images from one set."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(images), pairs)
    j = (i + rng.integers(1, len(images), pairs)) % len(images)
    return float(np.mean(np.concatenate([ms_ssim(images[i[k:k + 128]], images[j[k:k + 128]])
                                         for k in range(0, pairs, 128)])))


# ---------------------------------------------------------------------------------------------
# Both, with the real-vs-real floor beside them
# ---------------------------------------------------------------------------------------------

def real_floor(real: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The real-vs-real figures for `compare`: the second half of `real` against the first."""
    n = len(real) // 2
    floor = {f"real_{k}": v for k, v in swd(real[n:2 * n], real[:n], seed).items()}
    floor["real_ms_ssim"] = mean_pair_ms_ssim(real[:n], seed=seed)
    return floor


def compare(fakes: np.ndarray, real: np.ndarray, seed: int = 0,
            floor: dict | None = None) -> dict[str, float]:
    """Quality of generated images against real ones.

    Uses n = min(len(fakes), len(real) // 2) images: fakes vs the first n real, and, as the
    floor, the next n real vs the first n (pass `floor` from `real_floor` to reuse it).
    """
    n = min(len(fakes), len(real) // 2)
    if n < 8:
        raise ValueError(f"quality needs at least 8 generated and 16 real images, got "
                         f"{len(fakes)} and {len(real)}")
    out = swd(fakes[:n], real[:n], seed)
    out.update(floor if floor is not None else real_floor(real[:2 * n], seed))
    out["ms_ssim"] = mean_pair_ms_ssim(fakes[:n], seed=seed)
    out["n"] = n
    return out
