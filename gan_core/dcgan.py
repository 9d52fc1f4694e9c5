"""The DCGAN networks of every preset (gan_core.presets), built from a GANConfig.

Images are 64x64x3 in [-1, 1]; the generator ends in tanh. Every generator takes a flat z of
shape (batch, latent); the course's (1, 1, 100) input is its first layer, a Reshape. The
course's quirks (a double sigmoid, PyTorch's BatchNorm numbers read as Keras') are its preset's
fields, explained in gan_core.presets.
"""

from __future__ import annotations

import contextlib
import weakref

import keras
from keras import layers, ops

from . import noise
from .presets import IMAGE_SHAPE, GANConfig

# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------

def _init(config):
    if config.architecture == "scenario2":
        return keras.initializers.TruncatedNormal(0.0, 0.02)
    return keras.initializers.RandomNormal(0.0, 0.02)


class FusedBatchNormalization(layers.BatchNormalization):
    """BatchNormalization that trains through TensorFlow's fused kernel.

    Keras 3 computes a training-mode BatchNorm from a dozen small float32 ops; TensorFlow's
    FusedBatchNormV3 is one op forward and one backward, in the layer's own compute dtype
    (bfloat16 under mixed precision). Keras 2, which the course ran on, used it too. It makes
    the trainer's `course` step 12% faster on this 2-core CPU. The results are the same to
    float rounding (tests/test_dcgan.py). Only the trainer's models use it: saved generators
    are rebuilt with the plain layer (`portable_copy`), and other backends, inference and
    synchronized (multi-device) statistics take Keras' own path.
    """

    def call(self, inputs, training=None, mask=None):
        if (keras.backend.backend() != "tensorflow" or not training or not self.trainable
                or mask is not None or self.synchronized or not (self.scale and self.center)
                or self.axis not in (-1, len(inputs.shape) - 1)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = inputs if len(inputs.shape) == 4 else tf.reshape(inputs, [-1, 1, 1, inputs.shape[-1]])
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32"),
            epsilon=self.epsilon, is_training=True)
        # The kernel returns the unbiased variance; Keras' running statistics use the biased.
        n = tf.cast(tf.size(x) // x.shape[-1], "float32")
        variance = variance * (n - 1.0) / n
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + variance * (1.0 - self.momentum))
        return tf.cast(tf.reshape(y, tf.shape(inputs)), self.compute_dtype)


