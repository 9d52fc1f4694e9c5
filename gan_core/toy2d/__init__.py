"""The Toy GAN in two dimensions: watch mode collapse happen, and watch it cured.

A 1-D bell curve has one mode, so it cannot show the failure learners most need to see. Here G
and D are small MLPs on the plane (GAN Lab's ground), the data can be a mixture of 8 or 25
Gaussians, and the cures are one switch each: WGAN-GP, spectral normalisation of D, unrolled D,
minibatch standard deviation.

Why NumPy, with the gradients written out: a step is a few dozen tiny matrix products, and
Keras' per-call overhead would cap training at a few hundred steps per second; these run
thousands. `tests/test_toy2d.py` checks every gradient here, the gradient penalty's double
backward included, against TensorFlow's autodiff.

One module per idea, as GAN Lab keeps them: `config` (the settings, and a set-up as a link),
`data` (what G learns, and G's noise), `nets` (the MLP and its gradients, spectral
normalisation), `gan` (the losses and one training step), `metrics` (modes covered, KL / JS),
`stories` (the presets a learner is shown, and headless training), `run` (what the page plays).
"""

from .config import (ACTIVATIONS, CURES, DATASETS, LOSSES, MAX_BATCH, MAX_DRAWN,
                     MAX_LAYERS, MAX_UNITS, NOISES, OPTIMIZERS, Toy2DConfig, decode_setup,
                     encode_setup, replace)
from .data import mode_centres, read_points, sample_data, sample_noise
from .gan import StepStats, Toy2DGAN, d_loss, g_loss
from .metrics import divergences, histogram, mode_metrics
from .nets import spectral_normalise
from .run import HISTORY_COLUMNS, HEAT_BINS, Toy2DRun
from .stories import PRESETS, Story, train
from .. import system

system.one_blas_thread()     # tiny matrices: see there

__all__ = ["ACTIVATIONS", "CURES", "DATASETS", "HEAT_BINS", "HISTORY_COLUMNS", "LOSSES",
           "MAX_BATCH", "MAX_DRAWN", "MAX_LAYERS", "MAX_UNITS", "NOISES", "OPTIMIZERS",
           "PRESETS", "StepStats", "Story", "Toy2DConfig", "Toy2DGAN", "Toy2DRun", "d_loss",
           "decode_setup", "divergences", "encode_setup", "histogram", "g_loss", "mode_centres",
           "mode_metrics", "read_points", "replace", "sample_data", "sample_noise",
           "spectral_normalise", "train"]
