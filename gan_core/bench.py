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
"""

from __future__ import annotations

import tempfile
import time

import keras
import numpy as np

from . import data, dcgan, faces, generate, noise, system, toy2d, train
from . import events as ev

BATCH = 128


def fast_precision() -> str:
    """mixed_bfloat16 where the hardware computes in bfloat16, else float32."""
    if system.gpu_names(keras.backend.backend()) or system.cpu_has_bfloat16():
        return "mixed_bfloat16"
    return "float32"


def notebook_img_per_s(images: np.ndarray, steps: int) -> float | None:
    """The course's train_step, verbatim in spirit: BinaryCrossentropy(from_logits=True) on
    the sigmoid outputs, Adam(2e-4, 0.5), noise drawn inside the step."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    config = dcgan.PRESETS["course"]
    generator, discriminator, _ = dcgan.build(config)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(real_images):
        noise = tf.random.normal([BATCH, config.latent_dim])
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
    batches = [images[i:i + BATCH].astype(np.float32) / 127.5 - 1
               for i in range(0, len(images) - BATCH + 1, BATCH)]
    float(train_step(batches[0]))          # trace
    start = time.perf_counter()
    for i in range(steps):
        loss = train_step(batches[i % len(batches)])
    float(loss)
    return steps * BATCH / (time.perf_counter() - start)


def trainer_img_per_s(source, steps: int, precision: str, out,
                      preset: str = "course") -> tuple[float, str]:
    config = dcgan.preset(preset, precision=precision,
                          batch_size=BATCH if preset == "course" else None)
    trainer = train.Trainer(config, source, out, steps=steps + 2, sample_every=10**9,
                            checkpoint_every=10**9)
    rates = []
    for event in trainer.run():
        if isinstance(event, ev.Metrics) and event.step > 2:   # the first steps compile
            rates.append(event.img_per_s)
        if isinstance(event, ev.End) and event.status != "finished":
            raise RuntimeError(event.message)
    return float(np.mean(rates)), event.generator_path


def faces_img_per_s(n: int = 2048) -> float:
    """The built-in dataset's drawing speed (NumPy, one thread), best of three."""
    labels = faces.sample_labels(n, 0)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        faces.render(labels)
        best = min(best, time.perf_counter() - start)
    return n / best


def run(steps: int = 10) -> dict:
    info = system.device_info()
    drawn = faces_img_per_s()
    source = data.load(f"builtin:{BATCH * 8}")
    course = notebook_img_per_s(source.images, steps)
    precision = fast_precision()
    with tempfile.TemporaryDirectory() as tmp:
        ours, model_path = trainer_img_per_s(source, steps, precision, tmp)
        studio, _ = trainer_img_per_s(source, steps, precision, f"{tmp}/studio", "studio")
        gen = generate.Generator.load(model_path)
        z = noise.for_seeds(0, 2048, gen.latent_dim)
        for _ in range(5):
            gen(z[:1])                                   # compile
        latencies = []
        for i in range(200):
            start = time.perf_counter()
            gen(z[i:i + 1])
            latencies.append((time.perf_counter() - start) * 1e3)
        bulk_precision = "bfloat16" if precision == "mixed_bfloat16" else "float32"
        gen = generate.Generator.load(model_path, bulk_precision)
        gen(z[:256])
        start = time.perf_counter()
        generate.write_pngs(gen, z, [f"{i:06d}" for i in range(len(z))], f"{tmp}/pngs")
        bulk = len(z) / (time.perf_counter() - start)
    return {"device": info["device"], "backend": info["backend"], "precision": precision,
            "course_img_per_s": course, "train_img_per_s": ours,
            "ratio": ours / course if course else None,
            "studio_img_per_s": studio,     # GAN Studio's recipe for real faces, its own batch
            "g_latency_ms_p50": float(np.percentile(latencies, 50)),
            "g_latency_ms_p95": float(np.percentile(latencies, 95)),
            "generate_img_per_s": bulk, "generate_precision": bulk_precision,
            "builtin_faces_img_per_s": drawn,
            "toy2d_steps_per_s": toy2d.train(toy2d.Toy2DConfig(), 2000)["steps_per_s"]}
