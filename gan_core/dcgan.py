"""DCGAN models: the course's networks and three other presets, each selectable by name.

- `course`: the course notebook exactly, quirks included (see the module docstring).
- `dcgan`: the same shapes done right, the DCGAN paper's recipe (Radford et al. 2016).
- `scenario2` and `pytorch-anime`: the designs of two student projects on the Kaggle anime
  faces, so their users find them here.

Every preset is a `GANConfig`; any field can be overridden with `config.replace(...)`.
Images are 64x64x3 in [-1, 1]; the generator ends in tanh. Every generator takes a flat z of
shape (batch, latent); the course's (1, 1, 100) input is its first layer, a Reshape.

The course's quirks, kept in its preset on purpose:
- BatchNormalization(momentum=0.1, epsilon=0.8) is a PyTorch habit copied literally. Keras'
  momentum is the weight on the *old* running mean (PyTorch's is the weight on the new batch),
  so the running statistics follow the last batch almost alone; an epsilon of 0.8 flattens the
  normalisation of small activations.
- D ends in a sigmoid, and its output then goes into BinaryCrossentropy(from_logits=True): a
  double sigmoid. D's loss can never fall below log(1 + e^-1) per term and G's gradients are
  squashed. The `dcgan` preset is the same shapes with logits out of D and BN done right.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass

import keras
from keras import layers, ops

from . import noise

IMAGE_SHAPE = (64, 64, 3)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
ARCHITECTURES = ("course", "dcgan", "scenario2", "pytorch-anime")
D_NORMS = ("batch", "spectral")
LOSSES = ("bce", "hinge")
AUGMENTATIONS = ("translation", "color", "cutout")


@dataclass(frozen=True)
class GANConfig:
    architecture: str = "dcgan"
    latent_dim: int = 100
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    leaky_slope: float = 0.2
    batch_size: int = 128
    g_loss_weight: float = 1.0
    d_loss_weight: float = 1.0
    label_smoothing: float = 0.0      # real labels become 1 - label_smoothing (one-sided)
    precision: str = "float32"
    # The course's discriminator ends in a sigmoid, and its loss still says from_logits=True.
    d_sigmoid_output: bool = False
    bn_momentum: float = 0.9          # Keras convention: the weight kept on the running mean
    bn_epsilon: float = 1e-5
    d_dropout: float = 0.0
    data_dtype: str = "float32"       # scenario2 feeds its images as float16
    # An exponential moving average of G's weights, kept beside G; samples and the exported
    # generator use it. Averaging smooths the step-to-step wobble of adversarial training.
    # The weight kept on the average each step; 0 turns it off.
    ema: float = 0.0
    # StyleGAN2-ADA's ramp: the average's half-life is at most this fraction of the images
    # seen so far, so a short run's average is not dominated by its first, bad steps. 0: off.
    ema_rampup: float = 0.0
    # Channel multiplier for G and D: half the width is about a quarter of the FLOPs.
    width: float = 1.0
    # D's normalisation: "batch" (the DCGAN paper) or "spectral" (Miyato et al. 2018: each
    # layer's weight divided by its largest singular value, no BatchNorm in D).
    d_norm: str = "batch"
    # "bce": the non-saturating loss of the paper; "hinge": Lim & Ye / Miyato et al.
    loss: str = "bce"
    # DiffAugment (Zhao et al. 2020): "translation", "color", "cutout", comma-separated,
    # applied to real and fake images alike before D, in both D's and G's losses.
    augment: str = ""
    # Lazy R1 penalty (StyleGAN2): gamma/2 * |grad_x D(x)|^2 on real images, every r1_every
    # steps, scaled by r1_every. 0: off.
    r1_gamma: float = 0.0
    r1_every: int = 16

    def __post_init__(self):
        def check(ok, message):
            if not ok:
                raise ValueError(message)
        check(self.architecture in ARCHITECTURES,
              f"unknown architecture {self.architecture!r}; choose from {', '.join(ARCHITECTURES)}")
        check(1 <= self.latent_dim <= noise.MAX_LATENT,
              f"latent size must be between 1 and {noise.MAX_LATENT}")
        check(0 < self.g_lr < 1 and 0 < self.d_lr < 1, "learning rates must be in (0, 1)")
        check(0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1, "betas must be in [0, 1)")
        check(0 <= self.leaky_slope < 1, "LeakyReLU slope must be in [0, 1)")
        check(1 <= self.batch_size <= 65536, "batch must be between 1 and 65,536")
        check(self.g_loss_weight > 0 and self.d_loss_weight > 0, "loss weights must be positive")
        check(0 <= self.label_smoothing < 0.5, "label smoothing must be in [0, 0.5)")
        check(self.precision in PRECISIONS,
              f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        check(0 <= self.d_dropout < 1, "dropout must be in [0, 1)")
        check(0 <= self.ema < 1, "the generator average (ema) must be in [0, 1)")
        check(0 <= self.ema_rampup <= 1, "the average's ramp (ema_rampup) must be in [0, 1]")
        check(0.125 <= self.width <= 4, "width must be between 0.125 and 4")
        check(self.d_norm in D_NORMS, f"unknown D normalisation {self.d_norm!r}; choose from "
                                      f"{', '.join(D_NORMS)}")
        check(self.loss in LOSSES, f"unknown loss {self.loss!r}; choose from {', '.join(LOSSES)}")
        check(not (self.loss == "hinge" and self.d_sigmoid_output),
              "the hinge loss needs D's raw scores, not a sigmoid output")
        unknown = set(self.augmentations) - set(AUGMENTATIONS)
        check(not unknown, f"unknown augmentation {', '.join(sorted(unknown))}; choose from "
                           f"{', '.join(AUGMENTATIONS)}")
        check(self.d_norm == "batch" or self.architecture != "scenario2",
              "scenario2's discriminator has no normalisation to replace")
        check(0 <= self.r1_gamma <= 1000, "the R1 weight (r1_gamma) must be in [0, 1000]")
        check(1 <= self.r1_every <= 10_000, "r1_every must be between 1 and 10,000")

    @property
    def augmentations(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.augment.split(",") if a.strip())

    def channels(self, n: int) -> int:
        """A layer's channel count at this width (never below 8)."""
        return max(8, int(round(n * self.width)))

    def replace(self, **changes) -> GANConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GANConfig:
        return cls(**json.loads(text))


