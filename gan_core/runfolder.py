"""A training run's folder: the one module that knows its layout. Everyone else asks a `Run`.

    <run>/
      config.json                 the run's Record: recipe, seed, steps, holdout, data, backend
      job.json                    the server's record of the job (gan_core.jobs)
      metrics.jsonl               one row per logged step
      quality.jsonl               one row per quality measurement
      checkpoints/ckpt-STEP.npz   every variable by name; the newest KEEP_CHECKPOINTS stay
      samples/step-STEP.png       the fixed-noise sample grid of each sampled step
      generator.keras             the exported float32 generator
      tensorboard/                the same metrics and grids for TensorBoard

Runs live side by side under one root (the server's runs/), beside `.live/` (what pollers
read: gan_core.jobs) and `uploads/`. Every file is written atomically (gan_core.files).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import files
from .presets import GANConfig

METRICS, QUALITY = "metrics", "quality"        # the two logs
KEEP_CHECKPOINTS = 3
CHECKPOINT_FORMAT = 2     # 2: variables by name; 1 (before 2026-12): by position in each group
LIVE, UPLOADS = ".live", "uploads"             # folders beside the runs, under the root


@dataclass(frozen=True)
class Record:
    """What config.json holds: everything needed to build a run's models again and to go on
    with it. The only reader and writer of its keys."""
    config: GANConfig
    seed: int
    total_steps: int
    holdout: int               # images held out for quality (0: none)
    data: str                  # the data's name, as the trainer saw it
    backend: str               # Keras' backend that started the run

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, saved: dict) -> Record:
        if not isinstance(saved, dict) or not isinstance(saved.get("seed"), int):
            raise ValueError("no seed")
        return cls(config=GANConfig.from_dict(saved["config"]), seed=saved["seed"],
                   total_steps=int(saved.get("total_steps", 0)),
                   holdout=int(saved.get("holdout", 0)), data=str(saved.get("data", "")),
                   backend=str(saved.get("backend", "")))


class Run:
    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"Run({str(self.path)!r})"

    @property
    def id(self) -> str:
        return self.path.name

    # -- the record ---------------------------------------------------------------------------

    def read_record(self) -> Record:
        """The run's saved settings; ValueError when the folder holds no run, DamagedFile
        (naming config.json) when they are not a run this GAN Studio can build."""
        path = self.path / "config.json"
        try:
            saved = files.read_json(path)
        except FileNotFoundError:
            raise ValueError(f"{self.path} is not a training run: no config.json") from None
        try:
            return Record.from_dict(saved)
        except (TypeError, ValueError, KeyError) as error:
            raise files.DamagedFile(f"{path} is not a GAN Studio run config ({error})") \
                from None

    def start(self, record: Record):
        """A fresh run: its record written, its logs emptied."""
        self.path.mkdir(parents=True, exist_ok=True)
        for log in (METRICS, QUALITY):
            (self.path / f"{log}.jsonl").unlink(missing_ok=True)
        files.write_text(self.path / "config.json", json.dumps(record.to_dict(), indent=1))

    # -- logs --------------------------------------------------------------------------------

    def append(self, log: str, row: dict):
        with open(self.path / f"{log}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def read(self, log: str) -> list[dict]:
        """A log's rows; a line cut short by a crash is skipped."""
        rows = []
        try:
            with open(self.path / f"{log}.jsonl", encoding="utf-8") as f:
                for line in f:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
        except FileNotFoundError:
            pass
        return rows

    def truncate_logs(self, step: int):
        """Drop the rows logged after `step` (a run resumed from there logs them again)."""
        for log in (METRICS, QUALITY):
            rows = [r for r in self.read(log) if r["step"] <= step]
            files.write_text(self.path / f"{log}.jsonl",
                             "".join(json.dumps(r) + "\n" for r in rows))

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoints(self) -> list[Path]:
        """Oldest first."""
        return sorted((self.path / "checkpoints").glob("ckpt-*.npz"))

    def save_checkpoint(self, step: int, groups: dict) -> Path:
        """Every variable of each group (a Keras model or optimizer) by its name, then the
        oldest beyond KEEP_CHECKPOINTS removed."""
        import keras

        arrays = {f"{group}/{name}": keras.ops.convert_to_numpy(v.value)
                  for group, owner in groups.items() for name, v in named(owner).items()}
        arrays["meta"] = _meta({"step": step, "format": CHECKPOINT_FORMAT})
        path = self.path / "checkpoints" / f"ckpt-{step:08d}.npz"
        with files.atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
        for old in self.checkpoints()[:-KEEP_CHECKPOINTS]:
            old.unlink()
        return path

    def load_checkpoint(self, path: Path, groups: dict) -> int:
        """Assign a checkpoint's arrays to the groups' variables, all of them checked first
        (so a wrong file changes nothing); returns its step. Format 1 files (by position)
        still load; anything unreadable is a ValueError (or OSError) naming the problem."""
        try:
            opened = np.load(path)             # allow_pickle stays off: a file is data only
        except (ValueError, EOFError, zipfile.BadZipFile, OSError) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise files.DamagedFile(f"{path.name} is not a checkpoint") from None
        if not isinstance(opened, np.lib.npyio.NpzFile):
            raise files.DamagedFile(f"{path.name} is not a checkpoint")
        try:
            with opened as saved:
                meta = json.loads(bytes(saved["meta"]).decode())
                version = meta.get("format", 1)
                if version not in (1, CHECKPOINT_FORMAT):
                    raise ValueError(f"checkpoint format {version} is newer than this "
                                     f"GAN Studio reads ({CHECKPOINT_FORMAT})")
                pairs = []
                for group, owner in groups.items():
                    variables = named(owner) if version == 2 else \
                        {str(i): v for i, v in enumerate(owner.variables)}
                    for name, v in variables.items():
                        key = f"{group}/{name}"
                        if key not in saved:
                            raise ValueError(f"format {version} checkpoint has no {key}")
                        pairs.append((v, saved[key]))
                for v, value in pairs:
                    if tuple(v.shape) != value.shape:
                        raise ValueError(f"{v.path} has shape {value.shape}, "
                                         f"expected {tuple(v.shape)}")
                for v, value in pairs:
                    v.assign(value)
                return int(meta["step"])
        except (KeyError, EOFError, zipfile.BadZipFile, RecursionError, UnicodeDecodeError,
                OverflowError, TypeError, AttributeError) as error:
            raise files.DamagedFile(f"{path.name} is not a readable checkpoint "
                                    f"({type(error).__name__})") from None

    # -- samples, the generator, the job record -----------------------------------------------

    def sample_path(self, step: int) -> Path:
        return self.path / "samples" / f"step-{step:08d}.png"

    def samples(self) -> list[tuple[int, str]]:
        """(step, path) of each saved grid, oldest first."""
        return sorted((int(p.stem.split("-")[1]), str(p))
                      for p in self.path.glob("samples/step-*.png"))

    @property
    def generator_path(self) -> Path:
        return self.path / "generator.keras"

    def exported_generator(self) -> Path | None:
        """The exported generator, once there is one."""
        return self.generator_path if self.generator_path.is_file() else None

    def save_generator(self, model) -> Path:
        with files.atomic_path(self.generator_path) as tmp:
            model.save(tmp)
        return self.generator_path

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def read_job(self) -> dict:
        return json.loads((self.path / "job.json").read_text())

    def write_job(self, record: dict):
        files.write_text(self.path / "job.json", json.dumps(record))

    def lock(self):
        """Held while training writes the folder (files.folder_lock): yields a stale lock's
        pid, or None."""
        return files.folder_lock(self.path)


