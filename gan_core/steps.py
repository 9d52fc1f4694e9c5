"""One DCGAN training step, per Keras backend.

Both do what the course's `train_step` does: G makes a batch from noise, D scores the real and
the generated batch, and both networks take one Adam step on their own loss, computed from the
same forward pass (simultaneous updates). Gradients are the one thing Keras 3 leaves to each
backend, so this file has a TensorFlow version (GradientTape in a compiled tf.function) and a
JAX version (a pure function of the variables, jitted). Everything else is `keras.ops`, shared.

The dataset lives on the device as uint8; a step receives the batch's indices and the noise,
gathers and scales the images itself, so no float copy of the dataset exists anywhere.

With several devices both split each batch across them (data parallel) through their own
engine: TensorFlow's MirroredStrategy, Keras' distribution API on JAX. Either way one step
means the same as on one device: BatchNorm sees the whole batch, the gradients are summed.
"""

from __future__ import annotations

import contextlib
import functools
import math

import keras
import numpy as np
from keras import layers, ops

from . import multihost

METRICS = ("g_loss", "d_loss", "d_real", "d_fake")


def bce(score, target):
    """Binary cross-entropy of logits, stable, in float32; mean over everything."""
    score = ops.cast(score, "float32")
    return ops.mean(ops.relu(score) - score * target + ops.log1p(ops.exp(-ops.abs(score))))


def losses(config, real_score, fake_score):
    """(g_loss, d_loss, mean D(x), mean D(G(z))) from D's raw outputs."""
    if config.loss == "hinge":
        real, fake = ops.cast(real_score, "float32"), ops.cast(fake_score, "float32")
        d_loss = ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))
        g_loss = -ops.mean(fake)
    else:
        real_target = 1.0 - config.label_smoothing
        d_loss = bce(real_score, real_target) + bce(fake_score, 0.0)
        g_loss = bce(fake_score, 1.0)
    if config.d_sigmoid_output:   # the course: D's output already is a probability
        d_real, d_fake = ops.mean(real_score), ops.mean(fake_score)
    else:
        d_real, d_fake = ops.mean(ops.sigmoid(real_score)), ops.mean(ops.sigmoid(fake_score))
    return (g_loss * config.g_loss_weight, d_loss * config.d_loss_weight,
            ops.cast(d_real, "float32"), ops.cast(d_fake, "float32"))


def r1_weight(config):
    """What the squared gradient norm is multiplied by on a step that applies R1: gamma / 2,
    times the interval, so the lazy penalty weighs the same as one applied every step."""
    return config.r1_gamma / 2 * config.r1_every


# ---------------------------------------------------------------------------------------------
# DiffAugment (Zhao et al. 2020)
# ---------------------------------------------------------------------------------------------
# The same random, differentiable changes to every image D sees, real or generated, so D
# cannot memorise the few real images and G's gradient flows back through the change. The
# random numbers are drawn on the host from the run's seed and step (`augment_params`), so a
# resumed run augments exactly as it would have.

AUGMENT_PARAMS = 7           # brightness, saturation, contrast, dy, dx, cutout y, cutout x
TRANSLATE = 8                # 1/8 of 64 pixels, as in the paper
CUTOUT = 32                  # half of 64


def augment_params(rng, n):
    """float32 (n, AUGMENT_PARAMS): one row of random numbers per image."""
    out = np.empty((n, AUGMENT_PARAMS), np.float32)
    out[:, :3] = rng.random((n, 3))
    out[:, 3:5] = rng.integers(-TRANSLATE, TRANSLATE + 1, (n, 2))
    out[:, 5:7] = rng.integers(0, 64 + 1, (n, 2)) - CUTOUT // 2
    return out


