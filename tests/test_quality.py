"""SWD and MS-SSIM: they tell real from fake, and collapse from variety."""

import numpy as np

from gan_core import faces, quality


def test_swd_is_small_for_the_same_distribution_and_large_otherwise():
    real, _ = faces.sample(128, seed=0)
    more_real, _ = faces.sample(128, seed=1)
    noise = np.random.default_rng(0).integers(0, 256, real.shape).astype(np.uint8)
    same = quality.swd(real, more_real)
    different = quality.swd(real, noise)
    assert set(same) == {"swd_64", "swd_32", "swd_16", "swd"}
    for key in same:
        assert same[key] * 3 < different[key], key


def test_ms_ssim_of_an_image_with_itself_is_one():
    imgs, _ = faces.sample(4, seed=0)
    np.testing.assert_allclose(quality.ms_ssim(imgs, imgs), 1.0, atol=1e-9)
    other, _ = faces.sample(4, seed=1)
    assert (quality.ms_ssim(imgs, other) < 0.9).all()


def test_collapsed_generator_scores_high_ms_ssim():
    varied, _ = faces.sample(64, seed=0)
    collapsed = np.repeat(varied[:1], 64, axis=0)
    collapsed = np.clip(collapsed + np.random.default_rng(0).integers(-3, 4, collapsed.shape),
                        0, 255).astype(np.uint8)
    assert quality.mean_pair_ms_ssim(collapsed) > 0.9 > quality.mean_pair_ms_ssim(varied)


def test_compare_reports_the_real_floor():
    real, _ = faces.sample(64, seed=0)
    fakes = np.random.default_rng(0).integers(0, 256, (32, 64, 64, 3)).astype(np.uint8)
    out = quality.compare(fakes, real)
    assert out["n"] == 32 and out["swd"] > out["real_swd"]
    assert 0 <= out["real_ms_ssim"] <= 1
