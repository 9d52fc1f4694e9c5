"""A learner's first DCGAN run: the training page's defaults, as the page submits them.

    .venv/bin/python tests/perf/first_run.py [--out first_run]

Submits `jobs.first_run_spec()` (the page's defaults: built-in faces, preset, steps, batch) to a
JobManager, exactly as the Start button does, and waits for it. Prints one JSON object: the
wall time from Start to the end, images/s, D's last scores, and the hair colours the last
grid holds. Writes the last sample grid to OUT/grid.png, to look at: recognisable faces or not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gan_core import system  # noqa: E402

system.one_framework()       # as the CLI's process: one framework imported
from gan_core import faces, files, images, jobs, presets  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="first_run")
    parser.add_argument("--preset", help="try another preset than the page's (for tuning)")
    parser.add_argument("--steps", type=int, help="try another step count than the page's")
    parser.add_argument("--faces", type=int, help="built-in faces, if not the page's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manager = jobs.JobManager(Path(tmp) / "runs", Path(tmp) / "data")
        spec = jobs.first_run_spec()
        if args.preset:
            spec = dataclasses.replace(spec, config=presets.PRESETS[args.preset])
        spec = dataclasses.replace(spec, steps=args.steps or spec.steps,
                                   data=f"builtin:{args.faces}" if args.faces else spec.data)
        start = time.perf_counter()
        job = manager.submit("learner", spec)
        while job.status in jobs.ACTIVE:
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        manager.shutdown()
        snap = job.snapshot()
        last = snap["metrics"][-1]
        grid = snap["latest"]["images"]
        files.write_bytes(Path(args.out) / "grid.png",
                          images.png_bytes(images.grid(grid, 8), scale=2))
        shares = faces.hair_colour_shares(grid)
        print(json.dumps({
            "spec": {"data": spec.data, "steps": spec.steps, "config": spec.config.to_dict()},
            "status": job.status, "message": job.message, "seconds": round(seconds, 1),
            "img_per_s": round(last["img_per_s"], 1), "d_real": round(last["d_real"], 3),
            "d_fake": round(last["d_fake"], 3),
            "hair_colours_missing": faces.missing_hair_colours(shares),
            "grid": str(Path(args.out) / "grid.png")}))


if __name__ == "__main__":
    main()