def diff_augment(x, params, kinds):
    """Images (n, 64, 64, c) in [-1, 1] changed by `kinds` (a tuple of names from
    presets.AUGMENTATIONS) with one row of `params` each."""
    if not kinds:
        return x
    dtype = x.dtype
    x = ops.cast(x, "float32")
    n, h, w, c = x.shape
    p = [ops.reshape(params[:, i], (-1, 1, 1, 1)) for i in range(AUGMENT_PARAMS)]
    if "color" in kinds:
        x = x + (p[0] - 0.5)                                          # brightness
        mean = ops.mean(x, axis=3, keepdims=True)
        x = (x - mean) * (p[1] * 2.0) + mean                          # saturation
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        x = (x - mean) * (p[2] + 0.5) + mean                          # contrast
    if "translation" in kinds:
        # Shift each image by whole pixels, the gap filled with zeros: one gather from the
        # padded batch, differentiable in the images.
        t = TRANSLATE
        padded = ops.reshape(ops.pad(x, ((0, 0), (t, t), (t, t), (0, 0))), (-1, c))
        hp, wp = h + 2 * t, w + 2 * t
        dy = ops.cast(ops.reshape(params[:, 3], (-1, 1, 1)), "int32")
        dx = ops.cast(ops.reshape(params[:, 4], (-1, 1, 1)), "int32")
        rows = ops.reshape(ops.arange(h, dtype="int32"), (1, h, 1)) + t - dy
        cols = ops.reshape(ops.arange(w, dtype="int32"), (1, 1, w)) + t - dx
        image = ops.reshape(ops.arange(ops.shape(x)[0], dtype="int32"), (-1, 1, 1))
        index = image * (hp * wp) + rows * wp + cols
        x = ops.reshape(ops.take(padded, ops.reshape(index, (-1,)), axis=0), (-1, h, w, c))
    if "cutout" in kinds:
        rows = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1, 1))
        cols = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w, 1))
        inside = ((rows >= p[5]) & (rows < p[5] + CUTOUT)
                  & (cols >= p[6]) & (cols < p[6] + CUTOUT))
        x = x * (1.0 - ops.cast(inside, "float32"))
    return ops.cast(x, dtype)


def scale_images(batch, dtype="float32"):
    """uint8 [0, 255] -> [-1, 1]."""
    return ops.cast(ops.cast(batch, "float32") / 127.5 - 1.0, dtype)


def average(decay, ema, value):
    """One step of the generator's exponential moving average."""
    return decay * ema + (1.0 - decay) * value


def ema_decay(config, step):
    """The average's decay on training step `step` (0-based): `config.ema`, or with a ramp
    (StyleGAN2-ADA) less, so that its half-life, in images, is at most `ema_rampup` times the
    images seen so far. float32, as the step takes it."""
    decay = config.ema
    if decay and config.ema_rampup:
        B = config.batch_size
        half_life = B * math.log(0.5) / math.log(decay)          # in images
        half_life = min(half_life, (step + 1) * B * config.ema_rampup)
        decay = min(decay, 0.5 ** (B / max(half_life, 1e-8)))
    return np.float32(decay)


def make_step(config, generator, discriminator, g_opt, d_opt, data, g_ema=None):
    """A function step(indices, z, ema_decay, augment, r1) -> dict of scalar tensors (METRICS)
    that trains one batch.

    `data` is the uint8 dataset (N, 64, 64, 3). `g_ema`, when given, is a second generator that
    each step moves toward G's new weights by `ema_decay` (a float32 scalar: `config.ema`, or
    less early in a ramped run) and takes G's BatchNorm statistics. `augment` is float32
    (2 * batch, AUGMENT_PARAMS), the DiffAugment draws for the real then the generated images
    (ignored when the config augments nothing). `r1`: add the R1 penalty on this step.
    JAX keeps the variables in the returned step's own state; call `step.sync()` before
    reading or saving the Keras models.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _TensorFlowStep(config, generator, discriminator, g_opt, d_opt, data, g_ema)
    if backend == "jax":
        return _JaxStep(config, generator, discriminator, g_opt, d_opt, data, g_ema)
    raise RuntimeError(f"training needs the tensorflow or jax backend, not {backend}")


def building(config):
    """Build the models and their optimisers inside this: TensorFlow mirrors a variable across
    devices when it is created, so with several devices that must happen inside its
    MirroredStrategy. (JAX replicates the variables later, in the step.)"""
    strategy = mirrored_strategy(config)
    return strategy.scope() if strategy else contextlib.nullcontext()


def mirrored_strategy(config):
    """TensorFlow's MirroredStrategy over this machine's GPUs (or CPUs, when a test makes
    several logical ones), or None where there is one device or the batch does not split."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) < 2 or config.batch_size % len(devices):
        return None
    return _mirrored(tuple(d.name for d in devices))


@functools.cache
def _mirrored(devices):
    import tensorflow as tf     # one per device set: the models and the step must share it

    return tf.distribute.MirroredStrategy(list(devices))


