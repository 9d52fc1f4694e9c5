"""The one DCGAN training loop. It yields events; the page, the CLI and the tests consume them.

    trainer = Trainer(preset("dcgan"), data.load("builtin"), "runs/demo", steps=2000)
    for event in trainer.run():
        print(event.kind, event.step, event.data)

Events, in order: `start`; then per logged step `metrics` (step, g_loss, d_loss, d_real,
d_fake, img_per_s); every `sample_every` steps `samples` (a grid from a fixed noise batch, with
D's score of each image); every `checkpoint_every` steps `checkpoint`; `quality` (SWD, MS-SSIM
against held-out images) every `quality_every` steps; `epoch` at each epoch's end; `paused` and
`resumed`; and one `end` whose status is finished, stopped, diverged or error.

A run folder holds config.json, metrics.jsonl, quality.jsonl, checkpoints/ckpt-STEP.npz,
samples/step-STEP.png, generator.keras and tensorboard/. Everything is written atomically.
Every random thing derives from the seed and the step number, so a run resumed from a
checkpoint draws exactly the batches and noise it would have drawn.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from . import data as data_mod
from . import files, images
from .dcgan import GANConfig, build, portable_copy, recalibrate_batchnorm
from .steps import METRICS, augment_params, building, ema_decay, make_step

N_SAMPLES = 64
KEEP_CHECKPOINTS = 3


@dataclass
class Event:
    kind: str
    step: int
    epoch: int
    data: dict = field(default_factory=dict)


class Control:
    """Cooperative pause and stop, from another thread: they take effect between two steps."""

    def __init__(self):
        self._run = threading.Event()
        self._run.set()
        self.stopped = False

    def pause(self):
        self._run.clear()

    def resume(self):
        self._run.set()

    def stop(self):
        self.stopped = True
        self._run.set()

    @property
    def paused(self):
        return not self._run.is_set()

    def wait(self):
        self._run.wait()


def make_optimizers(config: GANConfig):
    """Adam for G and for D; under mixed float16, each gets its own loss-scale wrapper (Keras
    would wrap only `model.optimizer`)."""
    opts = [keras.optimizers.Adam(lr, config.beta_1, config.beta_2)
            for lr in (config.g_lr, config.d_lr)]
    if config.precision == "mixed_float16":
        opts = [keras.optimizers.LossScaleOptimizer(o) for o in opts]
    return opts


# Random streams: each draw is a function of (seed, stream, counter) alone.
TRAIN_NOISE, EPOCH_ORDER, FIXED_NOISE, QUALITY_NOISE, BATCHNORM_NOISE, AUGMENT = 1, 2, 3, 4, 5, 6
RECALIBRATION_BATCH = 1024
MIN_HELD_OUT = 16            # quality.compare: 8 generated vs 8 real, and 8 more real as the floor


def noise(seed: int, step: int, n: int, latent_dim: int, stream: int = TRAIN_NOISE):
    """The noise of one step: float32 (n, latent_dim) from N(0, 1)."""
    rng = np.random.default_rng([seed, stream, step])
    return rng.standard_normal((n, latent_dim), np.float32)


def default_holdout(n: int, quality_every: int) -> int:
    """Images held out for quality: a tenth of the data, up to 2,048, and never fewer than
    quality needs; none when quality is not measured."""
    return min(2048, max(MIN_HELD_OUT, n // 10)) if quality_every else 0


def check_data_size(n: int, batch_size: int, quality_every: int = 0, holdout: int = 0):
    """Refuse data too small for the batch or for measuring quality, in words that fit the
    page and the command line alike."""
    holdout = holdout or default_holdout(n, quality_every)
    held = min(holdout, n // 2)
    if n - held < batch_size:
        more = f" ({held:,} more held out for quality)" if held else ""
        raise ValueError(f"the data has {n - held:,} training images{more}, fewer than the "
                         f"batch size {batch_size}: choose a smaller batch or add images")
    if quality_every and held < MIN_HELD_OUT:
        raise ValueError(f"measuring quality needs {MIN_HELD_OUT} held-out images and the "
                         f"data has {n:,} images in all: measure quality never (0) or add "
                         f"images")


def untrained_preview(config: GANConfig, seed: int = 0, n: int = 16):
    """What a run's untrained G and D are, for a page before training: the layer tables,
    the parameter counts, and G's images from the run's own fixed noise (its first sample
    grid). An untrained G's pixels differ by a few levels only, a flat grey, so each image is
    also returned contrast-stretched (its own min to max over 0..255), to show its structure."""
    from .dcgan import layer_table

    keras.utils.set_random_seed(seed)
    G, D, _ = build(config)
    z = noise(seed, 0, N_SAMPLES, config.latent_dim, FIXED_NOISE)[:n]
    raw = keras.ops.convert_to_numpy(G(z, training=False)).astype(np.float64)
    low = raw.min(axis=(1, 2, 3), keepdims=True)
    high = raw.max(axis=(1, 2, 3), keepdims=True)
    stretched = ((raw - low) / np.maximum(high - low, 1e-12) * 255).round().astype(np.uint8)
    return {"g_table": layer_table(G), "d_table": layer_table(D),
            "g_params": G.count_params(), "d_params": D.count_params(),
            "images": images.to_uint8(raw), "stretched": stretched,
            "spread": float(np.mean(high - low) * 127.5)}    # in levels of 255


class Trainer:
    _portable = None      # the float32 generator that checkpoints save (_portable_generator)
    _good_checkpoint = None   # the newest checkpoint loaded or written by this trainer

    def __init__(self, config: GANConfig, source, out_dir, *, steps: int | None = None,
                 epochs: float | None = None, seed: int = 0, checkpoint_every: int = 500,
                 sample_every: int = 100, log_every: int = 1, quality_every: int = 0,
                 holdout: int = 0, resume: bool = False, control: Control | None = None):
        self.out = Path(out_dir)
        self.control = control or Control()
        self.resume = resume
        self.resume_from = None    # the checkpoint actually loaded, once run() has started
        self.skipped_checkpoints = []   # (file name, reason): unreadable ones passed over
        self._order_epoch, self._quality_floor = None, None
        if resume:
            saved = self.out / "config.json"
            if not saved.exists():
                raise ValueError(f"nothing to resume in {self.out}: no config.json")
            meta = json.loads(saved.read_text())
            config, seed = GANConfig(**meta["config"]), meta["seed"]
            holdout = meta.get("holdout", holdout)
            if not self.checkpoints():
                raise ValueError(f"nothing to resume in {self.out}: no checkpoint yet")
        self.config, self.seed = config, seed
        self.source = source if isinstance(source, data_mod.ImageSet) \
            else data_mod.ImageSet(np.asarray(source), "array")
        n = len(self.source)
        self.holdout = holdout or default_holdout(n, quality_every)
        check_data_size(n, config.batch_size, quality_every, self.holdout)
        self.train_idx, self.held_idx = data_mod.split(n, self.holdout, seed)
        self.steps_per_epoch = len(self.train_idx) // config.batch_size
        if steps is None and epochs is None:
            raise ValueError("give a number of steps or epochs")
        self.total = int(steps) if steps is not None \
            else math.ceil(float(epochs) * self.steps_per_epoch)
        if self.total < 1:
            raise ValueError("train for at least one step")
        self.every = {"checkpoint": max(1, checkpoint_every), "sample": max(1, sample_every),
                      "log": max(1, log_every), "quality": quality_every}

    # -- the loop ---------------------------------------------------------------------------

    def run(self):
        """Train, yielding Events. Always ends with one `end` event."""
        try:
            with files.folder_lock(self.out) as self.stale_lock:
                yield from self._run()
        except (files.FolderLocked, OSError) as error:   # in use, or not writable at all
            yield Event("end", 0, 0, {"status": "error", "message": str(error),
                                      "last_checkpoint": None})

    def _run(self):
        """The run under the folder's lock."""
        step = 0
        try:
            cfg = self.config
            self.removed_temporaries = files.remove_stale_temporaries(self.out)
            self._build_models()
            if self.resume:
                step = self._load_checkpoint()
            else:
                self._prepare_run_dir()
            # uint8 on the device: the train split only (a memory-map is read once, here)
            self.step_fn = make_step(cfg, self.G, self.D, self.g_opt, self.d_opt,
                                     np.asarray(self.source.images[self.train_idx]), self.G_ema)
            self.fixed_z = noise(self.seed, 0, N_SAMPLES, cfg.latent_dim, FIXED_NOISE)
            self.board = _TensorBoard(self.out / "tensorboard")
            yield Event("start", step, step // self.steps_per_epoch, {
                "total_steps": self.total, "steps_per_epoch": self.steps_per_epoch,
                "images": len(self.train_idx), "held_out": len(self.held_idx),
                "replicas": self.step_fn.replicas,
                "skipped": list(self.source.skipped), "resumed_from": self.resume_from and
                str(self.resume_from), "skipped_checkpoints": list(self.skipped_checkpoints),
                "stale_lock": self.stale_lock, "removed_temporaries": self.removed_temporaries,
                "config": json.loads(cfg.to_json())})
            if step == 0:
                yield self._samples(0)
            try:
                yield from self._loop(step)
            finally:
                self.board.close()
        except Exception as error:  # OOM, a full disk, a bad checkpoint: say so, keep what was
            message = f"{type(error).__name__}: {error}"
            logging.getLogger(__name__).debug("training failed", exc_info=True)
            yield Event("end", step, 0, {"status": "error", "message": message,
                                         "last_checkpoint": self._last_saved()})

    def _loop(self, step):
        cfg, B = self.config, self.config.batch_size
        last_time, last_step, last_good = time.perf_counter(), step, None
        while step < self.total:
            if self.control.paused:
                yield Event("paused", step, step // self.steps_per_epoch)
                self.control.wait()
                yield Event("resumed", step, step // self.steps_per_epoch)
                last_time, last_step = time.perf_counter(), step
            if self.control.stopped:
                break
            epoch, position = divmod(step, self.steps_per_epoch)
            order = self._epoch_order(epoch)
            idx = np.sort(order[position * B:(position + 1) * B]).astype(np.int32)
            augment = augment_params(np.random.default_rng([self.seed, AUGMENT, step]), 2 * B)
            out = self.step_fn(idx, noise(self.seed, step, B, cfg.latent_dim),
                               ema_decay(cfg, step), augment,
                               r1=cfg.r1_gamma > 0 and step % cfg.r1_every == 0)
            step += 1
            self._ema_stale = True

            if step % self.every["log"] == 0 or step == self.total:
                values = {k: float(out[k]) for k in METRICS}
                now = time.perf_counter()
                values["img_per_s"] = (step - last_step) * B / max(now - last_time, 1e-9)
                last_time, last_step = now, step
                if not all(math.isfinite(v) for v in values.values()):
                    yield Event("end", step, epoch, {
                        "status": "diverged", "metrics": values,
                        "last_checkpoint": self._last_saved(),
                        "message": f"a loss became NaN or infinite at step {step}"})
                    return
                last_good = values
                self._append("metrics.jsonl", {"step": step, **values})
                self.board.scalars(step, values)
                yield Event("metrics", step, epoch, values)
            if step % self.every["sample"] == 0:
                yield self._samples(step)
            if self.every["quality"] and step % self.every["quality"] == 0:
                yield self._quality(step)
            if step % self.every["checkpoint"] == 0 and step < self.total:
                yield self._checkpoint(step)
            if step % self.steps_per_epoch == 0:
                yield Event("epoch", step, step // self.steps_per_epoch)

        status = "stopped" if step < self.total else "finished"
        if step % self.every["sample"]:
            yield self._samples(step)
        saved = self._checkpoint(step)
        yield saved
        yield Event("end", step, step // self.steps_per_epoch, {
            "status": status, "metrics": last_good, "generator": saved.data["generator"],
            "last_checkpoint": saved.data["path"]})

    def _build_models(self):
        """G, D (and the average G) with their optimisers, all variables created."""
        keras.utils.set_random_seed(self.seed)
        self._ema_stale = True       # the average G's BatchNorm statistics need recalibrating
        with building(self.config):
            self.G, self.D, self.G_ema = build(self.config, fused_bn=True)
            self.g_opt, self.d_opt = make_optimizers(self.config)
            self.g_opt.build(self.G.trainable_variables)
            self.d_opt.build(self.D.trainable_variables)

    def _epoch_order(self, epoch):
        if self._order_epoch != epoch:
            rng = np.random.default_rng([self.seed, EPOCH_ORDER, epoch])
            self._order, self._order_epoch = rng.permutation(len(self.train_idx)), epoch
        return self._order

    # -- samples, quality -------------------------------------------------------------------

    @property
    def generator(self):
        """The generator that samples and exports use: the average one (its BatchNorm
        statistics recalibrated) when there is one."""
        if self.G_ema is None:
            return self.G
        self.step_fn.sync()          # brings G's statistics in; replace them with its own
        if self._ema_stale:          # once per trained state: a samples step that also saves
            recalibrate_batchnorm(   # and measures quality would otherwise do it ten times
                self.G_ema, noise(self.seed, 0, RECALIBRATION_BATCH, self.config.latent_dim,
                                  BATCHNORM_NOISE))
            self._ema_stale = False
        return self.G_ema

    def generate(self, z):
        """uint8 images from the current generator (inference mode), and D's probability of
        each being real."""
        self.step_fn.sync()
        fake = self.generator(z, training=False)
        score = keras.ops.convert_to_numpy(self.D(fake, training=False)).reshape(len(z), -1)
        prob = score.mean(1) if self.config.d_sigmoid_output else 1 / (1 + np.exp(-score.mean(1)))
        return images.to_uint8(keras.ops.convert_to_numpy(fake)), prob

    def _samples(self, step):
        fakes, scores = self.generate(self.fixed_z)
        path = self.out / "samples" / f"step-{step:08d}.png"
        grid = images.grid(fakes, 8)
        files.write_bytes(path, images.png_bytes(grid))
        self.board.image(step, grid)
        return Event("samples", step, step // self.steps_per_epoch,
                     {"images": fakes, "scores": scores, "path": str(path)})

    def _quality(self, step):
        from . import quality

        if self._quality_floor is None:   # the held-out images and their floor never change
            real = np.asarray(self.source.images[self.held_idx])
            self._quality_floor = real, quality.real_floor(real, seed=self.seed)
        real, floor = self._quality_floor
        n = len(real) // 2                # compare() uses this many generated images
        fakes = np.concatenate([self.generate(noise(self.seed, i, min(256, n - i),
                                                    self.config.latent_dim, QUALITY_NOISE))[0]
                                for i in range(0, n, 256)])
        values = quality.compare(fakes, real, seed=self.seed, floor=floor)
        self._append("quality.jsonl", {"step": step, **values})
        self.board.scalars(step, {f"quality/{k}": v for k, v in values.items()})
        return Event("quality", step, step // self.steps_per_epoch, values)

    # -- files ------------------------------------------------------------------------------

    def _prepare_run_dir(self):
        self.out.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.jsonl", "quality.jsonl"):
            (self.out / name).unlink(missing_ok=True)
        files.write_text(self.out / "config.json", json.dumps({
            "config": json.loads(self.config.to_json()), "seed": self.seed,
            "total_steps": self.total, "holdout": self.holdout,
            "data": self.source.name, "backend": keras.backend.backend()}, indent=1))

    def _append(self, name, row):
        with open(self.out / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def _variables(self):
        groups = {"g": self.G.variables, "d": self.D.variables,
                  "g_opt": self.g_opt.variables, "d_opt": self.d_opt.variables}
        if self.G_ema is not None:
            groups["g_ema"] = self.G_ema.variables
        return groups

    def _checkpoint(self, step):
        self.step_fn.sync()
        arrays = {f"{group}/{i}": keras.ops.convert_to_numpy(v.value)
                  for group, variables in self._variables().items()
                  for i, v in enumerate(variables)}
        arrays["meta"] = np.frombuffer(json.dumps({"step": step}).encode(), np.uint8)
        path = self.out / "checkpoints" / f"ckpt-{step:08d}.npz"
        with files.atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
        generator = self.out / "generator.keras"
        with files.atomic_path(generator) as tmp:
            self._portable_generator().save(tmp)
        self._good_checkpoint = path
        for old in sorted(path.parent.glob("ckpt-*.npz"))[:-KEEP_CHECKPOINTS]:
            old.unlink()
        return Event("checkpoint", step, step // self.steps_per_epoch,
                     {"path": str(path), "generator": str(generator)})

    def checkpoints(self):
        return sorted((self.out / "checkpoints").glob("ckpt-*.npz"))

    @classmethod
    def for_export(cls, out_dir) -> Trainer:
        """A trainer of a saved run that can only export (it has no data)."""
        saved = Path(out_dir) / "config.json"
        if not saved.exists():
            raise ValueError(f"{out_dir} is not a training run: no config.json")
        meta = json.loads(saved.read_text())
        trainer = cls.__new__(cls)
        trainer.out, trainer.resume_from = Path(out_dir), None
        trainer.config, trainer.seed = GANConfig(**meta["config"]), meta["seed"]
        return trainer

    def export(self, path) -> Path:
        """The run's generator from its newest readable checkpoint, as a float32 .keras file
        (the average generator when the run kept one)."""
        self._build_models()
        self._load_checkpoint(keep_logs=True)
        self.step_fn = _NoStep()
        with files.atomic_path(path) as tmp:
            self._portable_generator().save(tmp)
        return Path(path)

    def _portable_generator(self):
        """The generator as saved: float32 (`portable_copy`), built once and given the
        current weights each time. A new model per checkpoint grew the process by tens of MB
        each time (native memory that Python's gc never sees)."""
        if self._portable is None:
            self._portable = portable_copy(self.generator, self.config)
        else:
            self._portable.set_weights(self.generator.get_weights())
        return self._portable

    def _last_saved(self):
        """The newest checkpoint known to be good: the one loaded or saved last (a damaged
        newer file is never named as good)."""
        return str(self._good_checkpoint) if self._good_checkpoint else None

    def _load_checkpoint(self, keep_logs=False):
        """Load the newest readable checkpoint; returns its step."""
        errors = []
        for candidate in self.checkpoints()[::-1]:
            try:
                with np.load(candidate) as saved:
                    step = json.loads(bytes(saved["meta"]).decode())["step"]
                    pairs = [(v, saved[f"{group}/{i}"])
                             for group, variables in self._variables().items()
                             for i, v in enumerate(variables)]
                    for v, value in pairs:     # check all before changing any
                        if tuple(v.shape) != value.shape:
                            raise ValueError(f"{v.path} has shape {value.shape}, "
                                             f"expected {tuple(v.shape)}")
                    for v, value in pairs:
                        v.assign(value)
                # Rows logged after this checkpoint (a run killed later) will be logged again.
                for name in ("metrics.jsonl", "quality.jsonl") if not keep_logs else ():
                    rows = [r for r in read_jsonl(self.out / name) if r["step"] <= step]
                    files.write_text(self.out / name, "".join(json.dumps(r) + "\n"
                                                              for r in rows))
                self.resume_from = self._good_checkpoint = candidate
                return int(step)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
                # A half-written or truncated file (a crash, a full disk): try the one before.
                reason = f"{type(error).__name__}: {error}"
                errors.append(f"{candidate.name}: {reason}")
                self.skipped_checkpoints.append((candidate.name, reason))
                logging.getLogger(__name__).warning("skipped unreadable checkpoint %s (%s)",
                                                    candidate, reason)
        raise ValueError("no readable checkpoint: " + "; ".join(errors))


class _NoStep:
    """The step function of a trainer that only exports: nothing to sync."""

    def sync(self):
        pass


class _TensorBoard:
    """Scalars and sample grids as TensorBoard event files, written with the tensorboard
    package alone, so the same logs come from either backend."""

    def __init__(self, folder):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.event_pb2, self.summary_pb2 = event_pb2, summary_pb2
        self.writer = EventFileWriter(str(folder))

    def _add(self, step, values):
        summary = self.summary_pb2.Summary(value=values)
        self.writer.add_event(self.event_pb2.Event(wall_time=time.time(), step=step,
                                                   summary=summary))

    def scalars(self, step, values):
        Value = self.summary_pb2.Summary.Value
        self._add(step, [Value(tag=k, simple_value=float(v)) for k, v in values.items()])

    def image(self, step, grid):
        image = self.summary_pb2.Summary.Image(height=grid.shape[0], width=grid.shape[1],
                                               colorspace=3,
                                               encoded_image_string=images.png_bytes(grid))
        self._add(step, [self.summary_pb2.Summary.Value(tag="samples", image=image)])
        self.writer.flush()

    def close(self):
        self.writer.close()


def eta_seconds(step: int, total: int, batch_size: int, img_per_s: float) -> float | None:
    """Time left at the current speed; None before the speed is known."""
    return (total - step) * batch_size / img_per_s if img_per_s > 0 else None


def read_jsonl(path) -> list[dict]:
    """Rows of a metrics file; a line cut short by a crash is skipped."""
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    except FileNotFoundError:
        pass
    return rows
