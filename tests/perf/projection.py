"""Projection's targets: recovery of generated faces, held-out real faces, and time.

    python tests/perf/projection.py --recover 100 --real 100 --grid docs/projection.png

- Recovery: project G(z*) for random z*; median LPIPS (target <= 0.05) and PSNR (>= 30 dB).
- Real: faces of ../shared/data/anime-faces held out of training (the sorted file list, every
  tenth file, as the model card says); median LPIPS (target <= 0.20) and its quartiles.
- Time: seconds per projection with the explorer's defaults; p95 (target <= 10 s).
- --grid: 16 held-out faces in rows of 8, each row above the row of their projections.
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

from gan_core import data, encoder, files, generate, images, noise, project, settings  # noqa: E402

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(settings.SHIPPED_GENERATOR))
    ap.add_argument("--recover", type=int, default=100)
    ap.add_argument("--real", type=int, default=100)
    ap.add_argument("--steps", type=int, default=project.STEPS)
    ap.add_argument("--restarts", type=int, default=project.RESTARTS)
    ap.add_argument("--grid", help="a PNG: 16 held-out faces above their projections")
    args = ap.parse_args()
    gen = generate.Generator.load(args.model)
    enc = encoder.load(args.model, gen.latent_dim)
    projector = project.Projector(gen, enc)
    project.last(project.project(projector, gen(noise.for_seed(0, gen.latent_dim))[0], 2, 1))
    report = {"model": Path(args.model).name, "encoder": enc is not None, "steps": args.steps,
              "restarts": args.restarts}
    seconds = []
    if args.recover:
        targets = gen(noise.draw(2026, noise.PROJECT, 1, args.recover, gen.latent_dim))
        done = run(projector, targets, args.steps, args.restarts)
        seconds += [s for _, s in done]
        report["recover"] = {"n": len(done), "lpips": spread([r.lpips for r, _ in done]),
                             "psnr": spread([r.psnr for r, _ in done])}
    if args.real and FACES.is_dir():
        targets = held_out(args.real)
        done = run(projector, targets, args.steps, args.restarts)
        seconds += [s for _, s in done]
        report["real"] = {"n": len(done), "lpips": spread([r.lpips for r, _ in done]),
                          "psnr": spread([r.psnr for r, _ in done]),
                          "far": sum(r.far for r, _ in done)}
        if args.grid:
            k = min(16, len(done)) // 8 * 8         # rows of 8: originals, then projections
            rows = [np.stack(faces) for start in range(0, k, 8) for faces in (
                targets[start:start + 8], [r.image for r, _ in done[start:start + 8]])]
            grid = images.grid(np.concatenate(rows), 8)
            files.write_bytes(args.grid, images.png_bytes(grid, scale=2))
    elif args.real:
        report["real"] = f"skipped: {FACES} is missing"
    if seconds:
        report["seconds"] = {"median": round(float(np.median(seconds)), 2),
                             "p95": round(float(np.quantile(seconds, 0.95)), 2)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
