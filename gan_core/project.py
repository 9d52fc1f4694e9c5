"""Projection: the z whose face looks most like a given picture, and how close it came.

Hybrid inversion, as the public projectors do it:
1. Starts: the encoder's guess (`gan_core.encoder`), and the best of a few dozen random z by
   LPIPS, so a picture the encoder misreads still has a fair start.
2. Adam on all starts at once, each row its own z, on LPIPS + a pixel term + a prior that keeps
   ‖z‖ near the length random z have (a z far outside it makes faces the sliders cannot
   steer: the explorer's typicality meter). The learning rate ramps down on a cosine.
3. The row with the lowest loss wins; its face is made again through `Generator`, so the PNG
   the explorer saves gives the same bytes when reloaded.

A picture reaches it as `data.decode` makes every upload: a centred square crop of any size,
mode or orientation, 64x64 RGB, with the same refusals.

`project(...)` yields Progress (with the best face so far every few steps), then one
Projection. The gradient is the one thing per backend (TensorFlow's tape, JAX's grad); Adam on
z is NumPy: z is a few hundred numbers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from . import encoder, generate, latent, noise, perceptual

STEPS, RESTARTS = 200, 4           # the explorer's and the CLI's defaults
MAX_STEPS, MAX_RESTARTS = 5_000, 32
CANDIDATES = 48                    # random z scored once, for the random starts
LR = 0.08
PIXEL_WEIGHT = 0.5                 # mean squared error, pixels in [-1, 1]
PRIOR_WEIGHT = 0.003               # per squared chi standard deviation of ‖z‖ from its mean
# Judged on VGG16's LPIPS, which the optimisation does not descend, so it cannot be fooled by
# it: held-out real faces land at 0.25-0.46, drawn faces of another style at 0.57-0.71.
FAR = 0.5


@dataclass(frozen=True)
class Progress:
    step: int
    steps: int
    lpips: float                   # the best row's, at this step
    image: np.ndarray | None       # uint8 (64, 64, 3) of the best row, every few steps


@dataclass(frozen=True)
class Projection:
    z: np.ndarray                  # float32 (latent_dim,)
    image: np.ndarray              # uint8 (64, 64, 3): G(z), as the explorer draws it
    lpips: float                   # LPIPS (the net it descended) of image against the picture
    lpips_vgg: float               # VGG16's LPIPS: the judge of "far"
    psnr: float                    # dB, uint8 pixels
    percentile: float              # ‖z‖ among random z (the explorer's meter)
    seconds: float
    encoder: bool                  # whether an encoder gave a start

    @property
    def far(self) -> bool:
        return self.lpips_vgg > FAR

    def summary(self) -> dict:
        return {"lpips": round(self.lpips, 4), "lpips_vgg": round(self.lpips_vgg, 4),
                "psnr": round(self.psnr, 2),
                "z_norm_percentile": round(self.percentile, 1),
                "seconds": round(self.seconds, 2), "encoder": self.encoder, "far": self.far}


def psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def check(steps: int, restarts: int):
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be from 1 to {MAX_STEPS:,}, not {steps}")
    if not 1 <= restarts <= MAX_RESTARTS:
        raise ValueError(f"restarts must be from 1 to {MAX_RESTARTS}, not {restarts}")


class Projector:
    """One generator's projection: its compiled loss and gradient, built once."""

    def __init__(self, gen: generate.Generator, enc: keras.Model | None = None,
                 net: str = "alex"):
        """net: the LPIPS descended. AlexNet by default; VGG16 gives cleaner faces for about
        four times the time per step."""
        self.gen, self.enc, self.d = gen, enc, gen.latent_dim
        self.lpips = perceptual.lpips(net)
        self.mean = latent.chi_mean(self.d)
        self.spread = math.sqrt(max(self.d - self.mean ** 2, 1e-6))   # chi's standard deviation
        self.grad = _tensorflow_grad(self) if keras.backend.backend() != "jax" \
            else _jax_grad(self)

    def losses(self, z, target):
        """Per row: (total loss, LPIPS), backend tensors; target is one image in [-1, 1]."""
        fake = ops.cast(self.gen.model(z, training=False), "float32")
        target = ops.broadcast_to(target, ops.shape(fake))
        lp = self.lpips.distance(fake, target)
        pixel = ops.mean((fake - target) ** 2, axis=(1, 2, 3))
        norm = ops.sqrt(ops.sum(z ** 2, axis=1))
        prior = ((norm - self.mean) / self.spread) ** 2
        return lp + PIXEL_WEIGHT * pixel + PRIOR_WEIGHT * prior, lp

    def starts(self, target, restarts: int, seed: int) -> np.ndarray:
        rows = []
        if self.enc is not None:
            rows.append(keras.ops.convert_to_numpy(
                self.enc(encoder.scale(target[None]), training=False))[0])
        pool = noise.draw(seed, noise.PROJECT, 0, CANDIDATES, self.d)
        scores = self.lpips(self.gen(pool), np.repeat(target[None], CANDIDATES, 0))
        rows.extend(pool[np.argsort(scores)[:restarts - len(rows)]])
        return np.stack(rows[:restarts]).astype(np.float32)


