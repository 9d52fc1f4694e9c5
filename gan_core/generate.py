"""Loading a generator and calling it fast and thread-safely, for the CLI, the pages and the
benchmark. `model.predict` is neither fast for one image nor thread-safe; a compiled inference
function behind a lock is both."""

from __future__ import annotations

import json
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from . import files, images

BATCH = 256   # images per generator call: bounded memory for any n


# A .keras file is a program: its config names the classes Keras will build. safe_mode stops
# pickled lambdas, but it has been bypassed by several CVEs since 2024, so a file from outside
# is first checked against the only classes a GAN Studio generator is made of.
ALLOWED_CLASSES = {
    "keras.layers": {"InputLayer", "Reshape", "Dense", "Conv2D", "Conv2DTranspose",
                     "BatchNormalization", "ReLU", "LeakyReLU", "Activation", "Flatten",
                     "Dropout"},
    "keras.initializers": {"Ones", "Zeros", "Constant", "RandomNormal", "TruncatedNormal",
                           "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform"},
    "keras": {"DTypePolicy", "FloatDTypePolicy"},
    "keras.src.models.functional": {"Functional"},
    "keras.src.models.sequential": {"Sequential"},
    None: {"__keras_tensor__"},
}
ALLOWED_ACTIVATIONS = {"tanh", "sigmoid", "relu", "linear", "leaky_relu"}


def check_config(path):
    """Refuse a .keras file whose config names anything but known layer types."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ValueError(f"{Path(path).name} is not a Keras model file (.keras)") from None

    def walk(node):
        if isinstance(node, dict):
            if "class_name" in node:
                module, name = node.get("module"), node["class_name"]
                known = ALLOWED_CLASSES.get(module, ()) if isinstance(module, (str, type(None))) \
                    else ()
                if not isinstance(name, str) or name not in known:
                    raise ValueError(f"{Path(path).name} contains {name!r} "
                                     f"({module or 'no module'}), which a generator never "
                                     "holds; it was not loaded")
            activation = node.get("activation")
            if activation is not None and (not isinstance(activation, str)
                                           or activation not in ALLOWED_ACTIVATIONS):
                raise ValueError(f"{Path(path).name} uses the activation {activation!r}, "
                                 "which a generator never holds; it was not loaded")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)


def load_generator(path) -> keras.Model:
    """A generator .keras file: its config checked (`check_config`), then loaded with
    safe_mode (no arbitrary code)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such model file: {path}")
    check_config(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a bad file
        raise ValueError(f"{path.name} is not a loadable generator: {error}") from None
    shape = tuple(model.input_shape)
    if len(shape) != 2 or tuple(model.output_shape[1:]) != (64, 64, 3):
        raise ValueError(f"{path.name} is not a generator of 64x64 RGB images from a flat z "
                         f"(input {shape}, output {model.output_shape})")
    return model


class Generator:
    """z (n, latent) -> uint8 images (n, 64, 64, 3), compiled once, one call at a time."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.latent_dim = int(model.input_shape[-1])
        self._lock = threading.Lock()
        if keras.backend.backend() == "jax":
            import jax

            state = ([v.value for v in model.trainable_variables],
                     [v.value for v in model.non_trainable_variables])
            fn = jax.jit(lambda t, n, z: model.stateless_call(t, n, z, training=False)[0])
            self._call = lambda z: fn(*state, z)
        else:
            import tensorflow as tf

            self._call = tf.function(lambda z: model(z, training=False), reduce_retracing=True)

    @classmethod
    def load(cls, path) -> Generator:
        return cls(load_generator(path))

    def __call__(self, z) -> np.ndarray:
        """All of z, in batches of at most BATCH."""
        return np.concatenate([imgs for _, imgs in self.batches(z)])

    def batches(self, z, batch=BATCH):
        """(offset, uint8 images) for each batch of z: one compiled call each."""
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        for i in range(0, len(z), batch):
            with self._lock:
                out = keras.ops.convert_to_numpy(self._call(z[i:i + batch]))
            yield i, images.to_uint8(out)


def write_pngs(gen: Generator, z, names, out, batch=BATCH) -> int:
    """Generate one PNG per row of z: into a folder (name.png) or a .zip. PNG encoding runs in
    threads (zlib releases the GIL) while the next batch is generated."""
    out = Path(out)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        if out.suffix == ".zip":
            with files.atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
                for i, imgs in gen.batches(z, batch):
                    for name, data in zip(names[i:], pool.map(images.png_bytes, imgs)):
                        zf.writestr(f"{name}.png", data)
        else:
            out.mkdir(parents=True, exist_ok=True)
            for i, imgs in gen.batches(z, batch):
                encoded = pool.map(images.png_bytes, imgs)
                list(pool.map(lambda nd: files.write_bytes(out / f"{nd[0]}.png", nd[1]),
                              zip(names[i:], encoded)))
    return len(z)