@keras.saving.register_keras_serializable(package="gan_core")
class SpectralConv2D(layers.Conv2D):
    """Conv2D whose kernel is divided by its largest singular value (Miyato et al. 2018).

    The kernel, reshaped to (k*k*in, out), has its top singular value estimated by one step of
    power iteration per training call, from a vector `u` kept between calls (a non-trainable
    variable, so it is checkpointed and, on JAX, carried in the step's state like BatchNorm's
    statistics). Inference uses the stored `u` without updating it. Our own small layer, not
    keras.layers.SpectralNormalization, which has had bugs (keras-team/keras #19183, #20309).
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.u = self.add_weight(shape=(1, self.filters), name="sn_u", trainable=False,
                                 initializer=keras.initializers.RandomNormal(0.0, 1.0))

    def normalized_kernel(self, training=False):
        w = ops.reshape(ops.cast(self.kernel, "float32"), (-1, self.filters))
        u = ops.cast(self.u, "float32")
        v = _l2_normalize(ops.matmul(u, ops.transpose(w)))
        u_new = _l2_normalize(ops.matmul(v, w))
        u_new, v = ops.stop_gradient(u_new), ops.stop_gradient(v)
        sigma = ops.sum(ops.matmul(v, w) * u_new)
        if training:
            self.u.assign(u_new)
        return ops.cast(self.kernel / ops.cast(sigma, self.kernel.dtype), self.compute_dtype)

    def call(self, inputs, training=False):
        outputs = self.convolution_op(inputs, self.normalized_kernel(training))
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        return self.activation(outputs) if self.activation is not None else outputs


def _l2_normalize(x):
    return x / ops.sqrt(ops.sum(ops.square(x)) + 1e-12)


def _bn(config, name, fused=False):
    kind = FusedBatchNormalization if fused else layers.BatchNormalization
    return kind(momentum=config.bn_momentum, epsilon=config.bn_epsilon, name=name)


def build_generator(config: GANConfig, fused_bn: bool = False) -> keras.Model:
    """z (batch, latent) -> image (batch, 64, 64, 3) in [-1, 1]. `fused_bn`: train its
    BatchNorm through TensorFlow's fused kernel (`FusedBatchNormalization`)."""
    init = _init(config)
    z = keras.Input((config.latent_dim,), name="z")
    if config.architecture == "scenario2":
        c = config.channels(256)
        x = layers.Dense(4 * 4 * c, use_bias=False, kernel_initializer=init, name="project")(z)
        x = _bn(config, "bn_project", fused_bn)(x)
        x = layers.LeakyReLU(config.leaky_slope)(x)
        x = layers.Reshape((4, 4, c))(x)
        filters, kernel = (128, 64, 32), 5
    else:
        # The course's generator input is (1, 1, latent): a 1x1 "image" that a stride-4
        # transposed convolution grows to 4x4x512.
        x = layers.Reshape((1, 1, config.latent_dim))(z)
        x = layers.Conv2DTranspose(config.channels(512), 4, strides=4, padding="same",
                                   use_bias=False,
                                   kernel_initializer=init, name="project")(x)
        x = _bn(config, "bn_project", fused_bn)(x)
        x = layers.ReLU()(x)
        filters, kernel = (256, 128, 64), 4
    for i, f in enumerate(filters):
        x = layers.Conv2DTranspose(config.channels(f), kernel, strides=2, padding="same",
                                   use_bias=False, kernel_initializer=init,
                                   name=f"up{i + 1}")(x)
        x = _bn(config, f"bn_up{i + 1}", fused_bn)(x)
        x = (layers.LeakyReLU(config.leaky_slope) if config.architecture == "scenario2"
             else layers.ReLU())(x)
    x = layers.Conv2DTranspose(3, kernel, strides=2, padding="same", use_bias=False,
                               kernel_initializer=init, name="to_rgb")(x)
    # tanh in float32 under mixed precision, so the image itself is never rounded to float16.
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(config: GANConfig, fused_bn: bool = False) -> keras.Model:
    """image (batch, 64, 64, 3) -> one score per image (batch,): a logit, or for the course a
    probability (see the module docstring). Always float32, whatever the precision."""
    init = _init(config)
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = image
    if config.architecture == "scenario2":
        for i, f in enumerate((64, 128, 256)):
            x = layers.Conv2D(config.channels(f), 5, strides=2, padding="same", kernel_initializer=init,
                              name=f"down{i + 1}")(x)
            x = layers.LeakyReLU(config.leaky_slope)(x)
            x = layers.Dropout(config.d_dropout, name=f"drop{i + 1}")(x)
        x = layers.Flatten()(x)
        score = layers.Dense(1, kernel_initializer=init, dtype="float32", name="score")(x)
    else:
        spectral = config.d_norm == "spectral"
        conv = SpectralConv2D if spectral else layers.Conv2D
        # pytorch-anime normalises its first layer too; the DCGAN paper and the course do not.
        # Spectral normalisation replaces BatchNorm, and brings back the biases it made moot.
        for i, f in enumerate((64, 128, 256, 512)):
            x = conv(config.channels(f), 4, strides=2, padding="same", use_bias=spectral,
                     kernel_initializer=init, name=f"down{i + 1}")(x)
            if not spectral and (i > 0 or config.architecture == "pytorch-anime"):
                x = _bn(config, f"bn_down{i + 1}", fused_bn)(x)
            x = layers.LeakyReLU(config.leaky_slope)(x)
            if config.d_dropout:
                x = layers.Dropout(config.d_dropout, name=f"drop{i + 1}")(x)
        if config.architecture == "course":
            # The notebook: k4 s2 "same" on 4x4 leaves 2x2x1, four scores per image (averaged
            # by the loss), then a sigmoid.
            x = conv(1, 4, strides=2, padding="same", use_bias=False,
                     kernel_initializer=init, dtype="float32", name="score")(x)
        else:
            x = conv(1, 4, strides=1, padding="valid", use_bias=spectral,
                     kernel_initializer=init, dtype="float32", name="score")(x)
        score = layers.Flatten(dtype="float32")(x)
    if config.d_sigmoid_output:
        score = layers.Activation("sigmoid", dtype="float32", name="probability")(score)
    return keras.Model(image, score, name="discriminator")


