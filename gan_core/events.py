"""What the training loop says, one small class per kind. The page's job record, the CLI's
progress bar, the sweep, the benchmark and the tests all read these fields.

In order: one `Start`; per logged step `Metrics`; every `sample_every` steps `Samples`;
`Quality` every `quality_every` steps; `Checkpoint` every `checkpoint_every` steps and at the
end; `EpochEnd` at each epoch's end; `Paused` and `Resumed`; and one `End`.
Every event carries the step reached and the epoch it is in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Event:
    step: int
    epoch: int
    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class Start(Event):
    kind: ClassVar[str] = "start"
    total_steps: int
    steps_per_epoch: int
    images: int                     # training images (the held-out ones not counted)
    held_out: int
    replicas: int                   # devices the step runs on
    config: dict                    # the GANConfig, as JSON
    skipped: list = field(default_factory=list)              # (file, reason): unreadable data
    resumed_from: str | None = None                          # the checkpoint loaded
    skipped_checkpoints: list = field(default_factory=list)  # (file, reason): unreadable ones
    stale_lock: int | str | None = None    # the pid of a dead trainer whose lock was taken over
    removed_temporaries: list = field(default_factory=list)  # half-written files removed


@dataclass(frozen=True)
class Metrics(Event):
    kind: ClassVar[str] = "metrics"
    g_loss: float
    d_loss: float
    d_real: float                   # D's mean probability that real images are real
    d_fake: float                   # ... and that generated ones are
    img_per_s: float

    def values(self) -> dict:
        """The numbers, as a log row holds them (without step and epoch)."""
        row = asdict(self)
        del row["step"], row["epoch"]
        return row


@dataclass(frozen=True)
class Samples(Event):
    kind: ClassVar[str] = "samples"
    images: np.ndarray              # uint8 (64, 64, 64, 3) from the run's fixed noise
    scores: np.ndarray              # D's probability that each is real
    path: str                       # the grid as saved


@dataclass(frozen=True)
class Quality(Event):
    kind: ClassVar[str] = "quality"
    values: dict                    # quality.compare: swd, real_swd, ms_ssim, real_ms_ssim


@dataclass(frozen=True)
class Checkpoint(Event):
    kind: ClassVar[str] = "checkpoint"
    path: str
    generator_path: str             # the exported generator, updated with each checkpoint


@dataclass(frozen=True)
class EpochEnd(Event):
    kind: ClassVar[str] = "epoch"


@dataclass(frozen=True)
class Paused(Event):
    kind: ClassVar[str] = "paused"


@dataclass(frozen=True)
class Resumed(Event):
    kind: ClassVar[str] = "resumed"


END_STATUSES = ("finished", "stopped", "diverged", "error")


@dataclass(frozen=True)
class End(Event):
    kind: ClassVar[str] = "end"
    status: str                     # one of END_STATUSES
    message: str = ""
    metrics: dict | None = None     # the last finite Metrics.values(), if any
    generator_path: str | None = None
    last_checkpoint: str | None = None    # the newest checkpoint known to be good
