"""`python -m gan_core bench`: training and generation speed, in one process and one run.

1. The course notebook's train step, as the notebook writes it: a plain @tf.function with two
   GradientTapes, on the `course` architecture at batch 128 (TensorFlow only).
2. The project's trainer on the same architecture and batch, in its fastest precision on this
   machine (mixed bfloat16 where the CPU has bfloat16 instructions or on a GPU).
3. The `studio` preset's trainer (the recipe for real faces), at its own batch.
4. One-image generation latency (p50, p95), in float32 as the latent explorer calls it, and
   bulk generation to PNG in the fastest precision (what `generate --precision` offers).
5. The 2-D toy GAN's training steps per second at GAN Lab's size (2 layers of 32 for G and D,
   batch 256; target 1,000 on a 2-core CPU).
6. The chip's own ceiling, measured in the same run through the same backend: dense matmul
   and a 3x3 convolution of the generator's shapes, in float32 and bfloat16. Each workload's
   FLOPs are counted from its networks' layers (`forward_flops`; a training step is three
   forward passes' worth: forward, and backward for inputs and for weights), so
   `fraction_of_ceiling` says how close to the chip each one runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from . import data, dcgan, faces, generate, noise, presets, system, toy2d, train
from . import events as ev

BATCH = 128


def fast_precision() -> str:
    """mixed_bfloat16 where the hardware computes in bfloat16, else float32."""
    if system.gpu_names(keras.backend.backend()) or system.cpu_has_bfloat16():
        return "mixed_bfloat16"
    return "float32"


def notebook_img_per_s(images: np.ndarray, steps: int, width: float = 1.0,
                       batch: int = BATCH) -> float | None:
    """The course's train_step, verbatim in spirit: BinaryCrossentropy(from_logits=True) on
    the sigmoid outputs, Adam(2e-4, 0.5), noise drawn inside the step."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    config = presets.preset("course", width=width)
    generator, discriminator, _ = dcgan.build(config)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(real_images):
        noise = tf.random.normal([batch, config.latent_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(real_images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(disc_loss,
                                                        discriminator.trainable_variables)
        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables))
        return gen_loss

    # The notebook feeds float32 batches in [-1, 1] from tf.data; made up front here.
    batches = [images[i:i + batch].astype(np.float32) / 127.5 - 1
               for i in range(0, len(images) - batch + 1, batch)]
    float(train_step(batches[0]))          # trace
    start = time.perf_counter()
    for i in range(steps):
        loss = train_step(batches[i % len(batches)])
    float(loss)
    return steps * batch / (time.perf_counter() - start)


def trainer_img_per_s(source, steps: int, precision: str, out, preset: str = "course",
                      width: float | None = None,
                      batch: int | None = None) -> tuple[float, str]:
    """img/s of train.Trainer, at `batch` (None: the preset's own), and its generator's path."""
    config = presets.preset(preset, precision=precision, width=width, batch_size=batch)
    trainer = train.Trainer(config, source, out, steps=steps + 2, sample_every=10**9,
                            checkpoint_every=10**9)
    rates = []
    for event in trainer.run():
        if isinstance(event, ev.Metrics) and event.step > 2:   # the first steps compile
            rates.append(event.img_per_s)
        if isinstance(event, ev.End) and event.status != "finished":
            raise RuntimeError(event.message)
    return float(np.mean(rates)), event.generator_path


# --- How close to the chip ---------------------------------------------------------------------

def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one image through the model's Dense and convolution layers (the
    rest, BatchNorm and activations, is a few per cent and memory-bound)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            kh, kw, a, b = layer.kernel.shape          # Conv2DTranspose: (kh, kw, out, in)
            # A convolution's kernel meets every output pixel; a transposed one's, every input
            # pixel (with stride s it writes s x s outputs per input).
            where = layer.input if isinstance(layer, keras.layers.Conv2DTranspose) \
                else layer.output
            total += 2 * where.shape[1] * where.shape[2] * kh * kw * a * b
    return int(total)


def train_flops(config) -> int:
    """One image of a training step: G once, D on a real and a generated image, each three
    forward passes' worth (forward, backward to inputs, backward to weights)."""
    generator, discriminator, _ = dcgan.build(config)
    return 3 * (forward_flops(generator) + 2 * forward_flops(discriminator))


def ceilings(seconds: float = 1.0) -> dict[str, float]:
    """TFLOP/s of the best of a 2048 x 2048 matmul and a 3x3 convolution (batch 64, 16 x 16,
    256 -> 256 channels: the generator's middle), per dtype, through this backend."""
    from keras import ops

    out = {}
    for dtype in ("float32", "bfloat16"):
        best = 0.0
        for flops, make, run in (
                (2 * 2048 ** 3, lambda: [ops.ones((2048, 2048), dtype)] * 2,
                 lambda a, b: ops.matmul(a, b)),
                (2 * 64 * 16 * 16 * 9 * 256 * 256,
                 lambda: [ops.ones((64, 16, 16, 256), dtype), ops.ones((3, 3, 256, 256), dtype)],
                 lambda x, k: ops.conv(x, k, padding="same"))):
            args = make()
            keras.ops.convert_to_numpy(run(*args))          # compile, warm up
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 2:
                result = run(*args)
                n += 1
            keras.ops.convert_to_numpy(result)
            best = max(best, n * flops / (time.perf_counter() - start))
        out[dtype] = round(best / 1e12, 3)
    return out


