"""Projection's targets: recovery of generated faces, held-out real faces, and time.

    python tests/perf/projection.py --recover 100 --real 100 --grid docs/projection.png

- Recovery: project G(z*) for random z*; median LPIPS (target <= 0.05) and PSNR (>= 30 dB).
- Real: faces of ../shared/data/anime-faces held out of training (the sorted file list, every
  tenth file, as the model card says); median LPIPS (target <= 0.20) and its quartiles.
- Time: seconds per projection with the explorer's defaults; p95 (target <= 10 s).
- Drawn: the built-in drawn faces (another style than the generator's), to show in docs/
  (the real faces' terms keep them out of the repository).
- --grid: 16 of the last set in rows of 8, each row above the row of their projections.
LPIPS is AlexNet's, the one projection descends; `lpips_vgg` is VGG16's, which it does not
see, as a second opinion.
One JSON object on stdout.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gan_core import system  # noqa: E402

system.one_framework()       # as the CLI's process: one framework imported
from gan_core import (data, encoder, faces, files, generate, images, noise,  # noqa: E402
                      project, settings)

FACES = ROOT.parent / "shared" / "data" / "anime-faces"


def held_out(n: int) -> list[np.ndarray]:
    names = sorted(p.name for p in FACES.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    return [data.decode((FACES / name).read_bytes()) for name in names[9::10][:n]]


def spread(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"median": round(float(np.median(v)), 4), "q25": round(float(np.quantile(v, .25)), 4),
            "q75": round(float(np.quantile(v, .75)), 4), "max": round(float(v.max()), 4)}


def run(projector, targets, steps, restarts):
    out = []
    for target in targets:
        started = time.perf_counter()
        result = project.last(project.project(projector, target, steps, restarts))
        out.append((result, time.perf_counter() - started))
    return out


def summary(targets, done) -> dict:
    return {"n": len(done), "lpips": spread([r.lpips for r, _ in done]),
            "lpips_vgg": spread([r.lpips_vgg for r, _ in done]), "psnr": spread([r.psnr for r, _ in done]),
            "far": int(sum(r.far for r, _ in done))}


def write_grid(path, targets, done):
    k = min(16, len(done)) // 8 * 8         # rows of 8: originals, then projections
    rows = [np.stack(faces) for start in range(0, k, 8) for faces in (
        targets[start:start + 8], [r.image for r, _ in done[start:start + 8]])]
    files.write_bytes(path, images.png_bytes(images.grid(np.concatenate(rows), 8), scale=2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(settings.SHIPPED_GENERATOR))
    ap.add_argument("--recover", type=int, default=100)
    ap.add_argument("--real", type=int, default=100)
    ap.add_argument("--drawn", type=int, default=0)
    ap.add_argument("--steps", type=int, default=project.STEPS)
    ap.add_argument("--restarts", type=int, default=project.RESTARTS)
    ap.add_argument("--net", choices=["alex", "vgg"], default="alex")
    ap.add_argument("--grid", help="a PNG: 16 held-out faces above their projections")
    args = ap.parse_args()
    gen = generate.Generator.load(args.model)
    enc = encoder.load(args.model, gen.latent_dim)
    projector = project.Projector(gen, enc, args.net)
    project.last(project.project(projector, gen(noise.for_seed(0, gen.latent_dim))[0], 2, 1))
    report = {"model": Path(args.model).name, "encoder": enc is not None, "steps": args.steps,
              "restarts": args.restarts}
    seconds = []
    sets = {}
    if args.recover:
        sets["recover"] = list(gen(noise.draw(2026, noise.PROJECT, 1, args.recover,
                                              gen.latent_dim)))
    if args.real and FACES.is_dir():
        sets["real"] = held_out(args.real)
    elif args.real:
        report["real"] = f"skipped: {FACES} is missing"
    if args.drawn:
        sets["drawn"] = list(faces.BuiltinFaces(args.drawn, seed=1)[:])
    for name, targets in sets.items():
        done = run(projector, targets, args.steps, args.restarts)
        seconds += [s for _, s in done]
        report[name] = summary(targets, done)
    if args.grid and sets:
        write_grid(args.grid, targets, done)
    if seconds:
        report["seconds"] = {"median": round(float(np.median(seconds)), 2),
                             "p95": round(float(np.quantile(seconds, 0.95)), 2)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