PRESETS: dict[str, GANConfig] = {
    # The notebook, quirks included (see the module docstring).
    "course": GANConfig(architecture="course", bn_momentum=0.1, bn_epsilon=0.8,
                        d_sigmoid_output=True),
    # The same shapes, done right: D returns logits, BN with PyTorch's defaults translated
    # correctly (Keras momentum 0.9 = PyTorch 0.1; epsilon 1e-5).
    "dcgan": GANConfig(architecture="dcgan"),
    # Student project "scenario 2": a Dense -> 4x4x256 generator, TruncatedNormal(0.02) init,
    # dropout in D, batch 64, images fed as float16.
    "scenario2": GANConfig(architecture="scenario2", batch_size=64, d_dropout=0.3,
                           data_dtype="float16"),
    # Student project in PyTorch: latent 128, LeakyReLU 0.15, Adam(1e-3, betas (0.5, 0.9)),
    # batch 200.
    "pytorch-anime": GANConfig(architecture="pytorch-anime", latent_dim=128, leaky_slope=0.15,
                               g_lr=1e-3, d_lr=1e-3, beta_1=0.5, beta_2=0.9, batch_size=200),
    # GAN Studio's recipe for real faces on a CPU, chosen by `python -m gan_core sweep`
    # (docs/sweep.md): spectral norm in D, hinge loss, DiffAugment translation, two learning
    # rates (TTUR), half the width (a quarter of the FLOPs: three times the images a minute)
    # and a ramped weight average.
    "studio": GANConfig(architecture="dcgan", batch_size=64, d_norm="spectral", loss="hinge",
                        augment="translation", width=0.5, g_lr=1e-4, d_lr=4e-4,
                        ema=0.999, ema_rampup=0.05),
    # A learner's first run on the built-in faces: `studio` at a quarter of the width and half
    # the batch (more steps a minute), so faces form within 3 minutes on a 2-core CPU
    # (tests/perf/first_run.py; docs/PERFORMANCE.md).
    "quick": GANConfig(architecture="dcgan", batch_size=32, d_norm="spectral", loss="hinge",
                       augment="translation", width=0.25, g_lr=1e-4, d_lr=4e-4,
                       ema=0.999, ema_rampup=0.05),
}


def preset(name: str, **overrides) -> GANConfig:
    """A preset by name with any fields overridden (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**{k: v for k, v in overrides.items() if v is not None})


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
        generator(z, training=True)
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
