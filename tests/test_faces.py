"""The built-in faces: deterministic, labelled, and every factor visible."""

import numpy as np
import pytest

from gan_core import faces


def test_same_seed_same_faces_and_random_access():
    a, labels_a = faces.sample(40, seed=3)
    b, labels_b = faces.sample(40, seed=3)
    assert a.dtype == np.uint8 and a.shape == (40, 64, 64, 3)
    np.testing.assert_array_equal(a, b)
    for key in labels_a:
        np.testing.assert_array_equal(labels_a[key], labels_b[key])
    # Any face can be drawn alone, and is the same face as in a batch.
    ds = faces.BuiltinFaces(40, seed=3)
    np.testing.assert_array_equal(ds[17], a[17])
    np.testing.assert_array_equal(ds[[5, 30]], a[[5, 30]])
    other, _ = faces.sample(40, seed=4)
    assert np.abs(a.astype(int) - other).mean() > 10


def test_enough_independent_factors():
    assert len(faces.FACTORS) >= 8
    assert faces.combinations() >= 1_000_000
    _, labels = faces.sample(4000, seed=0)
    for name, values in faces.FACTORS.items():
        counts = np.bincount(labels[name], minlength=len(values))
        assert (counts > 0).all(), f"{name} never takes some values"
    # Independent: hair colour tells nothing about eye colour.
    joint = np.histogram2d(labels["hair_colour"], labels["eye_colour"], bins=(12, 10))[0]
    expected = np.outer(joint.sum(1), joint.sum(0)) / joint.sum()
    chi2 = ((joint - expected) ** 2 / expected).sum()
    assert chi2 < 2 * (11 * 9)   # about its degrees of freedom when independent


@pytest.mark.parametrize("factor", list(faces.FACTORS))
def test_every_factor_changes_the_picture(factor):
    labels = faces.sample_labels(1, seed=11)
    labels["glasses"][:] = 0
    values = []
    for v in range(len(faces.FACTORS[factor])):
        changed = {k: a.copy() for k, a in labels.items()}
        changed[factor][:] = v
        values.append(faces.render(changed)[0].astype(int))
    for v in range(1, len(values)):
        assert np.abs(values[v] - values[0]).sum() > 200, f"{factor}={v} looks like {factor}=0"


def test_hair_colour_is_where_the_hair_is():
    labels = faces.sample_labels(12, seed=5)
    labels["hair_colour"][:] = np.arange(12)
    labels["ribbon"][:] = 0
    imgs = faces.render(labels).astype(float)
    top = np.median(imgs[:, 13:16, 26:38].reshape(12, -1, 3), axis=1) / 255  # the crown
    nearest = np.argmin(((top[:, None] - faces.HAIR[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, np.arange(12))


def test_the_hair_colour_reader_reads_the_labels_back():
    imgs, labels = faces.sample(1200, seed=21)
    read = faces.hair_colours(imgs)
    assert (read == labels["hair_colour"]).mean() > 0.99
    # A generator that only makes blue hair: every share but blue is zero.
    only_blue = {k: v.copy() for k, v in labels.items()}
    only_blue["hair_colour"][:] = faces.FACTORS["hair_colour"].index("blue")
    shares = faces.hair_colour_shares(faces.render({k: v[:200] for k, v in only_blue.items()}))
    assert shares["blue"] > 0.99 and sum(shares.values()) == pytest.approx(1.0)


def test_bad_size_is_refused():
    with pytest.raises(ValueError):
        faces.BuiltinFaces(0)
