"""Loading a generator and calling it fast and thread-safely, for the CLI, the pages and the
benchmark. `model.predict` is neither fast for one image nor thread-safe; a compiled inference
function behind a lock is both."""

from __future__ import annotations

import json
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from . import dcgan, files, images
from .presets import IMAGE_SHAPE

BATCH = 256   # images per batch: bounded memory for any n
# Rows per compiled call, always (see Generator.batches). A call costs a fixed part plus its
# rows, whatever they hold (shipped G, float32, 2 cores, CPU time per image: 8 rows 1.00 ms,
# 16 rows 0.66 ms, 32 or 64 rows 0.64 ms; one call of 16 takes 6.4 ms, of 8 5.1 ms): 16 is
# where the fixed part stops mattering, and one explorer face pays 1.3 ms more than at 8.
CALL_ROWS = 16
PRECISIONS = ("float32", "bfloat16")


# A .keras file is a program: its config names the classes Keras will build. safe_mode stops
# pickled lambdas, but it has been bypassed by several CVEs since 2024, so a file from outside
# is first checked against the only classes a GAN Studio generator is made of.
ALLOWED_CLASSES = {
    "keras.layers": {"InputLayer", "Reshape", "Dense", "Conv2D", "Conv2DTranspose",
                     "BatchNormalization", "ReLU", "LeakyReLU", "Activation", "Flatten",
                     "Dropout"},
    "keras.initializers": {"Ones", "Zeros", "Constant", "RandomNormal", "TruncatedNormal",
                           "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform"},
    # Keras 3.15 saves a Sequential model's module as plain "keras"
    "keras": {"DTypePolicy", "FloatDTypePolicy", "Sequential", "Functional"},
    "keras.src.models.functional": {"Functional"},
    "keras.src.models.sequential": {"Sequential"},
    None: {"__keras_tensor__"},
}
ALLOWED_ACTIVATIONS = {"tanh", "sigmoid", "relu", "linear", "leaky_relu"}


MAX_CONFIG_BYTES = 1 * 2**20          # a generator's config.json is about 10 KB
MAX_WEIGHTS_BYTES = 256 * 2**20       # the shipped one is 14 MB in float32
MAX_PARAMETERS = 50_000_000           # the shipped one has 3.6 M


def check_config(path):
    """Refuse a .keras file whose config names anything but known layer types, whose entries
    are too large, or whose layers would hold too many weights; all read from the archive's
    directory and its (bounded) config, before Keras builds or allocates anything."""
    name = Path(path).name
    try:
        with zipfile.ZipFile(path) as archive:
            entries = {info.filename: info for info in archive.infolist()}
            if "config.json" not in entries:
                raise KeyError("config.json")
            for info in entries.values():
                limit = MAX_CONFIG_BYTES if info.filename.endswith(".json") else MAX_WEIGHTS_BYTES
                if info.file_size > limit:
                    raise ValueError(f"{name} refused: its {info.filename} would unpack to "
                                     f"{info.file_size / 2**20:,.0f} MB (limit "
                                     f"{limit / 2**20:,.0f} MB)")
            with archive.open("config.json") as f:       # bounded, whatever the header says
                raw = f.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ValueError(f"{name} refused: its config.json is over "
                                 f"{MAX_CONFIG_BYTES // 2**20} MB")
            config = json.loads(raw)
    except RecursionError:
        raise ValueError(f"{name} refused: its config is nested too deeply") from None
    except ValueError as error:
        if "refused" in str(error):
            raise
        raise ValueError(f"{name} is not a Keras model file (.keras)") from None
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError):
        raise ValueError(f"{name} is not a Keras model file (.keras)") from None
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

    try:
        walk(config)
    except RecursionError:
        raise ValueError(f"{name} refused: its config is nested too deeply") from None
    parameters = count_parameters(config)
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"{name} refused: its layers would hold {parameters:,} weights "
                         f"(a generator here has at most {MAX_PARAMETERS:,})")


def count_parameters(config) -> int:
    """The weights a chain of layers would hold, from the config alone: each layer's input
    channels are the previous layer's output channels. An upper bound is all it must be: a
    generator is a chain, and a file that lies is refused before anything is built."""
    layers_ = (config.get("config") or {}).get("layers") if isinstance(config, dict) else None
    if not isinstance(layers_, list):
        raise ValueError("the config lists no layers")
    channels, total = 1, 0

    def number(value, default=1):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            return default
        return int(min(value, 10**12))

    for layer in layers_:
        if not isinstance(layer, dict):
            continue
        kind, cfg = layer.get("class_name"), layer.get("config") or {}
        if kind == "InputLayer":
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape") or [None, 1]
            channels = number(shape[-1]) if isinstance(shape, list) and shape else 1
        elif kind == "Reshape":
            shape = cfg.get("target_shape") or [1]
            channels = number(shape[-1]) if isinstance(shape, list) and shape else 1
        elif kind == "Dense":
            units = number(cfg.get("units"))
            total += channels * units + units
            channels = units
        elif kind in ("Conv2D", "Conv2DTranspose"):
            filters, kernel = number(cfg.get("filters")), cfg.get("kernel_size") or [1, 1]
            area = 1
            for k in kernel if isinstance(kernel, list) else [kernel, kernel]:
                area *= number(k)
            total += area * channels * filters + filters
            channels = filters
        elif kind == "BatchNormalization":
            total += 4 * channels
        if total > 10**15:
            break
    return total


