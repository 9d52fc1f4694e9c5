"""Every z: player id -> z (deterministic, distinct, standard normal, reproducible from the spec), and the explorer's seeds."""

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
