"""The one evaluation: a row of every figure beside its real-vs-real value, as evaluate,
sweep and card report it, truncation rows included."""

import numpy as np

from gan_core import card, data, evaluation, fidelity, generate, noise, settings


def test_card_measures_the_generator_its_truncations_and_the_floor(tmp_path):
    held_out = data.load("builtin:48")
    rows = card.make(None, settings.SHIPPED_GENERATOR, None, held_out, tmp_path, n=16)
    assert set(rows) == {"new", "truncation 0.7", "truncation 0.5", "real"}
    assert (tmp_path / "samples.png").stat().st_size > 0 and not (tmp_path / "curves.png").exists()
    for name in ("new", "truncation 0.7", "truncation 0.5"):
        row = rows[name]
        for key in (*fidelity.KEYS, "swd", "ms_ssim"):
            assert np.isfinite(row[key]), (name, key)
        assert row["precision_real"] == rows["new"]["precision_real"]     # one floor
    for key in fidelity.KEYS:
        assert f"{key}_real" in rows["real"]
    # Drawn faces are another style: the generator's anime faces are far from them.
    assert rows["new"]["kid"] > rows["real"]["kid_real"]


def test_the_quality_stream_is_drawn_the_same_for_everyone():
    gen = generate.Generator.load(settings.SHIPPED_GENERATOR)
    a = evaluation.fakes(gen, 20, seed=3)
    np.testing.assert_array_equal(a[:5], evaluation.fakes(gen, 5, seed=3))
    half = evaluation.fakes(gen, 4, seed=3, psi=0.5)
    np.testing.assert_array_equal(
        half, gen(noise.draw(3, noise.QUALITY, 0, 4, gen.latent_dim) * np.float32(0.5)))
