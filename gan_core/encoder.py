"""An encoder E: a face -> the z that made it, trained on the generator's own faces.

There is no limit to the pairs (G(z), z): each step draws fresh z, so E never sees the same
face twice and cannot overfit. E only has to land near the right z; `project` then refines it
on the picture itself. E is what makes projection a few seconds instead of a minute, and what
keeps it out of the wrong valley.

The encoder of `DIR/NAME.keras` is `DIR/NAME.encoder.keras` (`path_for`), so a run's
generator and the shipped one find theirs the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from . import files, generate, noise
from .presets import IMAGE_SHAPE

WIDTH = 32        # channels of the first conv; each stride-2 conv doubles them


def path_for(model_path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".encoder.keras")


def build(latent_dim: int) -> keras.Model:
    """64x64x3 in [-1, 1] -> z: four stride-2 convs (64 -> 4 px), then one dense layer."""
    x = inputs = keras.Input(IMAGE_SHAPE)
    for k in range(4):
        x = layers.Conv2D(WIDTH * 2**k, 4, strides=2, padding="same", use_bias=k == 0)(x)
        if k:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(latent_dim)(x), name="encoder")


def load(model_path, latent_dim: int) -> keras.Model | None:
    """The encoder beside a generator, or None when there is none or it is for another size
    of z (projection then starts from random z alone)."""
    path = path_for(model_path)
    if not path.exists():
        return None
    model = generate.load_checked(path)
    if tuple(model.input_shape[1:]) != IMAGE_SHAPE or model.output_shape[-1] != latent_dim:
        return None
    return model


def scale(images) -> np.ndarray:
    """uint8 faces -> float32 in [-1, 1], what E reads."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


@dataclass(frozen=True)
class Progress:
    step: int
    steps: int
    loss: float          # mean squared error in z, over the last steps
    seconds: float


def train(gen: generate.Generator, steps: int = 20_000, minutes: float | None = None,
          batch: int = 64, seed: int = 0, lr: float = 2e-4, every: int = 100):
    """Train a new encoder for `gen`; yields Progress every `every` steps, then the model.
    The faces go through `gen` (uint8), exactly as a picture reaches E."""
    model = build(gen.latent_dim)
    model.compile(optimizer=keras.optimizers.Adam(lr, beta_1=0.5), loss="mse")
    started, losses = time.perf_counter(), []
    for step in range(1, steps + 1):
        z = noise.draw(seed, noise.ENCODER, step, batch, gen.latent_dim)
        losses.append(float(model.train_on_batch(scale(gen(z)), z)))
        out_of_time = minutes is not None and time.perf_counter() - started > minutes * 60
        if step % every == 0 or step == steps or out_of_time:
            yield Progress(step, steps, float(np.mean(losses)), time.perf_counter() - started)
            losses = []
        if out_of_time:
            break
    yield model


def save(model: keras.Model, model_path) -> Path:
    """Written atomically beside its generator."""
    path = path_for(model_path)
    bare = build(model.output_shape[-1])      # without its optimizer: a third of the size
    bare.set_weights(model.get_weights())
    with files.atomic_path(path) as tmp:
        bare.save(tmp)
    return path
