"""DCGAN presets: the course's exact networks, the others' defining settings, validation."""

import keras
import pytest

from gan_core import dcgan, presets


def test_course_networks_match_the_notebook():
    config = presets.PRESETS["course"]
    G, D, _ = dcgan.build(config)
    assert G.count_params() == 3_578_624
    assert D.count_params() == 2_767_360
    assert tuple(G.output_shape) == (None, 64, 64, 3)
    assert tuple(D.output_shape) == (None, 4)            # the notebook's 2x2x1 scores
    bns = [layer for layer in G.layers + D.layers
           if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(b.momentum == 0.1 and b.epsilon == 0.8 for b in bns)
    convs = [layer for layer in G.layers + D.layers if "conv" in type(layer).__name__.lower()]
    assert all(not c.use_bias for c in convs)
    assert D.layers[-1].get_config()["activation"] == "sigmoid"       # the double sigmoid
    assert (config.g_lr, config.d_lr, config.beta_1, config.batch_size) == (2e-4, 2e-4, 0.5, 128)


def test_dcgan_is_the_same_shapes_with_logits():
    G, D, _ = dcgan.build(presets.PRESETS["dcgan"])
    assert G.count_params() == 3_578_624 and D.count_params() == 2_767_360
    assert tuple(D.output_shape) == (None, 1)
    assert all(type(layer).__name__ != "Activation" for layer in D.layers)


def test_student_presets():
    s2, pa = presets.PRESETS["scenario2"], presets.PRESETS["pytorch-anime"]
    assert (s2.batch_size, s2.data_dtype) == (64, "float16") and s2.d_dropout > 0
    G, D, _ = dcgan.build(s2)
    assert G.layers[1].name == "project" and G.layers[1].units == 4 * 4 * 256
    assert any(isinstance(layer, keras.layers.Dropout) for layer in D.layers)
    assert (pa.latent_dim, pa.leaky_slope, pa.g_lr, pa.beta_2, pa.batch_size) == \
        (128, 0.15, 1e-3, 0.9, 200)
    G, D, _ = dcgan.build(pa)
    assert G.input_shape == (None, 128)
    assert any(getattr(layer, "negative_slope", None) == pytest.approx(0.15) for layer in D.layers)


def test_overrides_and_precision():
    config = presets.preset("dcgan", latent_dim=64, batch_size=32, precision="mixed_bfloat16",
                          g_lr=None)
    assert (config.latent_dim, config.batch_size, config.g_lr) == (64, 32, 2e-4)
    G, D, _ = dcgan.build(config)
    assert G.input_shape == (None, 64)
    assert G.layers[2].dtype_policy.compute_dtype == "bfloat16"
    assert G.output.dtype == "float32" and D.output.dtype == "float32"
    assert presets.GANConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("bad", [dict(precision="float8"), dict(batch_size=0),
                                 dict(label_smoothing=0.7), dict(g_lr=0)])
def test_bad_settings_say_why(bad):
    with pytest.raises(ValueError):
        presets.preset("dcgan", **bad)
    with pytest.raises(ValueError, match="unknown preset"):
        presets.preset("stylegan")


def test_layer_table_adds_up():
    G, _, _ = dcgan.build(presets.PRESETS["course"])
    rows = dcgan.layer_table(G)
    assert sum(r["params"] for r in rows) == 3_578_624
    assert rows[-1]["output"] == "(None, 64, 64, 3)"


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("shape", [(8, 4, 4, 6), (16, 6)])      # conv maps, and scenario2's Dense
def test_fused_batchnorm_trains_exactly_like_keras_batchnorm(policy, shape):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the fused kernel is TensorFlow's; other backends use Keras' own layer")
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(1.0, 3.0, shape), "float32")
    results = []
    for kind in (keras.layers.BatchNormalization, dcgan.FusedBatchNormalization):
        bn = kind(momentum=0.1, epsilon=0.8, dtype=policy)      # the course's settings
        bn.build(x.shape)
        bn.gamma.assign(rng.normal(size=shape[-1]))
        bn.beta.assign(rng.normal(size=shape[-1]))
        rng = np.random.default_rng(0)                          # the same draws for both
        rng.normal(1.0, 3.0, shape)
        xc = tf.cast(x, bn.compute_dtype)
        with tf.GradientTape() as tape:
            tape.watch(xc)
            loss = tf.reduce_sum(tf.cast(bn(xc, training=True), "float32") ** 3)
        grads = tape.gradient(loss, [xc, bn.gamma, bn.beta])
        results.append([np.asarray(tf.cast(v, "float32")) for v in
                        [bn(xc, training=False), bn.moving_mean, bn.moving_variance, *grads]])
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for plain, fused in zip(*results):
        np.testing.assert_allclose(fused, plain, rtol=tolerance, atol=tolerance)


def test_the_trainers_fused_batchnorm_never_reaches_a_saved_file():
    config = presets.preset("dcgan")
    G, _, _ = dcgan.build(config, fused_bn=True)
    assert any(isinstance(layer, dcgan.FusedBatchNormalization) for layer in G.layers)
    copy = dcgan.portable_copy(G, config)
    assert not any(isinstance(layer, dcgan.FusedBatchNormalization) for layer in copy.layers)