def load_checked(path) -> keras.Model:
    """A .keras file made of GAN Studio's layers: its config checked (`check_config`), then
    loaded with safe_mode (no arbitrary code)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such model file: {path}")
    check_config(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a bad file
        raise ValueError(f"{path.name} is not a loadable model: {error}") from None


def load_generator(path) -> keras.Model:
    """A generator .keras file, checked as `load_checked` does, of 64x64 RGB faces."""
    path = Path(path)
    model = load_checked(path)
    shape = tuple(model.input_shape)
    if len(shape) != 2 or tuple(model.output_shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{path.name} is not a generator of 64x64 RGB images from a flat z "
                         f"(input {shape}, output {model.output_shape})")
    return model


def in_bfloat16(model: keras.Model) -> keras.Model:
    """The same generator computing in bfloat16 (weights kept in float32): about 1.5x faster
    on a CPU with bfloat16 instructions, with pixels a few levels (of 255) off float32's."""
    def policy(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
                return {**node, "class_name": "DTypePolicy",
                        "config": {**node.get("config", {}), "name": "mixed_bfloat16"}}
            return {key: policy(value) for key, value in node.items()}
        if isinstance(node, list):
            return [policy(value) for value in node]
        return node

    copy = model.__class__.from_config(policy(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


class Generator:
    """z (n, latent) -> uint8 images (n, 64, 64, 3), compiled once, one call at a time.
    precision "bfloat16" trades a few levels per pixel for speed (`in_bfloat16`)."""

    def __init__(self, model: keras.Model, precision: str = "float32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision}")
        if precision == "bfloat16":
            model = in_bfloat16(model)
        self.model = model
        self.latent_dim = int(model.input_shape[-1])
        self._lock = threading.Lock()
        if keras.backend.backend() == "jax":
            self._call = lambda z: dcgan.forward(model, z)       # compiled once per model
        else:
            import tensorflow as tf

            # No autograph (nothing to convert): see steps.py on its ast.parse and threads.
            self._call = tf.function(lambda z: model(z, training=False), reduce_retracing=True,
                                     autograph=False)

    @classmethod
    def load(cls, path, precision: str = "float32") -> Generator:
        return cls(load_generator(path), precision)

    def __call__(self, z) -> np.ndarray:
        """All of z, in batches of at most BATCH."""
        return np.concatenate([imgs for _, imgs in self.batches(z)])

    def batches(self, z, batch=BATCH):
        """(offset, uint8 images) for each batch of z: one compiled call each."""
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        for i in range(0, len(z), batch):
            part = z[i:i + batch]
            # Always CALL_ROWS rows a call (the last padded): the CPU kernels' sums can depend
            # on the batch's shape, and the same z must give the same bytes however requests
            # are grouped (one face in the explorer, a batch in the API or generate --ids).
            pad = -len(part) % CALL_ROWS
            padded = np.concatenate([part, np.zeros((pad, self.latent_dim), np.float32)])
            with self._lock:
                out = np.concatenate([keras.ops.convert_to_numpy(
                    self._call(padded[j:j + CALL_ROWS])) for j in range(0, len(padded),
                                                                         CALL_ROWS)])
            yield i, images.to_uint8(out[:len(part)])


MAX_IMAGES = 100_000     # one `generate --n` command: 1.2 GB of pixels, 40 MB of z


def write_npy(gen: Generator, z, out, batch=BATCH) -> int:
    """Generate into a uint8 .npy file (n, 64, 64, 3), batch by batch through a memory map,
    so the whole array never sits in memory."""
    with files.npy_sink(out, (len(z), *IMAGE_SHAPE)) as array:
        for offset, imgs in gen.batches(z, batch):
            array[offset:offset + len(imgs)] = imgs
    return len(z)


def encode(gen: Generator, z, each, batch=BATCH):
    """each(row, png bytes) for every row of z, in order, in one thread that encodes (and
    writes) each batch while the generator makes the next (both release the GIL); at most one
    batch waits, so memory is bounded for any n."""
    def save(offset, imgs):
        for i, image in enumerate(imgs):
            each(offset + i, images.png_bytes(image))

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for offset, imgs in gen.batches(z, batch):
            if pending is not None:
                pending.result()
            pending = pool.submit(save, offset, imgs)
        if pending is not None:
            pending.result()


def write_pngs(gen: Generator, z, names, out, batch=BATCH) -> int:
    """Generate one PNG per row of z: into a folder (name.png) or a .zip."""
    with files.png_sink(out) as write:
        encode(gen, z, lambda row, data: write(names[row], data), batch)
    return len(z)