def named(owner) -> dict:
    """A model's or an optimizer's variables by stable names: `layer/variable` for a model
    (each layer's own variables, its dropout's random state included), the variable's path
    for an optimizer (gan_core.train names its optimizers). A checkpoint stored this way
    cannot load a kernel into the wrong layer when layers are added or reordered."""
    if hasattr(owner, "layers"):
        found = {f"{layer.name}/{v.name}": v for layer in owner.layers
                 for v in layer.variables}
    else:
        found = {v.path: v for v in owner.variables}
    if len(found) != len(owner.variables):
        raise ValueError(f"{owner.name}'s variables do not have unique names")
    return found


def _meta(value: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), np.uint8)


# -- the root: every run under it ---------------------------------------------------------------

def jobs_under(root) -> list[Run]:
    """The runs under `root` that a job manager recorded (they hold job.json)."""
    root = Path(root)
    return [Run(p.parent) for p in sorted(root.glob("*/job.json"))] if root.is_dir() else []


def exported(root) -> list[Run]:
    """The runs under `root` that have exported a generator, newest export first."""
    root = Path(root)
    found = [Run(p.parent) for p in root.glob("*/generator.keras") if p.is_file()] \
        if root.is_dir() else []
    return sorted(found, key=lambda run: run.generator_path.stat().st_mtime, reverse=True)
