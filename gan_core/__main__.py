"""python -m gan_core COMMAND ...: the command line, a third consumer of gan_core beside the
pages and the tests. Exit 0 on success, 2 on bad input with the reason on stderr."""

from __future__ import annotations

import argparse
import json
import sys
import time


def cmd_toy(args) -> dict:
    from . import toy

    cfg = toy.PRESETS[args.preset].replace(seed=args.seed)
    if args.sigma_z is not None:
        cfg = cfg.replace(sigma_z=args.sigma_z)
    steps = args.steps if args.steps is not None else (
        toy.COURSE_ITERATIONS if args.preset == "course" else 3000)
    if steps < 1:
        raise ValueError("--steps must be at least 1")
    gan = toy.ToyGAN(cfg)
    start = time.perf_counter()
    rows, _ = gan.train(steps)
    elapsed = time.perf_counter() - start
    gen_mean, gen_std = gan.gen_stats()
    real, fake = gan.count_above_half()
    return {
        "preset": args.preset, "seed": args.seed, "steps": steps,
        "gen_mean": gen_mean, "gen_std": gen_std,
        "d_real": float(rows[-1, 3]), "d_fake": float(rows[-1, 4]),
        "best_step": gan.best.step, "best_real_above_half": real,
        "best_fake_above_half": fake, "steps_per_s": steps / elapsed,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("toy", help="train the 1-D toy GAN headless")
    p.add_argument("--preset", choices=["course", "default"], default="default")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: 20 for course, 3000 for default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sigma-z", type=float, default=None, help="noise std (course code: 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_toy)

    args = parser.parse_args(argv)
    try:
        result = args.run(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value:.4g}" if isinstance(value, float) else f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
