"""Every z in GAN Studio, and every other seeded random draw of training: the one place that
says how a seed becomes numbers. It sits at the bottom of the house (NumPy only).

Three kinds of z:
- `for_seed(seed, d)`: the explorer's face of a seed. `generate --seed S --n N` draws seeds
  S, S+1, ..., S+N-1 (`for_seeds`): its first face is the explorer's seed S.
- `draw(seed, stream, counter, n, d)`: training's batches. Each draw is a function of
  (seed, stream, counter) alone, so a resumed run draws exactly what it would have drawn.
- `for_id(player_id, d, namespace)`: a player's avatar, portable to any language (below).

A player id's z, recipe version 1, for a latent size d and a model file:
1. namespace = "gan-studio/v1/" + the first 16 hex digits of SHA-256 of the model file.
2. For counter = 0, 1, 2, ...: block = SHA-256(namespace + "\\n" + id + "\\n" + counter as
   4 bytes big-endian), all text UTF-8. Each block gives four 64-bit big-endian integers x;
   each x becomes u = ((x >> 11) + 0.5) / 2^53, uniform in (0, 1).
3. Box-Muller on consecutive pairs (u1, u2): r = sqrt(-2 ln u1); the normals are
   r cos(2 pi u2) and r sin(2 pi u2). The first d normals are z.
NumPy's random generators are not used there: their streams are not promised across
versions. The tests hold test vectors; changing anything in it is a new version.
"""

from __future__ import annotations

import hashlib
import math
import struct

import numpy as np

# -- training's streams ---------------------------------------------------------------------
TRAIN, EPOCH_ORDER, FIXED, QUALITY, BATCHNORM, AUGMENT = 1, 2, 3, 4, 5, 6
ENCODER, PROJECT = 7, 8       # the encoder's training z; projection's random starts


def rng(seed: int, stream: int, counter: int = 0) -> np.random.Generator:
    """The generator of one (seed, stream, counter): epoch orders, augmentation draws."""
    return np.random.default_rng([seed, stream, counter])


def draw(seed: int, stream: int, counter: int, n: int, latent_dim: int) -> np.ndarray:
    """float32 (n, latent_dim) from N(0, 1): a step's noise (counter = the step), the
    fixed sample noise, the quality noise."""
    return rng(seed, stream, counter).standard_normal((n, latent_dim), np.float32)


MAX_LATENT = 4096       # the longest z a generator here takes (GANConfig's latent_dim)


# -- the explorer's seeds -------------------------------------------------------------------
MAX_SEED = 10**9

def for_seed(seed: int, latent_dim: int, n: int | None = None) -> np.ndarray:
    """The explorer's z for a seed: float32 (latent_dim,); with n, (n, latent_dim) whose
    first row is that z."""
    shape = (latent_dim,) if n is None else (n, latent_dim)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def for_seeds(first: int, n: int, latent_dim: int) -> np.ndarray:
    """The explorer's faces of seeds first, first + 1, ..., first + n - 1."""
    return np.stack([for_seed(first + i, latent_dim) for i in range(n)]) if n else \
        np.zeros((0, latent_dim), np.float32)


# -- player ids -----------------------------------------------------------------------------
VERSION = "v1"
MAX_ID_BYTES = 256      # what an id may be, for the API, generate --ids and the explorer alike


def check_id(player_id: str) -> str:
    """A player id as every reader takes it: not blank, at most MAX_ID_BYTES of UTF-8."""
    size = len(player_id.encode("utf-8", "surrogatepass"))
    if size > MAX_ID_BYTES:
        raise ValueError(f"an id is at most {MAX_ID_BYTES} bytes of UTF-8; this one has "
                         f"{size:,}")
    if not player_id.strip():
        raise ValueError("an id cannot be empty")
    return player_id


def model_hash(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def namespace(model_path) -> str:
    return namespace_of(model_hash(model_path))


def namespace_of(digest: str) -> str:
    return f"gan-studio/{VERSION}/{digest}"


def for_id(player_id: str, latent_dim: int, ns: str) -> np.ndarray:
    """float32 (latent_dim,) for this id in this namespace."""
    player_id = str(player_id)
    if not player_id.strip():
        raise ValueError("a player id cannot be empty")
    uniforms = []
    counter = 0
    while len(uniforms) < latent_dim + (latent_dim % 2):
        block = hashlib.sha256(f"{ns}\n{player_id}\n".encode() + struct.pack(">I", counter))
        for (x,) in struct.iter_unpack(">Q", block.digest()):
            uniforms.append(((x >> 11) + 0.5) / 2.0**53)
        counter += 1
    z = []
    for u1, u2 in zip(uniforms[0::2], uniforms[1::2]):
        r = math.sqrt(-2.0 * math.log(u1))
        z += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
    return np.array(z[:latent_dim], np.float32)