class _TensorFlowStep:
    replicas = 1      # devices the batch is split across (set in __init__ when several)

    def __init__(self, config, G, D, g_opt, d_opt, data, g_ema):
        import tensorflow as tf

        strategy = mirrored_strategy(config)
        n = strategy.num_replicas_in_sync if strategy else 1
        if strategy is None:
            self.data = tf.constant(data)  # uint8, on the GPU when there is one
        else:                              # a copy on each device
            self.data = strategy.experimental_distribute_values_from_function(
                lambda _: tf.constant(data))
            self.replicas = n
            # Each replica normalises with the whole batch's statistics, as one device would.
            for model in (G, D, g_ema):
                for layer in model.layers if model is not None else ():
                    if isinstance(layer, layers.BatchNormalization):
                        layer.synchronized = True   # read at each call; saved copies rebuild

        kinds, B = config.augmentations, config.batch_size

        def train(data, indices, z, decay, aug, r1):
            if n > 1:                      # this replica's share of the batch
                i = tf.distribute.get_replica_context().replica_id_in_sync_group
                k = z.shape[0] // n          # static: the batch size is fixed
                indices, z = indices[i * k:(i + 1) * k], z[i * k:(i + 1) * k]
                aug = tf.concat([aug[i * k:(i + 1) * k], aug[B + i * k:B + (i + 1) * k]], 0)
            k = z.shape[0]
            real = scale_images(tf.gather(data, indices), config.data_dtype)
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = G(z, training=True)
                real = diff_augment(real, aug[:k], kinds)
                # R1 needs D's gradient in its input, itself differentiated: a tape inside.
                with (tf.GradientTape() if r1 else contextlib.nullcontext()) as r1_tape:
                    if r1:
                        r1_tape.watch(real)
                    real_score = D(real, training=True)
                    score_sum = tf.reduce_sum(tf.cast(real_score, "float32"))
                fake_score = D(diff_augment(fake, aug[k:], kinds), training=True)
                g_loss, d_loss, d_real, d_fake = losses(config, real_score, fake_score)
                d_total = d_loss
                if r1:
                    grad = tf.cast(r1_tape.gradient(score_sum, real), "float32")
                    d_total += r1_weight(config) * tf.reduce_mean(
                        tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
                # The optimisers sum the replicas' gradients: 1/n makes it the batch's mean.
                g_scaled, d_scaled = g_opt.scale_loss(g_loss / n), d_opt.scale_loss(d_total / n)
            g_opt.apply(g_tape.gradient(g_scaled, G.trainable_variables), G.trainable_variables)
            d_opt.apply(d_tape.gradient(d_scaled, D.trainable_variables), D.trainable_variables)
            if g_ema is not None:
                for e, v in zip(g_ema.trainable_variables, G.trainable_variables):
                    e.assign(average(decay, e, v))
                for e, v in zip(g_ema.non_trainable_variables, G.non_trainable_variables):
                    e.assign(v)
            metrics = {"g_loss": g_loss, "d_loss": d_loss, "d_real": d_real, "d_fake": d_fake}
            if n > 1:
                metrics = tf.distribute.get_replica_context().all_reduce("mean", metrics)
            return metrics

        # XLA fuses BatchNorm, LeakyReLU and Adam's small ops on a GPU. On a CPU it is slower
        # than TensorFlow's own oneDNN kernels (measured: 58 vs 78 img/s), so only on a GPU;
        # and only on one: it cannot compile a step that spans devices.
        # No autograph: the step has no Python control flow over tensors, and autograph's
        # ast.parse of our source, in the trainer's thread, races the page scripts' own parse
        # on Python 3.11 ("AST constructor recursion depth mismatch", a page error).
        # `r1` is a Python bool: one trace with the penalty, one without.
        @tf.function(jit_compile=n == 1 and bool(tf.config.list_physical_devices("GPU")),
                     autograph=False)
        def step(indices, z, decay, aug, r1):
            if strategy is None:
                return train(self.data, indices, z, decay, aug, r1)
            metrics = strategy.run(train, args=(self.data, indices, z, decay, aug, r1))
            return {k: strategy.experimental_local_results(v)[0] for k, v in metrics.items()}

        self._step = step

    def __call__(self, indices, z, decay, aug, r1=False):
        # The decay as a tensor: a NumPy or Python scalar would retrace for each new value.
        import tensorflow as tf

        return self._step(indices, z, tf.constant(decay, tf.float32), aug, bool(r1))

    def sync(self):
        """Nothing to do: TensorFlow updates the Keras variables in place."""


class _JaxStep:
    replicas = 1      # devices the batch is split across (set in __init__ when several)

    def __init__(self, config, G, D, g_opt, d_opt, data, g_ema):
        import jax
        import jax.numpy as jnp

        self.models, self.opts, self.g_ema = (G, D), (g_opt, d_opt), g_ema
        self.data = jnp.asarray(data)  # uint8, on the GPU when there is one
        self.state = self._read()
        self._synced = True            # the state was just read from the variables

        kinds, B = config.augmentations, config.batch_size

        def forward(g_tv, d_tv, g_ntv, d_ntv, real, z, aug, r1):
            fake, g_ntv = G.stateless_call(g_tv, g_ntv, z, training=True)
            real = diff_augment(real, aug[:B], kinds)

            def real_scores(x):
                score, ntv = D.stateless_call(d_tv, d_ntv, x, training=True)
                return jnp.sum(ops.cast(score, "float32")), (score, ntv)

            if r1:   # D's gradient in its input, itself differentiated by the vjp below
                grad, (real_score, d_ntv) = jax.grad(real_scores, has_aux=True)(real)
                grad = ops.cast(grad, "float32")
                penalty = r1_weight(config) * jnp.mean(jnp.sum(grad * grad, axis=(1, 2, 3)))
            else:
                _, (real_score, d_ntv) = real_scores(real)
                penalty = 0.0
            fake_score, d_ntv = D.stateless_call(d_tv, d_ntv, diff_augment(fake, aug[B:], kinds),
                                                 training=True)
            g_loss, d_loss, d_real, d_fake = losses(config, real_score, fake_score)
            return (g_loss, d_loss + penalty), (g_ntv, d_ntv, d_real, d_fake, d_loss)

        def loss_scale(opt, opt_vars):
            # LossScaleOptimizer keeps its scale in a variable; read it from this state.
            with keras.StatelessScope(state_mapping=list(zip(opt.variables, opt_vars))):
                return ops.cast(opt.scale_loss(1.0), "float32")

        @functools.partial(jax.jit, static_argnames="r1")
        def step(state, data, indices, z, decay, aug, r1):
            g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov, ema_tv = state
            real = scale_images(jnp.take(data, indices, axis=0), config.data_dtype)
            (g_loss, _), vjp, (g_ntv, d_ntv, d_real, d_fake, d_loss) = jax.vjp(
                lambda a, b: forward(a, b, g_ntv, d_ntv, real, z, aug, r1), g_tv, d_tv,
                has_aux=True)
            # One forward pass, two backward passes: each loss only to its own network's
            # weights (the cotangent is the loss scale), as the notebook's two tapes do.
            zero = jnp.zeros((), "float32")
            g_grads, _ = vjp((loss_scale(g_opt, g_ov), zero))
            _, d_grads = vjp((zero, loss_scale(d_opt, d_ov)))
            g_tv, g_ov = g_opt.stateless_apply(g_ov, g_grads, g_tv)
            d_tv, d_ov = d_opt.stateless_apply(d_ov, d_grads, d_tv)
            ema_tv = [average(decay, e, v) for e, v in zip(ema_tv, g_tv)]
            metrics = {"g_loss": g_loss, "d_loss": d_loss, "d_real": d_real, "d_fake": d_fake}
            return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov, ema_tv), metrics

        self._step = step
        self._shard = None
        # Several devices: data parallel through Keras' distribution API. The state and the
        # dataset are replicated, each batch is split along its first axis, and XLA (GSPMD)
        # adds the all-reduces, so the step means the same on n devices as on one (BatchNorm
        # still sees the whole batch). The devices may be other processes' (gan_core.multihost):
        # every process holds the same global values and gives each of its devices its part.
        devices = keras.distribution.list_devices()
        if len(devices) > 1 and config.batch_size % len(devices) == 0:
            dist = keras.distribution.DataParallel(devices=devices)
            whole = keras.distribution.TensorLayout([], dist.device_mesh).backend_layout

            def put(x, sharding):
                x = np.asarray(x)
                return jax.make_array_from_callback(x.shape, sharding, lambda i: x[i])

            self.data = put(data, whole)
            self.state = jax.tree_util.tree_map(lambda x: put(x, whole), self.state)
            self._shard = lambda x: put(x, dist.get_data_layout(x.shape).backend_layout)
            self._whole = lambda x: put(x, whole)
            self.replicas = len(devices)

    def _groups(self):
        """The Keras variables, in the order of the step's state tuple."""
        (G, D), (g_opt, d_opt) = self.models, self.opts
        return (G.trainable_variables, G.non_trainable_variables, D.trainable_variables,
                D.non_trainable_variables, g_opt.variables, d_opt.variables,
                self.g_ema.trainable_variables if self.g_ema is not None else [])

    def _read(self):
        return tuple([v.value for v in group] for group in self._groups())

    def __call__(self, indices, z, decay, aug, r1=False):
        if self._shard is not None:    # the augmentation draws are small: replicated
            indices, z = self._shard(indices), self._shard(z)
            decay, aug = self._whole(np.float32(decay)), self._whole(aug)
        self.state, metrics = self._step(self.state, self.data, indices, z, decay, aug,
                                         r1=bool(r1))
        self._synced = False
        return metrics

    def sync(self):
        """Write the step's state back into the Keras variables, once per step taken (the
        average generator's recalibrated statistics stay until the next step)."""
        if self._synced:
            return
        self._synced = True
        for variables, values in zip(self._groups(), self.state):
            for variable, value in zip(variables, values):
                variable.assign(multihost.local(value))
        if self.g_ema is not None:    # the average generator uses G's BatchNorm statistics
            G = self.models[0]
            for e, v in zip(self.g_ema.non_trainable_variables, G.non_trainable_variables):
                e.assign(v.value)
