"""The one DCGAN training loop. It yields events (gan_core.events); the page, the CLI and the
tests consume them.

    trainer = Trainer(preset("dcgan"), data.load("builtin"), "runs/demo", steps=2000)
    for event in trainer.run():
        print(event.kind, event.step)

The trainer writes its run folder through gan_core.runfolder (config, logs, checkpoints, samples,
the exported generator) and draws every random number from gan_core.noise, as a function of
the seed and the step: a run resumed from a checkpoint draws exactly the batches and noise it
would have drawn. `export` makes a run's generator file from its newest checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from . import data as data_mod
from . import events as ev
from . import files, images, multihost, noise, runfolder
from .dcgan import build, forward, portable_copy, recalibrate_batchnorm
from .presets import GANConfig
from .board import Board
from .runlog import RunLog
from .steps import METRICS, augment_params, building, ema_decay, make_step

N_SAMPLES = 64
RECALIBRATION_BATCH = 1024
FIDELITY_N = 100             # faces a precision/recall check compares (see Trainer._fidelity)
MIN_HELD_OUT = 16            # quality.compare: 8 generated vs 8 real, and 8 more real as the floor
log = logging.getLogger(__name__)


class Control:
    """Cooperative pause and stop, from another thread: they take effect between two steps.
    `deadline` (time.monotonic()'s clock): the run stops by itself once it has passed, saved
    as at any stop: a lesson's or a sweep's time budget."""

    def __init__(self, deadline: float | None = None):
        self._run = threading.Event()
        self._run.set()
        self._stop = False
        self.deadline = deadline

    def pause(self):
        self._run.clear()

    def resume(self):
        self._run.set()

    def stop(self):
        self._stop = True
        self._run.set()

    @property
    def stopped(self) -> bool:
        return self._stop or (self.deadline is not None and time.monotonic() > self.deadline)

    @property
    def paused(self):
        return not self._run.is_set()

    def wait(self):
        self._run.wait()


# -- the models and their optimisers ----------------------------------------------------------

@dataclass
class Models:
    G: keras.Model
    D: keras.Model
    G_ema: keras.Model | None      # the average of G's weights, when the recipe keeps one
    g_opt: keras.optimizers.Optimizer
    d_opt: keras.optimizers.Optimizer

    def groups(self) -> dict:
        """What a checkpoint holds, by group name (gan_core.runfolder stores each by name)."""
        groups = {"g": self.G, "d": self.D, "g_opt": self.g_opt, "d_opt": self.d_opt}
        if self.G_ema is not None:
            groups["g_ema"] = self.G_ema
        return groups


def make_optimizers(config: GANConfig):
    """Adam for G and for D; under mixed float16, each gets its own loss-scale wrapper (Keras
    would wrap only `model.optimizer`). Named, so their variables' names (a checkpoint's
    keys) do not depend on how many optimizers the process made before."""
    opts = [keras.optimizers.Adam(lr, config.beta_1, config.beta_2, name="adam")
            for lr in (config.g_lr, config.d_lr)]
    if config.precision == "mixed_float16":
        opts = [keras.optimizers.LossScaleOptimizer(o, name="loss_scale") for o in opts]
    return opts


def build_models(config: GANConfig, seed: int) -> Models:
    """G, D (and the average G) with their optimisers, every variable created."""
    keras.utils.set_random_seed(seed)
    with building(config):
        G, D, G_ema = build(config, fused_bn=True)
        g_opt, d_opt = make_optimizers(config)
        g_opt.build(G.trainable_variables)
        d_opt.build(D.trainable_variables)
    return Models(G, D, G_ema, g_opt, d_opt)


def recalibration_z(config: GANConfig, seed: int) -> np.ndarray:
    """The z a run's average G recalibrates its BatchNorm statistics on."""
    return noise.draw(seed, noise.BATCHNORM, 0, RECALIBRATION_BATCH, config.latent_dim)


def recalibrated(models: Models, config: GANConfig, seed: int) -> keras.Model:
    """The average G with BatchNorm statistics of its own weights (dcgan.recalibrate_batchnorm)."""
    recalibrate_batchnorm(models.G_ema, recalibration_z(config, seed))
    return models.G_ema


def load_newest(run: runfolder.Run, models: Models) -> tuple[int, Path, list]:
    """Load the newest readable checkpoint: (its step, its path, the (name, reason) of each
    newer one passed over). A half-written or truncated file (a crash, a full disk) is passed
    over for the one before it."""
    skipped = []
    for candidate in run.checkpoints()[::-1]:
        try:
            return run.load_checkpoint(candidate, models.groups()), candidate, skipped
        except (OSError, ValueError) as error:
            reason = str(error)
            skipped.append((candidate.name, reason))
            log.warning("skipped unreadable checkpoint %s (%s)", candidate, reason)
    raise ValueError("no readable checkpoint: " +
                     "; ".join(f"{name}: {reason}" for name, reason in skipped))


