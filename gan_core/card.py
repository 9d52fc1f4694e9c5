"""`python -m gan_core card`: the pictures and figures of a generator's model card.

From a training run and its exported generator: the loss and quality curves (matplotlib, a
static file), 64 faces from z of seed 0, the same z through the previous generator beside
the new one, and the quality of both on held-out faces, with each set's colour statistics
beside the real ones.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import evaluation, files, generate, images, runfolder, sweep


def curves_png(metrics: list[dict], quality_rows: list[dict]) -> bytes:
    """Losses, D's scores and SWD by step as one PNG (matplotlib, no display needed: the one
    user of matplotlib, a maintainer's tool, so the app does not require it)."""
    try:
        import matplotlib
    except ImportError:
        raise ValueError("the curves of --run are drawn with matplotlib, which is not "
                         "installed: pip install -r requirements-dev.txt (or leave out --run)") \
            from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3 if quality_rows else 2, figsize=(12, 3.2), dpi=100)
    steps = [r["step"] for r in metrics]
    axes[0].plot(steps, [r["g_loss"] for r in metrics], lw=0.8, label="G loss")
    axes[0].plot(steps, [r["d_loss"] for r in metrics], lw=0.8, label="D loss")
    axes[0].set_title("losses")
    axes[1].plot(steps, [r["d_real"] for r in metrics], lw=0.8, label="D(x)")
    axes[1].plot(steps, [r["d_fake"] for r in metrics], lw=0.8, label="D(G(z))")
    axes[1].set_ylim(0, 1)
    axes[1].set_title("mean D scores")
    if quality_rows:
        q = [r["step"] for r in quality_rows]
        axes[2].plot(q, [r["swd"] for r in quality_rows], marker=".", label="SWD×1000")
        axes[2].plot(q, [r["real_swd"] for r in quality_rows], ls="--", label="real vs real")
        axes[2].set_title("SWD×1000 on held-out faces (raw G)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


TRUNCATIONS = (0.7, 0.5)      # measured beside psi = 1, so an artist knows the trade


def make(run: Path | None, model: Path, previous: Path | None, held_out, out: Path,
         n: int = sweep.EVAL_N, seed: int = 0) -> dict:
    """Write curves.png (with a run folder), samples.png and (with a previous generator)
    previous_vs_new.png into `out`; return the quality table's rows."""
    out = Path(out)
    if run is not None:
        folder = runfolder.Run(Path(run))
        files.write_bytes(out / "curves.png", curves_png(folder.read(runfolder.METRICS),
                                                         folder.read(runfolder.QUALITY)))
    gen = generate.Generator.load(model)
    new = evaluation.fakes(gen, max(n, 64), seed)
    files.write_bytes(out / "samples.png", images.png_bytes(images.grid(new[:64], 8), scale=2))
    ruler = evaluation.Ruler(evaluation.real_sample(held_out.images, n, seed), seed)
    rows = {"new": ruler.measure(new)}
    for psi in TRUNCATIONS:
        rows[f"truncation {psi:g}"] = ruler.measure(evaluation.fakes(gen, n, seed, psi))
    rows["real"] = ruler.real_row()
    if previous is not None:
        before = generate.Generator.load(previous)
        z = evaluation.quality_z(gen.latent_dim, max(n, 64), seed)
        old = before(z[:, :before.latent_dim])          # the same z, as far as it reaches
        rows["previous"] = ruler.measure(old)
        left, right = images.grid(old[:16], 4), images.grid(new[:16], 4)
        gap = np.full((left.shape[0], 8, 3), 255, np.uint8)
        files.write_bytes(out / "previous_vs_new.png",
                          images.png_bytes(np.concatenate([left, gap, right], axis=1), scale=2))
    return rows
