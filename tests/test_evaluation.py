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


def test_the_sweep_table_shows_the_sharper_ruler_beside_swd():
    from gan_core import sweep
    floor = {"real_swd_64": 7.4, "real_swd_32": 6.1, "real_swd_16": 10.9, "real_swd": 8.1,
             "real_ms_ssim": 0.353, "precision_real": 0.713, "recall_real": 0.685,
             "coverage_real": 0.881, "kid_real": 0.0014, "mean_rgb": [174, 149, 144],
             "std_rgb": [73, 73, 68]}
    row = {"candidate": "studio", "weights": "average", "minutes": 5, "images_seen": 115008,
           "img_per_s": 382.5, "swd_64": 39.4, "swd_32": 35.1, "swd_16": 30.4, "swd": 35.0,
           "ms_ssim": 0.69, "precision": 0.031, "recall": 0.0, "coverage": 0.005, "kid": 5.221,
           "mean_rgb": [176, 152, 147], "std_rgb": [69, 69, 66]}
    lines = sweep.table([row], floor).splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = dict(zip(head, (c.strip() for c in lines[2].strip("|").split("|"))))
    real = dict(zip(head, (c.strip() for c in lines[3].strip("|").split("|"))))
    assert len(lines[1].split("|")) == len(lines[0].split("|"))    # a table Markdown draws
    assert cells["precision / recall"] == "0.031 / 0.000" and cells["KID"] == "5.221"
    assert cells["coverage"] == "0.005" and cells["images seen"] == "115,008"
    assert real["precision / recall"] == "0.713 / 0.685" and real["KID"] == "0.001"