def export(run_dir, path) -> tuple[Path, Path]:
    """A run's generator from its newest readable checkpoint, as a float32 .keras file (the
    average generator when the run kept one). Returns (the file, the checkpoint used)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give the .keras file to write")
    if path.suffix != ".keras":
        raise ValueError(f"--out {path} must end in .keras (Keras' model format)")
    run = runfolder.Run(run_dir)
    record = run.read_record()
    models = build_models(record.config, record.seed)
    _, checkpoint, _ = load_newest(run, models)
    generator = models.G if models.G_ema is None else \
        recalibrated(models, record.config, record.seed)
    with files.atomic_path(path) as tmp:
        portable_copy(generator, record.config).save(tmp)
    return Path(path), checkpoint


# -- data size ----------------------------------------------------------------------------------

def default_holdout(n: int, quality_every: int) -> int:
    """Images held out for quality: a tenth of the data, up to 2,048, and never fewer than
    quality needs; none when quality is not measured."""
    return min(2048, max(MIN_HELD_OUT, n // 10)) if quality_every else 0


class DataSizeError(ValueError):
    """Data too small for the batch (`need` = "batch") or for measuring quality ("holdout");
    its fields let a page say so in its own language."""

    def __init__(self, message, need, images, held_out, batch_size):
        super().__init__(message)
        self.need, self.images, self.held_out, self.batch_size = \
            need, images, held_out, batch_size


def check_data_size(n: int, batch_size: int, quality_every: int = 0, holdout: int = 0):
    """Refuse data too small for the batch or for measuring quality, in words that fit the
    page and the command line alike."""
    holdout = holdout or default_holdout(n, quality_every)
    held = min(holdout, n // 2)
    if n - held < batch_size:
        more = f" ({held:,} more held out for quality)" if held else ""
        raise DataSizeError(f"the data has {n - held:,} training images{more}, fewer than the "
                            f"batch size {batch_size}: choose a smaller batch or add images",
                            "batch", n, held, batch_size)
    if quality_every and held < MIN_HELD_OUT:
        raise DataSizeError(f"measuring quality needs {MIN_HELD_OUT} held-out images and the "
                            f"data has {n:,} images in all: measure quality never (0) or add "
                            f"images", "holdout", n, held, batch_size)


def resumable(run: runfolder.Run) -> runfolder.Record:
    """The record of a run that can go on (it has a checkpoint), or a ValueError saying why
    not (DamagedFile for a config.json that is not a run's)."""
    try:
        record = run.read_record()
    except files.DamagedFile:
        raise
    except ValueError:
        raise ValueError(f"nothing to resume in {run.path}: no config.json") from None
    if not run.checkpoints():
        raise ValueError(f"nothing to resume in {run.path}: no checkpoint yet")
    return record


class Trainer:
    """`config` and `seed` make a new run. With `resume`, the run goes on with the settings
    its folder recorded: `config` may then be None, and any other config is refused, naming
    each difference."""

    def __init__(self, config: GANConfig | None, source, out_dir, *, steps: int | None = None,
                 epochs: float | None = None, seed: int = 0, checkpoint_every: int = 500,
                 sample_every: int = 100, log_every: int = 1, quality_every: int = 0,
                 holdout: int = 0, resume: bool = False, control: Control | None = None,
                 writes: bool = True):
        self.folder = runfolder.Run(out_dir)
        # False on every process but the first of a multi-process run (gan_core.multihost):
        # it takes the same steps, and reads the run folder on resume, but writes nothing.
        self.writes = writes
        self.control = control or Control()
        self.resume = resume
        self.resume_from = None    # the checkpoint actually loaded, once run() has started
        self.skipped_checkpoints = []   # (file name, reason): unreadable ones passed over
        self._good_checkpoint = None    # the newest checkpoint loaded or written by this trainer
        self._portable = None           # the float32 generator that checkpoints export
        self._order_epoch, self._quality_floor, self._fidelity_floor = None, None, None
        if resume:
            record = resumable(self.folder)
            differ = record.config.differences(config) if config is not None else []
            if differ:
                raise ValueError(f"resuming continues {self.folder.path} with its saved "
                                 f"settings; these ask for others: {'; '.join(differ)}. "
                                 "Train into a new folder for other settings")
            config, seed, holdout = record.config, record.seed, record.holdout or holdout
        if config is None:
            raise ValueError("a new run needs a config")
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

    def _epoch(self, step):
        return step // self.steps_per_epoch

    # -- the loop ---------------------------------------------------------------------------

    def run(self):
        """Train, yielding events. Always ends with one `End`. The run folder's logs and
        grids (runlog) and TensorBoard (board) see each event before the caller does."""
        try:
            with self.folder.lock() if self.writes else contextlib.nullcontext() \
                    as self.stale_lock:
                log = board = None
                try:
                    for event in self._run():
                        if isinstance(event, ev.Start) and self.writes:
                            log, board = RunLog(self.folder), Board(self.folder.tensorboard)
                        if log is not None:
                            try:
                                log(event)
                                board(event)
                            except OSError as error:     # a full disk: say so, keep what was
                                yield ev.End(event.step, event.epoch, status="error",
                                             message=f"{type(error).__name__}: {error}",
                                             last_checkpoint=self._last_saved())
                                return
                        yield event
                finally:
                    if board is not None:
                        board.close()
        except (files.FolderLocked, OSError) as error:   # in use, or not writable at all
            yield ev.End(0, 0, status="error", message=str(error))

    def _run(self):
        """The run under the folder's lock."""
        step = 0
        try:
            cfg = self.config
            removed = files.remove_stale_temporaries(self.folder.path) if self.writes else []
            self.models = m = build_models(cfg, self.seed)
            self._ema_stale = True       # the average G's BatchNorm statistics need recalibrating
            if self.resume:
                step, self.resume_from, self.skipped_checkpoints = load_newest(self.folder, m)
                self._good_checkpoint = self.resume_from
                if self.writes:
                    self.folder.truncate_logs(step)   # rows after it will be logged again
            elif self.writes:
                self.folder.start(runfolder.Record(
                    config=cfg, seed=self.seed, total_steps=self.total, holdout=self.holdout,
                    data=self.source.name, backend=keras.backend.backend()))
            # uint8 on the device: the train split only (a memory-map is read once, here)
            self.step_fn = make_step(cfg, m.G, m.D, m.g_opt, m.d_opt,
                                     np.asarray(self.source.images[self.train_idx]), m.G_ema)
            self.fixed_z = noise.draw(self.seed, noise.FIXED, 0, N_SAMPLES, cfg.latent_dim)
            yield ev.Start(
                step, self._epoch(step), total_steps=self.total,
                steps_per_epoch=self.steps_per_epoch, images=len(self.train_idx),
                held_out=len(self.held_idx), replicas=self.step_fn.replicas,
                config=cfg.to_dict(), skipped=list(self.source.skipped),
                resumed_from=self.resume_from and str(self.resume_from),
                skipped_checkpoints=list(self.skipped_checkpoints),
                stale_lock=self.stale_lock, removed_temporaries=removed)
            if step == 0 and self.writes:
                yield self._samples(0)
            yield from self._loop(step)
        except Exception as error:  # OOM, a full disk, a bad checkpoint: say so, keep what was
            log.debug("training failed", exc_info=True)
            yield ev.End(step, 0, status="error", message=f"{type(error).__name__}: {error}",
                         last_checkpoint=self._last_saved())

    def _loop(self, step):
        cfg, B = self.config, self.config.batch_size
        many = multihost.process_count() > 1      # then a stop is agreed by all processes
        last_time, last_step, last_good = time.perf_counter(), step, None
        while step < self.total:
            if self.control.paused:
                yield ev.Paused(step, self._epoch(step))
                self.control.wait()
                yield ev.Resumed(step, self._epoch(step))
                last_time, last_step = time.perf_counter(), step
            if multihost.stop_agreed(self.control.stopped) if many else self.control.stopped:
                break
            epoch, position = divmod(step, self.steps_per_epoch)
            order = self._epoch_order(epoch)
            idx = np.sort(order[position * B:(position + 1) * B]).astype(np.int32)
            augment = augment_params(noise.rng(self.seed, noise.AUGMENT, step), 2 * B)
            out = self.step_fn(idx, noise.draw(self.seed, noise.TRAIN, step, B, cfg.latent_dim),
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
                    yield ev.End(step, epoch, status="diverged", metrics=values,
                                 last_checkpoint=self._last_saved(),
                                 message=f"a loss became NaN or infinite at step {step}")
                    return
                last_good = values
                yield ev.Metrics(step, epoch, **values)
            if self.writes:
                yield from self._saved(step)
            if step % self.steps_per_epoch == 0:
                yield ev.EpochEnd(step, self._epoch(step))

        status = "stopped" if step < self.total else "finished"
        if not self.writes:
            yield ev.End(step, self._epoch(step), status=status, metrics=last_good)
            return
        if step % self.every["sample"]:
            yield self._samples(step)
        saved = self._checkpoint(step)
        yield saved
        yield ev.End(step, self._epoch(step), status=status, metrics=last_good,
                     generator_path=saved.generator_path, last_checkpoint=saved.path)

    def _saved(self, step):
        """What this step writes: samples, quality, a checkpoint, as often as asked."""
        if step % self.every["sample"] == 0:
            yield self._samples(step)
        if self.every["quality"] and step % self.every["quality"] == 0:
            yield self._quality(step)
        if step % self.every["checkpoint"] == 0 and step < self.total:
            yield self._checkpoint(step)

    def _epoch_order(self, epoch):
        if self._order_epoch != epoch:
            rng = noise.rng(self.seed, noise.EPOCH_ORDER, epoch)
            self._order, self._order_epoch = rng.permutation(len(self.train_idx)), epoch
        return self._order

    # -- samples, quality -------------------------------------------------------------------

    @property
    def generator(self):
        """The generator that samples and exports use: the average one (its BatchNorm
        statistics recalibrated) when there is one."""
        if self.models.G_ema is None:
            return self.models.G
        self.step_fn.sync()          # brings G's statistics in; replace them with its own
        if self._ema_stale:          # once per trained state: a samples step that also saves
            recalibrated(self.models, self.config, self.seed)  # and measures quality would
            self._ema_stale = False                            # otherwise do it ten times
        return self.models.G_ema

    def generate(self, z):
        """uint8 images from the current generator (inference mode), and D's probability of
        each being real."""
        self.step_fn.sync()
        fake = forward(self.generator, z)
        score = keras.ops.convert_to_numpy(forward(self.models.D, fake)).reshape(len(z), -1)
        prob = score.mean(1) if self.config.d_sigmoid_output else 1 / (1 + np.exp(-score.mean(1)))
        return images.to_uint8(keras.ops.convert_to_numpy(fake)), prob

    def _samples(self, step):
        fakes, scores = self.generate(self.fixed_z)
        return ev.Samples(step, self._epoch(step), images=fakes, scores=scores,
                          path=str(self.folder.sample_path(step)))   # runlog writes it there

    def _quality(self, step):
        from . import evaluation, quality

        if self._quality_floor is None:   # the held-out images and their floor never change
            real = np.asarray(self.source.images[self.held_idx])
            self._quality_floor = real, quality.real_floor(real, seed=self.seed)
        real, floor = self._quality_floor
        n = len(real) // 2                # compare() uses this many generated images
        z = evaluation.quality_z(self.config.latent_dim, n, self.seed)   # as evaluate draws it
        fakes = np.concatenate([self.generate(z[i:i + 256])[0] for i in range(0, n, 256)])
        values = quality.compare(fakes, real, seed=self.seed, floor=floor)
        values.update(self._fidelity(fakes, real))
        return ev.Quality(step, self._epoch(step), values=values)

    def _fidelity(self, fakes, real) -> dict:
        """Precision and recall (VGG16 features) of FIDELITY_N generated faces against as many
        held-out ones, beside two real samples' values: few faces, so that the check stays a
        small part of training; the trend is what the page shows."""
        from . import fidelity, perceptual

        n = min(FIDELITY_N, len(real) // 2)
        if self._fidelity_floor is None:       # the held-out faces never change
            features = perceptual.vgg_features(real[:2 * n])
            self._fidelity_floor = features, fidelity.real_floor(features, n, with_kid=False)
        features, floor = self._fidelity_floor
        values = fidelity.compare(perceptual.vgg_features(fakes[:n]), features, floor=floor,
                                  with_kid=False)
        return {k: values[k] for k in ("precision", "recall", "precision_real", "recall_real")}

    # -- checkpoints ------------------------------------------------------------------------

    def _checkpoint(self, step):
        self.step_fn.sync()
        path = self.folder.save_checkpoint(step, self.models.groups())
        generator = self.folder.save_generator(self._portable_generator())
        self._good_checkpoint = path
        return ev.Checkpoint(step, self._epoch(step), path=str(path),
                             generator_path=str(generator))

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


def eta_seconds(step: int, total: int, batch_size: int, img_per_s: float) -> float | None:
    """Time left at the current speed; None before the speed is known."""
    return (total - step) * batch_size / img_per_s if img_per_s > 0 else None
