"""`python -m gan_core sweep`: which recipe learns the best faces per minute of this machine.

Each candidate is a preset plus overrides, trained for the same wall-clock minutes on the same
training images, from the same seed, then measured on the same held-out images that no
candidate trained on: SWD x 1000 per level and mean, MS-SSIM of generated pairs, the
per-channel colour mean and spread beside the real ones', images/s and images seen. A run that
keeps a weight average is measured twice: its raw G and its average (BatchNorm recalibrated).

The result is one Markdown table, the same rows as JSON, and one PNG with 16 faces of each
candidate from the same z, side by side.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import evaluation, files, images, presets, train
from . import events as ev

EVAL_N = 1000          # generated faces per candidate, against as many held-out ones
GRID_FACES = 16

# The DCGAN paper's recipe as the baseline row, then one lever at a time on top of the last
# that helped. Every candidate shares the batch so that "images seen" compares like for like.
_SN_HINGE = dict(d_norm="spectral", loss="hinge", ema=0.999, ema_rampup=0.05)
CANDIDATES: dict[str, dict] = {
    "dcgan": dict(),
    "sn-hinge": _SN_HINGE,
    "sn-hinge-translation": {**_SN_HINGE, "augment": "translation"},
    "sn-hinge-translation-color": {**_SN_HINGE, "augment": "translation,color"},
    "sn-hinge-translation-half-width": {**_SN_HINGE, "augment": "translation", "width": 0.5},
    "sn-hinge-translation-ttur": {**_SN_HINGE, "augment": "translation", "g_lr": 1e-4,
                                  "d_lr": 4e-4},
    # the two winners together: half width and the two learning rates
    "sn-hinge-translation-half-width-ttur": {**_SN_HINGE, "augment": "translation",
                                             "width": 0.5, "g_lr": 1e-4, "d_lr": 4e-4},
}
# The second round, one lever at a time on top of the first round's winner (the `studio`
# preset): the levers the first left untried, and a quarter of the width (the first round's
# biggest lever, once more).
_STUDIO = CANDIDATES["sn-hinge-translation-half-width-ttur"]
CANDIDATES |= {
    "studio-r1": {**_STUDIO, "r1_gamma": 1.0, "r1_every": 16},
    "studio-cutout": {**_STUDIO, "augment": "translation,cutout"},
    "studio-quarter-width": {**_STUDIO, "width": 0.25},
}


def run_candidate(name, config, train_source, ruler, minutes, out, seed, progress=None):
    """Train one candidate for `minutes` of wall time; its table rows and its grid faces."""
    started, last = time.perf_counter(), None
    trainer = train.Trainer(config, train_source, out / name, steps=10**8, seed=seed,
                            checkpoint_every=10**8, sample_every=10**8, log_every=50,
                            control=train.Control(deadline=time.monotonic() + 60 * minutes))
    for event in trainer.run():
        if isinstance(event, ev.Metrics):
            last = event
            if progress:
                progress(name, event)
        if isinstance(event, ev.End) and event.status == "error":
            raise RuntimeError(f"{name}: {event.message}")
    seconds = time.perf_counter() - started
    steps = event.step
    z = evaluation.quality_z(config.latent_dim, EVAL_N, seed)
    base = {"candidate": name, "overrides": CANDIDATES.get(name, {}), "minutes": minutes,
            "steps": steps, "images_seen": steps * config.batch_size,
            "img_per_s": round(steps * config.batch_size / seconds, 1),
            "status": event.status}
    if last is not None:
        base["d_real"], base["d_fake"] = round(last.d_real, 3), round(last.d_fake, 3)
    rows = []
    trainer.step_fn.sync()
    raw = np.concatenate([images.to_uint8(np.asarray(trainer.models.G(z[i:i + 200], training=False)))
                          for i in range(0, EVAL_N, 200)])
    rows.append({**base, "weights": "raw G", **ruler.measure(raw)})
    grid = raw[:GRID_FACES]
    if trainer.models.G_ema is not None:
        averaged = np.concatenate([trainer.generate(z[i:i + 200])[0]
                                   for i in range(0, EVAL_N, 200)])
        rows.append({**base, "weights": "average", **ruler.measure(averaged)})
        if rows[-1]["swd"] < rows[0]["swd"]:
            grid = averaged[:GRID_FACES]
    return rows, grid


def sweep(train_source, held_out, minutes: float, names, out, seed=0, batch=64,
          precision="float32", progress=None) -> list[dict]:
    """Train and measure each named candidate; writes sweep.md, sweep.json, sweep.png."""
    out = Path(out)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise ValueError(f"unknown candidate {', '.join(unknown)}; choose from "
                         f"{', '.join(CANDIDATES)}")
    if len(held_out) < 2 * EVAL_N:
        raise ValueError(f"the held-out set has {len(held_out):,} images; the sweep compares "
                         f"{EVAL_N:,} generated faces with {EVAL_N:,} held-out ones, and the "
                         f"next {EVAL_N:,} give the real-vs-real floor")
    ruler = evaluation.Ruler(evaluation.real_sample(held_out.images, EVAL_N, seed), seed)
    rows, grids = [], []
    for name in names:
        config = presets.preset("dcgan", batch_size=batch, precision=precision,
                              **CANDIDATES[name])
        found, grid = run_candidate(name, config, train_source, ruler, minutes, out, seed,
                                    progress)
        rows += found
        grids.append((name, grid))
        write(out, rows, grids, ruler.real_row())
    return rows


def write(out: Path, rows, grids, floor):
    files.write_text(out / "sweep.json", json.dumps({"rows": rows, "real": floor}, indent=1))
    files.write_text(out / "sweep.md", table(rows, floor))
    columns = [images.grid(g, 4) for _, g in grids]
    gap = np.full((columns[0].shape[0], 8, 3), 255, np.uint8)
    strip = np.concatenate([part for c in columns for part in (c, gap)][:-1], axis=1)
    files.write_bytes(out / "sweep.png", images.png_bytes(strip, scale=2))


def table(rows, floor) -> str:
    """The sweep as a Markdown table: SWD (the pick), then the sharper ruler's columns
    (evaluation.Ruler: precision, recall, coverage and KID on VGG16 features)."""
    head = ("| candidate | weights | minutes | images seen | img/s | SWD 64 / 32 / 16 | "
            "**SWD** | MS-SSIM | precision / recall | coverage | KID | RGB mean | RGB std |\n"
            + "|---" * 13 + "|\n")
    line = ("| {candidate} | {weights} | {minutes:g} | {images_seen:,} | {img_per_s:.1f} | "
            "{swd_64:.1f} / {swd_32:.1f} / {swd_16:.1f} | **{swd:.1f}** | {ms_ssim:.3f} | "
            "{precision:.3f} / {recall:.3f} | {coverage:.3f} | {kid:.3f} | {mean} | {std} |\n")
    body = "".join(line.format(**r, mean=rgb(r["mean_rgb"]), std=rgb(r["std_rgb"]))
                   for r in rows)
    real = (f"| real vs real (the floor) | | | | | {floor['real_swd_64']:.1f} / "
            f"{floor['real_swd_32']:.1f} / {floor['real_swd_16']:.1f} | "
            f"**{floor['real_swd']:.1f}** | {floor['real_ms_ssim']:.3f} | "
            f"{floor['precision_real']:.3f} / {floor['recall_real']:.3f} | "
            f"{floor['coverage_real']:.3f} | {floor['kid_real']:.3f} | "
            f"{rgb(floor['mean_rgb'])} | {rgb(floor['std_rgb'])} |\n")
    return head + body + real


def rgb(values) -> str:
    return " ".join(f"{v:.0f}" for v in values)
