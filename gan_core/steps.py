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

import keras
from keras import layers, ops

METRICS = ("g_loss", "d_loss", "d_real", "d_fake")


def bce(score, target):
    """Binary cross-entropy of logits, stable, in float32; mean over everything."""
    score = ops.cast(score, "float32")
    return ops.mean(ops.relu(score) - score * target + ops.log1p(ops.exp(-ops.abs(score))))


def losses(config, real_score, fake_score):
    """(g_loss, d_loss, mean D(x), mean D(G(z))) from D's raw outputs."""
    real_target = 1.0 - config.label_smoothing
    d_loss = bce(real_score, real_target) + bce(fake_score, 0.0)
    g_loss = bce(fake_score, 1.0)
    if config.d_sigmoid_output:   # the course: D's output already is a probability
        d_real, d_fake = ops.mean(real_score), ops.mean(fake_score)
    else:
        d_real, d_fake = ops.mean(ops.sigmoid(real_score)), ops.mean(ops.sigmoid(fake_score))
    return (g_loss * config.g_loss_weight, d_loss * config.d_loss_weight,
            ops.cast(d_real, "float32"), ops.cast(d_fake, "float32"))


def scale_images(batch, dtype="float32"):
    """uint8 [0, 255] -> [-1, 1]."""
    return ops.cast(ops.cast(batch, "float32") / 127.5 - 1.0, dtype)


def average(decay, ema, value):
    """One step of the generator's exponential moving average."""
    return decay * ema + (1.0 - decay) * value


def make_step(config, generator, discriminator, g_opt, d_opt, data, g_ema=None):
    """A function step(indices, z) -> dict of scalar tensors (METRICS) that trains one batch.

    `data` is the uint8 dataset (N, 64, 64, 3). `g_ema`, when given, is a second generator that
    each step moves toward G's new weights (`config.ema`) and takes G's BatchNorm statistics.
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

        def train(data, indices, z):
            if n > 1:                      # this replica's share of the batch
                i = tf.distribute.get_replica_context().replica_id_in_sync_group
                k = z.shape[0] // n          # static: the batch size is fixed
                indices, z = indices[i * k:(i + 1) * k], z[i * k:(i + 1) * k]
            real = scale_images(tf.gather(data, indices), config.data_dtype)
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = G(z, training=True)
                real_score = D(real, training=True)
                fake_score = D(fake, training=True)
                g_loss, d_loss, d_real, d_fake = losses(config, real_score, fake_score)
                # The optimisers sum the replicas' gradients: 1/n makes it the batch's mean.
                g_scaled, d_scaled = g_opt.scale_loss(g_loss / n), d_opt.scale_loss(d_loss / n)
            g_opt.apply(g_tape.gradient(g_scaled, G.trainable_variables), G.trainable_variables)
            d_opt.apply(d_tape.gradient(d_scaled, D.trainable_variables), D.trainable_variables)
            if g_ema is not None:
                for e, v in zip(g_ema.trainable_variables, G.trainable_variables):
                    e.assign(average(config.ema, e, v))
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
        @tf.function(jit_compile=n == 1 and bool(tf.config.list_physical_devices("GPU")),
                     autograph=False)
        def step(indices, z):
            if strategy is None:
                return train(self.data, indices, z)
            metrics = strategy.run(train, args=(self.data, indices, z))
            return {k: strategy.experimental_local_results(v)[0] for k, v in metrics.items()}

        self._step = step

    def __call__(self, indices, z):
        return self._step(indices, z)

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

        def forward(g_tv, d_tv, g_ntv, d_ntv, real, z):
            fake, g_ntv = G.stateless_call(g_tv, g_ntv, z, training=True)
            real_score, d_ntv = D.stateless_call(d_tv, d_ntv, real, training=True)
            fake_score, d_ntv = D.stateless_call(d_tv, d_ntv, fake, training=True)
            g_loss, d_loss, d_real, d_fake = losses(config, real_score, fake_score)
            return (g_loss, d_loss), (g_ntv, d_ntv, d_real, d_fake)

        def loss_scale(opt, opt_vars):
            # LossScaleOptimizer keeps its scale in a variable; read it from this state.
            with keras.StatelessScope(state_mapping=list(zip(opt.variables, opt_vars))):
                return ops.cast(opt.scale_loss(1.0), "float32")

        @jax.jit
        def step(state, data, indices, z):
            g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov, ema_tv = state
            real = scale_images(jnp.take(data, indices, axis=0), config.data_dtype)
            (g_loss, d_loss), vjp, (g_ntv, d_ntv, d_real, d_fake) = jax.vjp(
                lambda a, b: forward(a, b, g_ntv, d_ntv, real, z), g_tv, d_tv, has_aux=True)
            # One forward pass, two backward passes: each loss only to its own network's
            # weights (the cotangent is the loss scale), as the notebook's two tapes do.
            zero = jnp.zeros((), "float32")
            g_grads, _ = vjp((loss_scale(g_opt, g_ov), zero))
            _, d_grads = vjp((zero, loss_scale(d_opt, d_ov)))
            g_tv, g_ov = g_opt.stateless_apply(g_ov, g_grads, g_tv)
            d_tv, d_ov = d_opt.stateless_apply(d_ov, d_grads, d_tv)
            ema_tv = [average(config.ema, e, v) for e, v in zip(ema_tv, g_tv)]
            metrics = {"g_loss": g_loss, "d_loss": d_loss, "d_real": d_real, "d_fake": d_fake}
            return (g_tv, g_ntv, d_tv, d_ntv, g_ov, d_ov, ema_tv), metrics

        self._step = step
        self._shard = None
        # Several devices: data parallel through Keras' distribution API. The state and the
        # dataset are replicated, each batch is split along its first axis, and XLA (GSPMD)
        # adds the all-reduces, so the step means the same on n devices as on one (BatchNorm
        # still sees the whole batch).
        devices = keras.distribution.list_devices()
        if len(devices) > 1 and config.batch_size % len(devices) == 0:
            dist = keras.distribution.DataParallel(devices=devices)

            def replicated(x):
                layout = keras.distribution.TensorLayout([None] * x.ndim, dist.device_mesh)
                return keras.distribution.distribute_tensor(x, layout)

            self.data = replicated(self.data)
            self.state = jax.tree_util.tree_map(replicated, self.state)
            self._shard = lambda x: keras.distribution.distribute_tensor(
                x, dist.get_data_layout(x.shape))
            self.replicas = len(devices)

    def _groups(self):
        """The Keras variables, in the order of the step's state tuple."""
        (G, D), (g_opt, d_opt) = self.models, self.opts
        return (G.trainable_variables, G.non_trainable_variables, D.trainable_variables,
                D.non_trainable_variables, g_opt.variables, d_opt.variables,
                self.g_ema.trainable_variables if self.g_ema is not None else [])

    def _read(self):
        return tuple([v.value for v in group] for group in self._groups())

    def __call__(self, indices, z):
        if self._shard is not None:
            indices, z = self._shard(indices), self._shard(z)
        self.state, metrics = self._step(self.state, self.data, indices, z)
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
                variable.assign(value)
        if self.g_ema is not None:    # the average generator uses G's BatchNorm statistics
            G = self.models[0]
            for e, v in zip(self.g_ema.non_trainable_variables, G.non_trainable_variables):
                e.assign(v.value)
