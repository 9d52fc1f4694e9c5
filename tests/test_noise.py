"""Player id -> z: deterministic, distinct, standard normal, and reproducible from the spec."""

import hashlib
import math
import struct

import numpy as np
import pytest

from gan_core import noise

NS = "gan-studio/v1/0123456789abcdef"


def test_vectors():
    # The documented recipe, step by step, for id "player-1": the first block's first two
    # 64-bit words give the first two normals. A port in any language must match these.
    block = hashlib.sha256(f"{NS}\nplayer-1\n".encode() + struct.pack(">I", 0)).digest()
    x1, x2 = struct.unpack(">QQ", block[:16])
    u1, u2 = ((x1 >> 11) + 0.5) / 2**53, ((x2 >> 11) + 0.5) / 2**53
    r = math.sqrt(-2 * math.log(u1))
    z = noise.for_id("player-1", 100, NS)
    assert z[0] == pytest.approx(r * math.cos(2 * math.pi * u2), abs=1e-6)
    assert z[1] == pytest.approx(r * math.sin(2 * math.pi * u2), abs=1e-6)
    # Frozen values: changing the recipe must be a new version.
    np.testing.assert_allclose(noise.for_id("player-1", 4, NS)[:2], z[:2], atol=0)


def test_deterministic_and_distinct():
    a = noise.for_id("alice", 100, NS)
    assert a.shape == (100,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, noise.for_id("alice", 100, NS))
    assert not np.allclose(a, noise.for_id("alice ", 100, NS))
    assert not np.allclose(a, noise.for_id("alice", 100, NS.replace("0123", "9999")))
    assert noise.for_id("bob", 7, NS).shape == (7,)


def test_looks_standard_normal():
    z = np.concatenate([noise.for_id(f"p{i}", 100, NS) for i in range(200)])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


def test_empty_id_is_refused():
    with pytest.raises(ValueError):
        noise.for_id("  ", 100, NS)


def test_the_explorers_seeds_and_training_streams():
    z = noise.for_seed(7, 100)
    assert z.shape == (100,) and z.dtype == np.float32
    np.testing.assert_array_equal(noise.for_seed(7, 100, n=3)[0], z)     # many: first row is it
    faces = noise.for_seeds(5, 3, 100)                # generate --seed 5: seeds 5, 6, 7
    np.testing.assert_array_equal(faces[2], z)
    assert noise.for_seeds(5, 0, 100).shape == (0, 100)
    a = noise.draw(1, noise.TRAIN, 10, 4, 8)
    np.testing.assert_array_equal(a, noise.draw(1, noise.TRAIN, 10, 4, 8))  # (seed, stream, step)
    assert not np.allclose(a, noise.draw(1, noise.TRAIN, 11, 4, 8))
    assert not np.allclose(a, noise.draw(1, noise.FIXED, 10, 4, 8))
