"""gan_core.toy: exact formulas, gradients, the course's behaviour, convergence."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from gan_core import toy

# --- Exact Gaussian formulas against Monte Carlo ------------------------------------------------

CASES = [(10.0, 1.0, 10.0, 1.0), (10.0, 1.0, 9.0, 2.0), (10.0, 1.0, 12.0, 0.5), (0.0, 2.0, 1.0, 1.0)]


@pytest.mark.parametrize("m1,s1,m2,s2", CASES)
def test_kl_matches_monte_carlo(m1, s1, m2, s2):
    x = np.random.default_rng(0).normal(m1, s1, 400_000)
    estimate = np.mean(np.log(toy.normal_pdf(x, m1, s1)) - np.log(toy.normal_pdf(x, m2, s2)))
    assert toy.kl_divergence(m1, s1, m2, s2) == pytest.approx(estimate, abs=0.02)


@pytest.mark.parametrize("m1,s1,m2,s2", CASES)
def test_js_matches_monte_carlo(m1, s1, m2, s2):
    rng = np.random.default_rng(1)
    p = lambda v: toy.normal_pdf(v, m1, s1)  # noqa: E731
    q = lambda v: toy.normal_pdf(v, m2, s2)  # noqa: E731
    x, y = rng.normal(m1, s1, 400_000), rng.normal(m2, s2, 400_000)
    estimate = 0.5 * np.mean(np.log(p(x) / (0.5 * (p(x) + q(x))))) + \
        0.5 * np.mean(np.log(q(y) / (0.5 * (p(y) + q(y)))))
    assert toy.js_divergence(m1, s1, m2, s2) == pytest.approx(estimate, abs=0.005)


@pytest.mark.parametrize("m1,s1,m2,s2", CASES)
def test_w2_matches_sorted_samples(m1, s1, m2, s2):
    # In 1-D the optimal coupling pairs sorted samples with sorted samples.
    rng = np.random.default_rng(2)
    x, y = np.sort(rng.normal(m1, s1, 400_000)), np.sort(rng.normal(m2, s2, 400_000))
    estimate = math.sqrt(np.mean((x - y) ** 2))
    assert toy.wasserstein2(m1, s1, m2, s2) == pytest.approx(estimate, abs=0.01)


def test_generated_distribution_is_what_g_produces():
    w, b, sigma_z = -0.7, 3.0, 10.0
    samples = w * np.random.default_rng(3).normal(0, sigma_z, 400_000) + b
    mean, std = toy.generated_distribution(w, b, sigma_z)
    assert samples.mean() == pytest.approx(mean, abs=0.05)
    assert samples.std() == pytest.approx(std, rel=0.01)


def test_optimal_discriminator_is_the_density_ratio_and_half_at_equilibrium():
    x = np.linspace(5, 15, 11)
    p, q = toy.normal_pdf(x, 10, 1), toy.normal_pdf(x, 11, 2)
    assert toy.optimal_discriminator(x, 10, 1, 11, 2) == pytest.approx(p / (p + q))
    assert toy.optimal_discriminator(x, 10, 1, 10, 1) == pytest.approx(np.full(11, 0.5))


# --- Gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("d_kind", toy.D_KINDS)
def test_discriminator_gradients_match_finite_differences(d_kind):
    cfg = toy.PRESETS["default"].replace(d_kind=d_kind)
    rng = np.random.default_rng(4)
    theta = toy.init_discriminator(cfg, rng) + rng.normal(0, 0.1, toy.init_discriminator(cfg, rng).size)
    x, weights = rng.normal(10, 2, 50), rng.normal(0, 1, 50)
    loss = lambda th, xs: weights @ toy.d_logits(cfg, th, xs)  # noqa: E731
    grad_theta, grad_x = toy.d_backward(cfg, theta, x, weights)
    eps = 1e-6
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        numeric = (loss(theta + e, x) - loss(theta - e, x)) / (2 * eps)
        assert grad_theta[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    numeric_x = (toy.d_logits(cfg, theta, x + eps) - toy.d_logits(cfg, theta, x - eps)) / (2 * eps)
    assert grad_x == pytest.approx(weights * numeric_x, rel=1e-5, abs=1e-6)


def test_saturating_loss_starves_the_generator_when_d_wins():
    # With D(G(z)) near 0 the minimax loss log(1 - D) is flat: its gradient nearly vanishes,
    # while the non-saturating -log D still pushes G. That is why GANs use the latter.
    gan = toy.ToyGAN(toy.PRESETS["default"])
    z = np.random.default_rng(5).normal(0, 1, 1000)
    x_fake = gan.generate(z)
    l_fake = np.full_like(z, -8.0)  # D is sure these are fake
    sp, s = toy.softplus(l_fake), toy.sigmoid(l_fake)
    _, grad_ns = gan._g_grad(z, x_fake, l_fake, sp, s)
    gan.cfg = gan.cfg.replace(g_loss="saturating")
    _, grad_sat = gan._g_grad(z, x_fake, l_fake, sp, s)
    assert np.abs(grad_sat).sum() < 1e-3 * np.abs(grad_ns).sum()


# --- The course preset, step for step against the course's TensorFlow code ----------------------

def test_course_preset_matches_the_notebooks_tensorflow_code():
    tf = pytest.importorskip("tensorflow")
    import keras

    cfg = toy.PRESETS["course"]
    gan = toy.ToyGAN(cfg)
    rng = np.random.default_rng(6)
    batches = [(rng.normal(10, 1, cfg.batch), rng.normal(0, cfg.sigma_z, cfg.batch))
               for _ in range(5)]
    feed = iter(batches)
    current = {}

    def sample_real(n):
        current["x"], current["z"] = next(feed)
        return current["x"]

    gan.sample_real, gan.sample_z = sample_real, lambda n: current["z"]

    # The notebook: two Dense(1) models, BinaryCrossentropy(from_logits=True), two Adams,
    # one tf.function step with two tapes.
    generator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    discriminator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    generator.layers[0].set_weights([np.array([[gan.g[0]]]), np.array([gan.g[1]])])
    discriminator.layers[0].set_weights([np.array([[gan.theta[0]]]), np.array([gan.theta[1]])])
    ce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt = keras.optimizers.Adam(0.5, beta_1=0.5, beta_2=0.8)
    d_opt = keras.optimizers.Adam(0.5, beta_1=0.5, beta_2=0.8)

    @tf.function
    def train_step(x, z):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            x_hat = generator(z, training=True)
            real_output = discriminator(x, training=True)
            fake_output = discriminator(x_hat, training=True)
            gen_loss = ce(tf.ones_like(fake_output), fake_output)
            disc_loss = 0.5 * (ce(tf.ones_like(real_output), real_output)
                               + ce(tf.zeros_like(fake_output), fake_output))
        g_opt.apply_gradients(zip(gen_tape.gradient(gen_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        d_opt.apply_gradients(zip(disc_tape.gradient(disc_loss,
                                                     discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        return gen_loss, disc_loss

    for x, z in batches:
        g_loss, d_loss = train_step(x[:, None].astype("float32"), z[:, None].astype("float32"))
        rows, _ = gan.train(1)
        assert rows[0, 1] == pytest.approx(float(g_loss), rel=1e-3, abs=1e-4)
        assert rows[0, 2] == pytest.approx(float(d_loss), rel=1e-3, abs=1e-4)
        tf_g = [float(v.numpy().ravel()[0]) for v in generator.trainable_variables]
        tf_d = [float(v.numpy().ravel()[0]) for v in discriminator.trainable_variables]
        assert gan.g == pytest.approx(tf_g, rel=1e-3, abs=1e-4)
        assert gan.theta == pytest.approx(tf_d, rel=1e-3, abs=1e-4)


def test_course_keeps_the_most_confused_step_and_counts_with_the_sigmoid():
    gan = toy.ToyGAN(toy.PRESETS["course"])
    rows, _ = gan.train(toy.COURSE_ITERATIONS)
    gaps = np.abs(0.5 * (rows[:, 3] + rows[:, 4]) - 0.5)
    assert gan.best.step == int(rows[np.argmin(gaps), 0])
    # Counting: a D whose logit is 0.3 everywhere says "real" (sigmoid 0.57 > 0.5) to all
    # samples; the course's sigmoid-less count (0.3 > 0.5) would say none.
    real, fake = gan.count_above_half(g=np.array([1.0, 10.0]), theta=np.array([0.0, 0.3]))
    assert (real, fake) == (5000, 5000)
    real, fake = gan.count_above_half(g=np.array([1.0, 10.0]), theta=np.array([0.0, -0.3]))
    assert (real, fake) == (0, 0)


# --- Behaviour over training --------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_default_preset_learns_the_target_within_3000_steps(seed):
    gan = toy.ToyGAN(toy.PRESETS["default"].replace(seed=seed))
    gan.train(3000)
    mean, std = gan.gen_stats()
    assert abs(mean - 10) < 0.1 and abs(std - 1) < 0.1, (mean, std)


def test_a_linear_discriminator_matches_the_mean_but_not_the_spread():
    gan = toy.ToyGAN(toy.PRESETS["default"].replace(d_kind="linear"))
    gan.train(3000)
    mean, std = gan.gen_stats()
    assert abs(mean - 10) < 0.2
    assert abs(std - 1) > 0.3


def test_same_seed_same_run_and_other_seed_other_run():
    a, _ = toy.ToyGAN(toy.PRESETS["default"]).train(50)
    b, _ = toy.ToyGAN(toy.PRESETS["default"]).train(50)
    c, _ = toy.ToyGAN(toy.PRESETS["default"].replace(seed=1)).train(50)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_learning_rate_changes_live_but_model_changes_need_a_new_run():
    cfg = toy.PRESETS["default"]
    gan = toy.ToyGAN(cfg)
    gan.train(10)
    weights, adam_t = gan.g.copy(), gan.opt_g.t
    gan.update_config(cfg.replace(lr_g=0.05, batch=100, scheme="alternating", k_d=3))
    assert np.array_equal(gan.g, weights) and gan.opt_g.t == adam_t and gan.opt_g.lr == 0.05
    gan.train(1)
    assert gan.opt_d.t == 10 + 3  # three D steps for one G step
    for change in ({"d_kind": "mlp"}, {"seed": 3}, {"sigma_z": 2.0}, {"optimizer": "sgd"}):
        assert cfg.resets_model(cfg.replace(**change))
        with pytest.raises(ValueError):
            gan.update_config(cfg.replace(**change))


def test_bad_settings_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="batch"):
        toy.ToyConfig(batch=0)
    with pytest.raises(ValueError, match="d_kind"):
        toy.ToyConfig(d_kind="transformer")
    with pytest.raises(ValueError, match="data_std"):
        toy.ToyConfig(data_std=0)


def test_divergence_is_reported_not_hidden():
    gan = toy.ToyGAN(toy.PRESETS["default"].replace(optimizer="sgd", lr_g=10, lr_d=10))
    with pytest.raises(FloatingPointError, match="diverged"):
        gan.train(200)


# --- The replayable run -------------------------------------------------------------------------

def test_run_redraws_any_earlier_step_exactly():
    run = toy.ToyRun(toy.PRESETS["default"])
    run.advance(40)
    replay = toy.ToyGAN(toy.PRESETS["default"])
    replay.train(25)
    g, theta = run.params_at(25)
    assert g == pytest.approx(replay.g, rel=1e-6)
    assert theta == pytest.approx(replay.theta, rel=1e-6)
    view = run.view(25)
    assert view["step"] == 25 and view["w"] == pytest.approx(replay.g[0], rel=1e-6)
    density = view["hist_real"].sum() * (view["bin_centers"][1] - view["bin_centers"][0])
    assert density == pytest.approx(1.0, abs=0.02)  # the x range holds the real data


def test_run_history_csv_has_every_step_and_column():
    run = toy.ToyRun(toy.PRESETS["course"])
    run.advance(20)
    lines = run.to_csv().splitlines()
    assert lines[0].split(",") == list(toy.HISTORY_COLUMNS)
    assert len(lines) == 21 and lines[-1].startswith("20,")


def test_run_stops_at_the_history_limit(monkeypatch):
    monkeypatch.setattr(toy, "MAX_STEPS", 30)
    run = toy.ToyRun(toy.PRESETS["default"])
    assert run.advance(25) == 25 and run.advance(25) == 5 and run.advance(5) == 0 and run.full


# --- CLI ----------------------------------------------------------------------------------------

def test_cli_toy_reports_json():
    out = subprocess.run([sys.executable, "-m", "gan_core", "toy", "--preset", "default",
                          "--steps", "3000", "--seed", "4", "--json"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert set(result) >= {"steps", "gen_mean", "gen_std", "d_real", "d_fake", "best_step",
                           "steps_per_s"}
    assert result["steps"] == 3000 and abs(result["gen_mean"] - 10) < 0.1
    assert abs(result["gen_std"] - 1) < 0.1 and result["steps_per_s"] > 0


def test_cli_bad_input_exits_2_with_reason():
    proc = subprocess.run([sys.executable, "-m", "gan_core", "toy", "--steps", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "steps" in proc.stderr
