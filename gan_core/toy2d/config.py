"""The 2-D toy's settings: one frozen Toy2DConfig, checked when it is made, and a set-up as
a link (the fields that differ from a story's, "field:value,...")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import noise
from ..checks import check, finite

DATASETS = ("line", "gaussian", "ring", "two_blobs", "mixture8", "grid25", "moons", "drawn")
ACTIVATIONS = ("relu", "leaky_relu", "tanh")
OPTIMIZERS = ("adam", "sgd")
LOSSES = ("log", "least_squares")
NOISES = ("gaussian", "uniform")
CURES = ("none", "wgan_gp", "spectral_norm", "unrolled", "minibatch_std")
MAX_UNITS, MAX_LAYERS, MAX_BATCH, MAX_DRAWN = 256, 6, 4096, 5000


@dataclass(frozen=True)
class Toy2DConfig:
    data: str = "mixture8"
    g_layers: int = 2
    g_units: int = 32
    d_layers: int = 2
    d_units: int = 32
    activation: str = "relu"
    optimizer: str = "adam"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta_1: float = 0.5
    beta_2: float = 0.999
    loss: str = "log"
    d_steps: int = 1            # D steps per G step
    noise_dim: int = 2
    noise: str = "gaussian"
    batch: int = 256
    cure: str = "none"
    gp_weight: float = 0.1      # WGAN-GP's lambda (the paper's 10 is for images; see README)
    unroll: int = 5             # unrolled D's look-ahead steps
    seed: int = 0

    def __post_init__(self):
        check(self.data in DATASETS, "data", f"must be one of {', '.join(DATASETS)}")
        check(self.activation in ACTIVATIONS, "activation",
              f"must be one of {', '.join(ACTIVATIONS)}")
        check(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        check(self.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}")
        check(self.noise in NOISES, "noise", f"must be one of {', '.join(NOISES)}")
        check(self.cure in CURES, "cure", f"must be one of {', '.join(CURES)}")
        for name in ("g_layers", "d_layers"):
            check(1 <= getattr(self, name) <= MAX_LAYERS, name,
                  f"must be between 1 and {MAX_LAYERS}")
        for name in ("g_units", "d_units"):
            check(1 <= getattr(self, name) <= MAX_UNITS, name,
                  f"must be between 1 and {MAX_UNITS:,}")
        check(1 <= self.noise_dim <= 16, "noise_dim", "must be between 1 and 16")
        check(2 <= self.batch <= MAX_BATCH, "batch", f"must be between 2 and {MAX_BATCH:,}")
        check(1 <= self.d_steps <= 20, "d_steps", "must be between 1 and 20")
        check(1 <= self.unroll <= 20, "unroll", "must be between 1 and 20")
        for name in ("lr_g", "lr_d"):
            check(finite(getattr(self, name)) and 0 < getattr(self, name) <= 10, name,
                  "must be more than 0 and at most 10")
        for name in ("beta_1", "beta_2"):
            check(finite(getattr(self, name)) and 0 <= getattr(self, name) < 1, name,
                  "must be at least 0 and less than 1")
        check(finite(self.gp_weight) and 0 <= self.gp_weight <= 100, "gp_weight",
              "must be between 0 and 100")
        check(0 <= self.seed <= noise.MAX_SEED, "seed",
              f"must be between 0 and {noise.MAX_SEED:,}")


def replace(cfg: Toy2DConfig, **changes) -> Toy2DConfig:
    return dataclasses.replace(cfg, **changes)


def encode_setup(cfg: Toy2DConfig, base: Toy2DConfig) -> str:
    return ",".join(f"{f.name}:{getattr(cfg, f.name)}" for f in dataclasses.fields(cfg)
                    if getattr(cfg, f.name) != getattr(base, f.name))


def decode_setup(text: str, base: Toy2DConfig) -> Toy2DConfig:
    """The inverse of encode_setup; a malformed or out-of-range link is a ValueError that
    says which part."""
    types = {f.name: type(getattr(base, f.name)) for f in dataclasses.fields(base)}
    changes = {}
    for part in filter(None, (text or "").split(",")):
        name, _, value = part.partition(":")
        if name not in types:
            raise ValueError(f"{part!r}: no setting called {name!r}")
        try:
            changes[name] = types[name](value)
        except ValueError:
            raise ValueError(f"{part!r}: {value!r} is not a {types[name].__name__}") from None
    return replace(base, **changes)