def faces_img_per_s(n: int = 2048) -> float:
    """The built-in dataset's drawing speed (NumPy, one thread), best of three."""
    labels = faces.sample_labels(n, 0)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        faces.render(labels)
        best = min(best, time.perf_counter() - start)
    return n / best


def latency_ms(gen, z, n: int = 200) -> list[float]:
    """One face at a time, as the explorer asks."""
    for _ in range(5):
        gen(z[:1])                                   # compile
    out = []
    for i in range(n):
        start = time.perf_counter()
        gen(z[i:i + 1])
        out.append((time.perf_counter() - start) * 1e3)
    return out


def run(steps: int = 10, tiny: bool = False) -> dict:
    """tiny: every part at a token size, to check that bench runs (its figures mean nothing)."""
    from . import settings

    info = system.device_info()
    ceiling = ceilings(0.05 if tiny else 1.0)
    n_faces, n_calls, toy_steps = (64, 10, 50) if tiny else (2048, 200, 2000)
    width = 0.125 if tiny else None        # tiny: the networks an eighth wide, too
    batch = 16 if tiny else BATCH           # and batches of 16
    drawn = faces_img_per_s(n_faces)
    source = data.load(f"builtin:{batch * 8}")
    course = notebook_img_per_s(source.images, steps, width or 1.0, batch)
    precision = fast_precision()
    with tempfile.TemporaryDirectory() as tmp:
        ours, model_path = trainer_img_per_s(source, steps, precision, tmp, width=width,
                                             batch=batch)
        studio, _ = trainer_img_per_s(source, steps, precision, f"{tmp}/studio", "studio",
                                      width, batch=batch if tiny else None)  # else its own
        # The explorer's face: the shipped generator where there is one (a test's checkout
        # may lack it), else the course generator just trained.
        latency_model = settings.SHIPPED_GENERATOR if settings.SHIPPED_GENERATOR.exists() \
            else Path(model_path)
        gen = generate.Generator.load(latency_model)
        z = noise.for_seeds(0, n_faces, gen.latent_dim)
        latencies = latency_ms(gen, z, n_calls)
        face_flops = forward_flops(gen.model) * generate.CALL_ROWS   # a call computes them all
        bulk_precision = "bfloat16" if precision == "mixed_bfloat16" else "float32"
        gen = generate.Generator.load(model_path, bulk_precision)
        gen(z[:256])
        start = time.perf_counter()
        generate.write_pngs(gen, z, [f"{i:06d}" for i in range(len(z))], f"{tmp}/pngs")
        bulk = len(z) / (time.perf_counter() - start)
    toy = toy2d.train(toy2d.Toy2DConfig(), toy_steps)["steps_per_s"]
    course_flops = train_flops(presets.preset("course", precision=precision, batch_size=batch,
                                              width=width))
    studio_flops = train_flops(presets.preset("studio", precision=precision, width=width))
    bulk_flops = forward_flops(gen.model)
    top = ceiling["bfloat16" if precision == "mixed_bfloat16" else "float32"] * 1e12
    p95 = float(np.percentile(latencies, 95))
    fraction = {"course_training": ours * course_flops / top,
                "studio_training": studio * studio_flops / top,
                "one_face": face_flops / (p95 / 1e3) / (ceiling["float32"] * 1e12),
                "bulk_faces": bulk * bulk_flops / (ceiling[bulk_precision] * 1e12),
                "toy2d_training": toy * toy2d_flops() / (ceiling["float32"] * 1e12)}
    return {"device": info["device"], "backend": info["backend"], "precision": precision,
            "ceiling_tflops": ceiling,
            "fraction_of_ceiling": {k: round(min(max(v, 1e-9), 1.0), 6)
                                    for k, v in fraction.items()},
            "g_latency_model": latency_model.name,
            "course_img_per_s": course, "train_img_per_s": ours,
            "ratio": ours / course if course else None,
            "studio_img_per_s": studio,     # GAN Studio's recipe for real faces, its own batch
            "g_latency_ms_p50": float(np.percentile(latencies, 50)),
            "g_latency_ms_p95": float(np.percentile(latencies, 95)),
            "generate_img_per_s": bulk, "generate_precision": bulk_precision,
            "builtin_faces_img_per_s": drawn,
            "toy2d_steps_per_s": toy}


def toy2d_flops() -> int:
    """One step of the 2-D toy at GAN Lab's size: its dense layers, three passes' worth, for
    G on a batch and D on a real and a generated batch (as `train_flops`)."""
    cfg = toy2d.Toy2DConfig()
    def mlp(sizes):
        return sum(2 * a * b for a, b in zip(sizes, sizes[1:]))
    g = mlp([cfg.noise_dim] + [cfg.g_units] * cfg.g_layers + [2])
    d = mlp([2] + [cfg.d_units] * cfg.d_layers + [1])
    return 3 * cfg.batch * (g + 2 * d)
