"""What a DCGAN is made of and how it trains, as one typed value: `GANConfig`, its presets, and
the one table of limits that the config's own checks, the command line and the training page
all read. No Keras here, so a page or the CLI can build, check and show a config without
loading a backend (the networks themselves are gan_core.dcgan).

- `course`: the course notebook exactly, quirks included (below).
- `dcgan`: the same shapes done right, the DCGAN paper's recipe (Radford et al. 2016).
- `scenario2` and `pytorch-anime`: the designs of two student projects on the Kaggle anime
  faces, so their users find them here.
- `studio` and `quick`: GAN Studio's recipes for real faces and for a learner's first run.

Every preset is a `GANConfig`; any field can be overridden with `preset(name, **fields)` or
`config.replace(...)`. Images are IMAGE_SIZE x IMAGE_SIZE x 3.

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

import dataclasses
import json
from dataclasses import dataclass

from . import noise

IMAGE_SIZE = 64
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
ARCHITECTURES = ("course", "dcgan", "scenario2", "pytorch-anime")
D_NORMS = ("batch", "spectral")
LOSSES = ("bce", "hinge")
AUGMENTATIONS = ("translation", "color", "cutout")

# -- the limits -------------------------------------------------------------------------------
# Every number a user can set for a training run, (lowest, highest), both allowed. The config
# checks its own fields against it; the CLI and the page check theirs with `check`, so the
# three never disagree. Batch stops at 1,024: a bigger batch of the full-width networks needs
# gigabytes, and a page must refuse that before allocating it.
LIMITS: dict[str, tuple[float, float]] = {
    "batch_size": (1, 1024),
    "latent_dim": (1, noise.MAX_LATENT),
    "g_lr": (1e-6, 0.5),
    "d_lr": (1e-6, 0.5),
    "label_smoothing": (0.0, 0.49),
    "width": (0.125, 4),
    "r1_gamma": (0, 1000),
    "r1_every": (1, 10_000),
    # the run around the config
    "steps": (1, 10_000_000),
    "seed": (0, noise.MAX_SEED),
    "quality_every": (0, 10_000_000),      # 0: never
    "every": (1, 10_000_000),              # sample, checkpoint and log intervals
    "holdout": (16, 1_000_000),
    "builtin_faces": (1, 100_000),         # 'builtin:N': drawn on demand, labels in memory
}
NAMES = {"batch_size": "batch", "latent_dim": "latent size", "g_lr": "G's learning rate",
         "d_lr": "D's learning rate", "label_smoothing": "label smoothing",
         "r1_gamma": "the R1 weight (r1_gamma)", "quality_every": "quality every",
         "builtin_faces": "the number of built-in faces"}


def check(name: str, value, label: str | None = None):
    """ValueError unless `value` is within LIMITS[name]; `label` names it (a flag, say)."""
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise ValueError(f"{label or NAMES.get(name, name)} must be between {low:,} and "
                         f"{high:,}")


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
        def need(ok, message):
            if not ok:
                raise ValueError(message)
        need(self.architecture in ARCHITECTURES,
             f"unknown architecture {self.architecture!r}; choose from {', '.join(ARCHITECTURES)}")
        for name in LIMITS.keys() & self.__dataclass_fields__.keys():
            check(name, getattr(self, name))
        need(0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1, "betas must be in [0, 1)")
        need(0 <= self.leaky_slope < 1, "LeakyReLU slope must be in [0, 1)")
        need(self.g_loss_weight > 0 and self.d_loss_weight > 0, "loss weights must be positive")
        need(self.precision in PRECISIONS,
             f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        need(0 <= self.d_dropout < 1, "dropout must be in [0, 1)")
        need(0 <= self.ema < 1, "the generator average (ema) must be in [0, 1)")
        need(0 <= self.ema_rampup <= 1, "the average's ramp (ema_rampup) must be in [0, 1]")
        need(self.d_norm in D_NORMS, f"unknown D normalisation {self.d_norm!r}; choose from "
                                     f"{', '.join(D_NORMS)}")
        need(self.loss in LOSSES, f"unknown loss {self.loss!r}; choose from {', '.join(LOSSES)}")
        need(not (self.loss == "hinge" and self.d_sigmoid_output),
             "the hinge loss needs D's raw scores, not a sigmoid output")
        unknown = set(self.augmentations) - set(AUGMENTATIONS)
        need(not unknown, f"unknown augmentation {', '.join(sorted(unknown))}; choose from "
                          f"{', '.join(AUGMENTATIONS)}")
        need(self.d_norm == "batch" or self.architecture != "scenario2",
             "scenario2's discriminator has no normalisation to replace")

    @property
    def augmentations(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.augment.split(",") if a.strip())

    def channels(self, n: int) -> int:
        """A layer's channel count at this width (never below 8)."""
        return max(8, int(round(n * self.width)))

    def replace(self, **changes) -> GANConfig:
        return dataclasses.replace(self, **changes)

    def differences(self, asked: GANConfig) -> list[str]:
        """Each field where `asked` differs from this config, as `name (saved X, asked Y)`."""
        return [f"{name} (saved {getattr(self, name)!r}, asked {getattr(asked, name)!r})"
                for name in self.__dataclass_fields__ if getattr(self, name) != getattr(asked, name)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, fields: dict) -> GANConfig:
        """The config these fields describe; ValueError for an unknown field or a bad value."""
        if not isinstance(fields, dict):
            raise ValueError("a config is an object of fields")
        unknown = fields.keys() - cls.__dataclass_fields__.keys()
        if unknown:
            raise ValueError(f"unknown config field {', '.join(sorted(unknown))}")
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> GANConfig:
        return cls.from_dict(json.loads(text))


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
    # the batch, so that faces form within minutes on a 2-core CPU (tests/perf/first_run.py).
    "quick": GANConfig(architecture="dcgan", batch_size=32, d_norm="spectral", loss="hinge",
                       augment="translation", width=0.25, g_lr=1e-4, d_lr=4e-4,
                       ema=0.999, ema_rampup=0.05),
}


def preset(name: str, **overrides) -> GANConfig:
    """A preset by name with any fields overridden (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].replace(**{k: v for k, v in overrides.items() if v is not None})