def project(projector: Projector, target: np.ndarray, steps: int = STEPS,
            restarts: int = RESTARTS, seed: int = 0, every: int = 20):
    """Yield Progress each step (a face every `every` steps), then the Projection of the
    uint8 (64, 64, 3) `target`. The same target, settings and seed give the same z."""
    check(steps, restarts)
    started = time.perf_counter()
    target = np.asarray(target, np.uint8)
    goal = encoder.scale(target)[None]
    z = projector.starts(target, restarts, seed)
    m, v = np.zeros_like(z), np.zeros_like(z)
    b1, b2 = 0.9, 0.999
    best_z, best_loss = z.copy(), np.full(len(z), np.inf)
    for t in range(1, steps + 1):
        loss, lp, grad = projector.grad(z, goal)
        better = loss < best_loss
        best_loss[better], best_z[better] = loss[better], z[better]
        lr = LR * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps))
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        z = z - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-8)
        row = int(np.argmin(best_loss))
        shown = projector.gen(best_z[row])[0] if t % every == 0 or t == 1 else None
        yield Progress(t, steps, float(lp[int(np.argmin(loss))]), shown)
    loss, _, _ = projector.grad(z, goal)          # the last step's z, scored too
    better = loss < best_loss
    best_loss[better], best_z[better] = loss[better], z[better]
    z_best = best_z[int(np.argmin(best_loss))].astype(np.float32)
    image = projector.gen(z_best)[0]
    yield Projection(z_best, image, float(projector.lpips(image[None], target[None])[0]),
                     float(perceptual.lpips("vgg")(image[None], target[None])[0]),
                     psnr(image, target), latent.typicality(z_best)["percentile"],
                     time.perf_counter() - started, projector.enc is not None)


def last(events):
    """The Projection at the end of `project(...)`, for callers that need no progress."""
    for event in events:
        pass
    return event


# --- The gradient of the loss in z, per backend ------------------------------------------------

def _tensorflow_grad(p: Projector):
    import tensorflow as tf

    @tf.function(autograph=False, reduce_retracing=True)
    def step(z, goal):
        with tf.GradientTape() as tape:
            tape.watch(z)
            total, lp = p.losses(z, goal)
            summed = tf.reduce_sum(total)
        return total, lp, tape.gradient(summed, z)

    def grad(z, goal):
        total, lp, g = step(tf.constant(z), tf.constant(goal))
        return total.numpy(), lp.numpy(), g.numpy()
    return grad


def _jax_grad(p: Projector):
    import jax

    def summed(z, goal):
        total, lp = p.losses(z, goal)
        return total.sum(), (total, lp)

    step = jax.jit(jax.value_and_grad(summed, has_aux=True))

    def grad(z, goal):
        (_, (total, lp)), g = step(z, goal)
        return np.asarray(total), np.asarray(lp), np.asarray(g)
    return grad
