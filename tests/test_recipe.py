"""The recipe options: spectral norm in D, hinge loss, DiffAugment, lazy R1, the ramped
average and width; each checked against a NumPy reference or its defining property, and the
whole set trained on both backends."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from gan_core import dcgan, presets, steps

ROOT = Path(__file__).resolve().parents[1]


def test_spectral_conv_divides_by_the_power_iteration_estimate():
    layer = dcgan.SpectralConv2D(6, 3, padding="same", use_bias=False)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype("float32")
    layer(x)
    w = keras.ops.convert_to_numpy(layer.kernel).reshape(-1, 6)
    u = keras.ops.convert_to_numpy(layer.u)
    # one step of power iteration in NumPy, from the layer's own u
    v = u @ w.T
    v /= np.linalg.norm(v)
    u_next = v @ w
    u_next /= np.linalg.norm(u_next)
    sigma = float((v @ w @ u_next.T).item())
    kernel = keras.ops.convert_to_numpy(layer.normalized_kernel(training=True))
    np.testing.assert_allclose(kernel, keras.ops.convert_to_numpy(layer.kernel) / sigma,
                               rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.u), u_next, rtol=1e-5, atol=1e-7)
    # inference does not move u; training calls converge to the largest singular value
    layer(x, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.u), u_next, rtol=1e-5, atol=1e-7)
    for _ in range(200):
        layer(x, training=True)
    top = np.linalg.svd(keras.ops.convert_to_numpy(layer.normalized_kernel()).reshape(-1, 6),
                        compute_uv=False)[0]
    assert top == pytest.approx(1.0, abs=1e-3)


def test_spectral_d_has_no_batchnorm_and_width_scales_the_work():
    G, D, _ = dcgan.build(presets.preset("dcgan", d_norm="spectral"))
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in D.layers)
    assert sum(isinstance(layer, dcgan.SpectralConv2D) for layer in D.layers) == 5
    half_G, half_D, _ = dcgan.build(presets.preset("dcgan", width=0.5))
    full_G, full_D, _ = dcgan.build(presets.preset("dcgan"))
    # conv weights scale with in x out channels: about a quarter at half the width (G's first
    # layer, from the 100 numbers of z, only halves)
    assert 0.25 < half_G.count_params() / full_G.count_params() < 0.35
    assert 0.2 < half_D.count_params() / full_D.count_params() < 0.3


def test_hinge_loss_matches_its_formula():
    config = presets.preset("dcgan", loss="hinge")
    real, fake = np.array([2.0, 0.5, -1.0]), np.array([-3.0, 0.0, 1.5])
    g, d, _, _ = (float(v) for v in steps.losses(config, real, fake))
    assert d == pytest.approx(np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)))
    assert g == pytest.approx(-fake.mean())


def test_diff_augment_translation_cutout_and_colour():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    params = np.zeros((2, steps.AUGMENT_PARAMS), np.float32)
    params[:, 3:5] = [[3, -5], [0, 0]]            # image 0 moves 3 down, 5 left
    moved = keras.ops.convert_to_numpy(steps.diff_augment(x, params, ("translation",)))
    np.testing.assert_array_equal(moved[0, 3:, :59], x[0, :61, 5:])
    assert (moved[0, :3] == 0).all() and (moved[0, :, 59:] == 0).all()
    np.testing.assert_array_equal(moved[1], x[1])
    params[:, 5:7] = [[10, 20], [-16, -16]]       # at (10, 20); the second half off the edge
    cut = keras.ops.convert_to_numpy(steps.diff_augment(x, params, ("cutout",)))
    assert (cut[0, 10:42, 20:52] == 0).all() and np.count_nonzero(cut[0] == 0) == 32 * 32 * 3
    assert (cut[1, :16, :16] == 0).all() and np.count_nonzero(cut[1] == 0) == 16 * 16 * 3
    np.testing.assert_array_equal(cut[1, 16:], x[1, 16:])
    params[:, :3] = 0.5                            # brightness 0, saturation x1, contrast x1
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(steps.diff_augment(x, params, ("color",))), x, atol=1e-6)
    params[0, 0] = 0.75                            # brightness +0.25
    bright = keras.ops.convert_to_numpy(steps.diff_augment(x, params, ("color",)))
    np.testing.assert_allclose(bright[0], x[0] + 0.25, atol=1e-5)
    drawn = steps.augment_params(np.random.default_rng(0), 1000)
    assert drawn[:, 3:5].min() == -steps.TRANSLATE and drawn[:, 3:5].max() == steps.TRANSLATE
    assert (0 <= drawn[:, :3]).all() and (drawn[:, :3] < 1).all()


def test_ramped_average_starts_short_and_reaches_the_set_decay():
    config = presets.preset("dcgan", ema=0.999, ema_rampup=0.05, batch_size=64)
    early, late = steps.ema_decay(config, 0), steps.ema_decay(config, 100_000)
    # after one batch the half-life is 0.05 x 64 images: the average nearly follows G
    assert early == pytest.approx(0.5 ** (64 / (0.05 * 64)), rel=1e-5) and early < 1e-5
    assert late == pytest.approx(0.999)
    decays = [steps.ema_decay(config, s) for s in range(0, 20_000, 500)]
    assert decays == sorted(decays)
    assert steps.ema_decay(config.replace(ema_rampup=0.0), 0) == pytest.approx(0.999)


@pytest.mark.parametrize("bad", [dict(d_norm="layer"), dict(loss="wgan"), dict(width=0),
                                 dict(augment="flip"), dict(r1_gamma=-1), dict(r1_every=0),
                                 dict(architecture="scenario2", d_norm="spectral"),
                                 dict(d_sigmoid_output=True, loss="hinge")])
def test_bad_recipe_settings_say_why(bad):
    with pytest.raises(ValueError):
        presets.preset("dcgan", **bad)


def every_option(out: str) -> dict:
    """Three steps with every option on, without and with R1: each run's status, D's weights
    and metrics."""
    from gan_core import data, train

    faces = data.load("builtin:64")
    result = {}
    for gamma in (0.0, 100.0):
        config = presets.preset("dcgan", batch_size=8, latent_dim=16, width=0.125,
                                d_norm="spectral", loss="hinge",
                                augment="translation,color,cutout", ema=0.9, ema_rampup=0.05,
                                r1_gamma=gamma, r1_every=2)
        trainer = train.Trainer(config, faces, out + str(gamma), steps=3, seed=1,
                                sample_every=100, checkpoint_every=100)
        events = list(trainer.run())
        trainer.step_fn.sync()
        result[str(gamma)] = {
            "status": events[-1].status, "message": events[-1].message,
            "d": [float(np.sum(np.abs(keras.ops.convert_to_numpy(v))))
                  for v in trainer.models.D.trainable_variables],
            "metrics": [e.values() for e in events if e.kind == "metrics"]}
    return result


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_every_option_trains_on_both_backends_and_r1_moves_d(backend, tmp_path):
    """All options at once, three steps; R1 (a gradient of a gradient: nested tapes on
    TensorFlow, jax.grad inside the vjp on JAX) must change D's update. TensorFlow, this
    process's backend, trains here; JAX in a process of its own."""
    pytest.importorskip(backend, reason=f"{backend} is not installed (requirements-dev.txt has it)")
    if backend == keras.backend.backend():
        result = every_option(str(tmp_path / "run"))
    else:
        code = ("import json, sys\nfrom gan_core import system\nsystem.one_framework()\n"
                "from tests.test_recipe import every_option\n"
                "print(json.dumps(every_option(sys.argv[1])))")
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], env=env,
                              capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    for run in result.values():
        assert run["status"] == "finished", run["message"]
        assert all(np.isfinite(m["g_loss"]) and np.isfinite(m["d_loss"]) for m in run["metrics"])
    plain, penalised = result["0.0"], result["100.0"]
    # step 1's losses come from the same weights; after the penalised update D differs
    assert penalised["metrics"][0]["d_loss"] == pytest.approx(plain["metrics"][0]["d_loss"],
                                                              rel=1e-4)
    assert not np.allclose(plain["d"], penalised["d"], rtol=1e-4)
