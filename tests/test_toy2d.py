"""The 2-D Toy GAN: its hand-written gradients against TensorFlow's autodiff (every loss,
activation and cure, the gradient penalty's double backward included), the data, the mode
metrics, and that each story preset's mode count behaves as its story says."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_core import toy2d

tf = pytest.importorskip("tensorflow", reason="the autodiff reference needs TensorFlow")
ROOT = Path(__file__).resolve().parents[1]


def tf_mlp(params, x, kind):
    h = x
    layers = len(params) // 2
    for i in range(layers):
        a = h @ params[2 * i] + params[2 * i + 1]
        if i == layers - 1:
            return a
        h = {"relu": tf.nn.relu, "tanh": tf.tanh,
             "leaky_relu": lambda v: tf.where(v > 0, v, 0.2 * v)}[kind](a)


def tf_d(gan, d, x):
    """D as the cures see it, in TensorFlow: spectral norm with the same power iteration (its
    u and v held constant, as the update rule does), minibatch std from the batch."""
    cfg = gan.cfg
    if cfg.cure == "spectral_norm":
        _, state = toy2d.spectral_normalise([p.numpy() for p in d], gan.us)
        d = [p if i % 2 else p / tf.tensordot(tf.constant(state[i // 2][0]),
                                              tf.linalg.matvec(p, tf.constant(state[i // 2][1])),
                                              1)
             for i, p in enumerate(d)]
    if cfg.cure == "minibatch_std":
        s = tf.reduce_mean(tf.math.reduce_std(x, axis=0))
        x = tf.concat([x, tf.fill([x.shape[0], 1], s)], 1)
    return tf_mlp(d, x, cfg.activation)


def tf_losses(kind, out_r, out_f):
    if kind == "log":
        return (tf.reduce_mean(tf.nn.softplus(-out_r)) + tf.reduce_mean(tf.nn.softplus(out_f)),
                tf.reduce_mean(tf.nn.softplus(-out_f)))
    if kind == "least_squares":
        return (0.5 * tf.reduce_mean((out_r - 1) ** 2) + 0.5 * tf.reduce_mean(out_f ** 2),
                0.5 * tf.reduce_mean((out_f - 1) ** 2))
    return tf.reduce_mean(out_f) - tf.reduce_mean(out_r), -tf.reduce_mean(out_f)


CASES = [(act, loss, cure) for act in toy2d.ACTIVATIONS for loss in toy2d.LOSSES
         for cure in ("none", "spectral_norm", "minibatch_std")] + \
        [(act, "log", "wgan_gp") for act in toy2d.ACTIVATIONS]


@pytest.mark.parametrize("activation, loss, cure", CASES)
def test_gradients_match_autodiff(activation, loss, cure):
    cfg = toy2d.Toy2DConfig(activation=activation, loss=loss, cure=cure, batch=16,
                            g_layers=2, g_units=5, d_layers=3, d_units=6, noise_dim=3,
                            gp_weight=2.0, seed=3)
    gan = toy2d.Toy2DGAN(cfg)
    # the toy runs in float32, as GAN Lab does; its math is checked in float64
    gan.g, gan.d = [p.astype(float) for p in gan.g], [p.astype(float) for p in gan.d]
    gan.us = [u.astype(float) for u in gan.us]
    rng = np.random.default_rng(1)
    real, z = rng.standard_normal((16, 2)), rng.standard_normal((16, 3))
    fake = gan.generate(z)
    us = [u.copy() for u in gan.us]
    gan.rng = np.random.default_rng(7)              # the penalty's interpolation draws
    d_loss, d_grads = gan.d_gradients(gan.d, real, fake)
    gan.us = us                                       # as before the D step, for G's turn too
    g_loss, g_grads = gan.g_gradients(gan.d, z)

    d_vars = [tf.Variable(p) for p in gan.d]
    g_vars = [tf.Variable(p) for p in gan.g]
    with tf.GradientTape() as tape:
        out_r, out_f = tf_d(gan, d_vars, tf.constant(real)), tf_d(gan, d_vars, tf.constant(fake))
        loss_d, _ = tf_losses(gan.loss_kind, out_r, out_f)
        if cure == "wgan_gp":
            t = np.random.default_rng(7).random((16, 1))
            mixed = tf.constant(t * real + (1 - t) * fake)
            with tf.GradientTape() as inner:
                inner.watch(mixed)
                critic = tf_mlp(d_vars, mixed, activation)
            gx = inner.gradient(critic, mixed)
            norm = tf.sqrt(tf.reduce_sum(gx ** 2, 1) + 1e-12)
            loss_d += cfg.gp_weight * tf.reduce_mean((norm - 1) ** 2)
    expected = tape.gradient(loss_d, d_vars)
    assert d_loss == pytest.approx(float(loss_d), rel=1e-9)
    for ours, theirs in zip(d_grads, expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-10)

    with tf.GradientTape() as tape:
        out_f = tf_d(gan, [tf.constant(p) for p in gan.d], tf_mlp(g_vars, tf.constant(z),
                                                                   activation))
        _, loss_g = tf_losses(gan.loss_kind, out_f, out_f)
    expected = tape.gradient(loss_g, g_vars)
    assert g_loss == pytest.approx(float(loss_g), rel=1e-9)
    for ours, theirs in zip(g_grads, expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-6, atol=1e-10)


def test_spectral_normalisation_converges_to_the_top_singular_value():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4))
    us = [rng.standard_normal(6)]
    for _ in range(30):
        _, state = toy2d.spectral_normalise([w, np.zeros(4)], us)
        us = [state[0][0]]
    assert state[0][2] == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-6)


def test_mode_metrics_count_modes_and_quality():
    centres, std = toy2d.mode_centres("mixture8")
    rng = np.random.default_rng(0)
    three = centres[rng.integers(3, size=2500)] + std * rng.standard_normal((2500, 2))
    m = toy2d.mode_metrics("mixture8", three)
    assert m == {"modes_covered": 3, "modes_total": 8, "high_quality": pytest.approx(1.0,
                                                                                    abs=0.01)}
    junk = rng.uniform(-3, 3, (2500, 2))
    assert toy2d.mode_metrics("mixture8", junk)["high_quality"] < 0.05
    assert toy2d.mode_metrics("ring", junk) is None


def test_a_drawn_distribution_becomes_the_data():
    points = [[1.0, 1.0], [-1.0, 0.5]]
    x = toy2d.sample_data("drawn", 1000, np.random.default_rng(0), points)
    nearest = np.sqrt(((x[:, None] - np.array(points)[None]) ** 2).sum(-1)).min(1)
    assert nearest.max() < 0.3 and (x[:, 0] > 0).mean() == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="drawn distribution needs"):
        toy2d.sample_data("drawn", 10, np.random.default_rng(0), [])


def test_bad_settings_are_refused_with_their_name():
    for field, value in (("g_units", 0), ("d_layers", 99), ("batch", 10**6), ("lr_d", -1.0),
                         ("data", "spiral"), ("cure", "magic")):
        with pytest.raises(ValueError, match=field.split("_")[0]):
            toy2d.Toy2DConfig(**{field: value})


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in toy2d.PRESETS if n != "default"])
def test_each_story_preset_shows_its_outcome(name):
    story = toy2d.PRESETS[name]
    result = toy2d.train(story.config, story.steps)
    low, high = story.expect_modes_covered
    assert low <= result["modes_covered"] <= high, (name, result)


def test_same_seed_same_run():
    cfg = toy2d.Toy2DConfig(seed=4, batch=64)
    a, b = toy2d.train(cfg, 200), toy2d.train(cfg, 200)
    assert {k: v for k, v in a.items() if k != "steps_per_s"} == \
        {k: v for k, v in b.items() if k != "steps_per_s"}


def test_the_cli_lists_the_stories_and_trains_one_with_overrides():
    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "gan_core", "toy2d", *args, "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    listed = {p["name"]: p for p in cli("--list-presets")["presets"]}
    assert listed["vanilla-8"]["expect_modes_covered"] == [1, 5]
    assert {"steps", "seed", "expect_modes_covered"} <= set(listed["wgan-gp-8"])
    out = cli("--preset", "vanilla-8", "--steps", "50", "--seed", "3", "--batch", "32",
              "--cure", "spectral_norm", "--d-units", "8")
    assert out["steps"] == 50 and out["seed"] == 3 and out["modes_total"] == 8
    assert {"steps_per_s", "modes_covered", "high_quality", "kl", "js"} <= set(out)
    for flags, message in [(["--cure", "magic"], "cure must be one of"),
                           (["--preset", "unrolled-8", "--unroll", "0"], "unroll must be between")]:
        bad = subprocess.run([sys.executable, "-m", "gan_core", "toy2d", *flags],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and message in bad.stderr


# -- the run the page plays ----------------------------------------------------------------------

def test_step_d_only_and_step_g_only_move_one_network_each():
    gan = toy2d.Toy2DGAN(toy2d.Toy2DConfig(seed=1))
    g, d = [p.copy() for p in gan.g], [p.copy() for p in gan.d]
    gan.step_d()
    assert all(np.array_equal(a, b) for a, b in zip(g, gan.g)) and gan.steps == 0
    assert not all(np.array_equal(a, b) for a, b in zip(d, gan.d))
    d = [p.copy() for p in gan.d]
    gan.step_g()
    assert all(np.array_equal(a, b) for a, b in zip(d, gan.d)) and gan.steps == 1
    assert not all(np.array_equal(a, b) for a, b in zip(g, gan.g))


def test_a_run_keeps_bounded_history_and_draws_any_recorded_step(monkeypatch):
    monkeypatch.setattr(toy2d.run, "MAX_SNAPSHOTS", 20)   # the run module owns the cap
    run = toy2d.Toy2DRun(toy2d.Toy2DConfig(seed=2))
    early = run.frame(0)
    for _ in range(60):
        run.advance(2)
    assert len(run.snapshots) <= 20 and run.timeline()[0] == 0 and run.timeline()[-1] == 120
    assert [r[0] for r in run.rows] == list(range(0, 121, 2))
    now = run.frame()
    again = run.frame(0)                          # an old frame, drawn from its snapshot
    np.testing.assert_allclose(again["fake"], early["fake"], atol=1e-4)
    assert not np.allclose(now["fake"], early["fake"])
    np.testing.assert_array_equal(run.frame()["fake"], now["fake"])   # training state untouched
    assert now["heat"].shape == (toy2d.HEAT_BINS, toy2d.HEAT_BINS)
    assert ((0 <= now["heat"]) & (now["heat"] <= 1)).all()
    assert run.to_csv().splitlines()[0] == ",".join(toy2d.HISTORY_COLUMNS)


def test_drawn_points_become_the_data():
    drawn = [[-1.0 + 0.05 * i, 1.0] for i in range(40)]
    run = toy2d.Toy2DRun(toy2d.Toy2DConfig(data="drawn"), drawn)
    assert np.abs(run.real_shown[:, 1] - 1.0).max() < 0.3
    assert -1.3 < run.real_shown[:, 0].min() and run.real_shown[:, 0].max() < 1.3
    with pytest.raises(ValueError, match="drawn distribution"):
        toy2d.Toy2DRun(toy2d.Toy2DConfig(data="drawn"), [])


def test_a_setup_round_trips_through_its_link_and_a_bad_link_says_which_part():
    base = toy2d.PRESETS["vanilla-8"].config
    cfg = toy2d.replace(base, data="ring", lr_g=0.003, cure="wgan_gp", seed=9)
    text = toy2d.encode_setup(cfg, base)
    assert set(part.split(":")[0] for part in text.split(",")) == {"data", "lr_g", "cure", "seed"}
    assert toy2d.decode_setup(text, base) == cfg
    assert toy2d.decode_setup("", base) == base
    for bad, words in (("speed:3", "no setting"), ("seed:x", "not a int"),
                       ("data:cube", "data must be")):
        with pytest.raises(ValueError, match=words):
            toy2d.decode_setup(bad, base)


def test_importing_the_toy_puts_numpy_s_blas_on_one_thread():
    # In a fresh process, where nothing loaded NumPy before the toy did, and without the
    # suite's own OPENBLAS_NUM_THREADS (conftest.py), which would hide a missing limit.
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = ("from gan_core import toy2d\n"
            "from threadpoolctl import threadpool_info\n"
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=60, check=True,
                         env=env)
    assert out.stdout.strip() == "[1]"