@contextlib.contextmanager
def _policy(name: str):
    """Layers built inside compute in this dtype policy; the global policy is restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build(config: GANConfig, fused_bn: bool = False
          ) -> tuple[keras.Model, keras.Model, keras.Model | None]:
    """(generator, discriminator, average generator or None) in the config's precision.
    The trainer asks for `fused_bn`; a saved generator is always the plain layers."""
    with _policy(config.precision):
        G, D = build_generator(config, fused_bn), build_discriminator(config, fused_bn)
        G_ema = None
        if config.ema:
            G_ema = build_generator(config, fused_bn)
            G_ema.set_weights(G.get_weights())
        return G, D, G_ema


def forward(model: keras.Model, x):
    """model(x, training=False), compiled on JAX (see _call): the trainer's sample grids, and
    every call of generate.Generator there."""
    return _call(model, x, training=False)


def _call(model, x, training):
    """model(x, training=training); on JAX through one program per model and mode.

    JAX runs a network that is called eagerly op by op, and compiles each op on its first
    call: a process that calls G a few times (a short run's sample grids) pays more for
    compiling than for running. One program per model and mode is compiled once instead (and
    kept in JAX's compile cache where one is set); in training mode the BatchNorm statistics
    it computes are written back, as an eager call writes them. TensorFlow runs eagerly:
    tracing a tf.function costs more than the few calls a run makes."""
    if keras.backend.backend() != "jax":
        return model(x, training=training)
    fns = _COMPILED.setdefault(model, {})
    if training not in fns:
        import jax

        ref = weakref.ref(model)    # the program holds no reference: freed with the model
        fns[training] = jax.jit(
            lambda tv, ntv, x: ref().stateless_call(tv, ntv, x, training=training))
    out, non_trainable = fns[training]([v.value for v in model.trainable_variables],
                                       [v.value for v in model.non_trainable_variables], x)
    if training:
        for variable, value in zip(model.non_trainable_variables, non_trainable):
            variable.assign(value)
    return out


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # model -> {training: fn}


def recalibrate_batchnorm(generator: keras.Model, z) -> None:
    """Set a generator's BatchNorm statistics to those its own weights produce on z.

    An averaged (EMA) generator has weights no single training step had, so the running
    statistics it copies from G describe another network: its images come out washed out
    (measured: SWD 135 against 73 after recalibration). One forward pass in training mode over
    a large z batch, with momentum 0, replaces them."""
    bns = [layer for layer in generator.layers if isinstance(layer, layers.BatchNormalization)]
    kept = [bn.momentum for bn in bns]
    try:
        for bn in bns:
            bn.momentum = 0.0
        _call(generator, z, training=True)   # on JAX traced with momentum 0, used only here
    finally:
        for bn, momentum in zip(bns, kept):
            bn.momentum = momentum


def portable_copy(generator: keras.Model, config: GANConfig) -> keras.Model:
    """The generator in float32, whatever it trained in: the file it is saved to then runs on
    any CPU or backend (bfloat16 is slow where the CPU lacks it)."""
    with _policy("float32"):
        copy = build_generator(config.replace(precision="float32"))
    copy.set_weights(generator.get_weights())
    return copy


def layer_table(model: keras.Model) -> list[dict]:
    """The model summary as rows (name, type, output shape, parameters), for pages and CLI."""
    return [{"name": layer.name, "type": type(layer).__name__,
             "output": str(tuple(layer.output.shape)),
             "params": int(layer.count_params())}
            for layer in model.layers]


def untrained_preview(config: GANConfig, seed: int = 0, n: int = 16) -> dict:
    """What a run's untrained G and D are, for a page before training: the layer tables,
    the parameter counts, and G's images from the run's own fixed noise (its first sample
    grid). An untrained G's pixels differ by a few levels only, a flat grey, so each image is
    also returned contrast-stretched (its own min to max over 0..255), to show its structure."""
    import numpy as np

    from . import images

    keras.utils.set_random_seed(seed)
    G, D, _ = build(config)
    z = noise.draw(seed, noise.FIXED, 0, n, config.latent_dim)
    raw = keras.ops.convert_to_numpy(G(z, training=False)).astype(np.float64)
    low = raw.min(axis=(1, 2, 3), keepdims=True)
    high = raw.max(axis=(1, 2, 3), keepdims=True)
    stretched = ((raw - low) / np.maximum(high - low, 1e-12) * 255).round().astype(np.uint8)
    return {"g_table": layer_table(G), "d_table": layer_table(D),
            "g_params": G.count_params(), "d_params": D.count_params(),
            "images": images.to_uint8(raw), "stretched": stretched,
            "spread": float(np.mean(high - low) * 127.5)}    # in levels of 255
