"""A player id -> its own z, portably: a game server in any language can reproduce it.

The recipe (version 1), for a latent size d and a model file:
1. namespace = "gan-studio/v1/" + the first 16 hex digits of SHA-256 of the model file.
2. For counter = 0, 1, 2, ...: block = SHA-256(namespace + "\\n" + id + "\\n" + counter as
   4 bytes big-endian), all text UTF-8. Each block gives four 64-bit big-endian integers x;
   each x becomes u = ((x >> 11) + 0.5) / 2^53, uniform in (0, 1).
3. Box-Muller on consecutive pairs (u1, u2): r = sqrt(-2 ln u1); the normals are
   r cos(2 pi u2) and r sin(2 pi u2). The first d normals are z.

NumPy's random generators are not used: their streams are not promised across versions.
The tests hold test vectors; changing anything here is a new version.
"""

from __future__ import annotations

import hashlib
import math
import struct

import numpy as np

VERSION = "v1"


def model_hash(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def namespace(model_path) -> str:
    return f"gan-studio/{VERSION}/{model_hash(model_path)}"


def z_for_id(player_id: str, latent_dim: int, ns: str) -> np.ndarray:
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
