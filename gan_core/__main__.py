"""python -m gan_core COMMAND ...: the command line, a third consumer of gan_core beside the
pages and the tests. Exit 0 on success, 2 on bad input with the reason on stderr."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


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


def _progress(total, batch_size):
    """A one-line progress bar on stderr, fed by the trainer's events."""
    from .train import eta_seconds

    def show(event):
        if event.kind != "metrics":
            return
        d, done = event.data, event.step / total
        eta = eta_seconds(event.step, total, batch_size, d["img_per_s"]) or 0.0
        bar = "#" * int(30 * done)
        print(f"\r[{bar:<30}] {event.step}/{total} G {d['g_loss']:.3f} D {d['d_loss']:.3f} "
              f"D(x) {d['d_real']:.2f} D(G(z)) {d['d_fake']:.2f} {d['img_per_s']:.0f} img/s "
              f"ETA {eta:.0f}s ", end="", file=sys.stderr, flush=True)
    return show


def cmd_train(args) -> dict:
    started = time.perf_counter()     # --minutes counts the imports and the data, too
    from . import data, dcgan, train

    config = dcgan.preset(args.preset, batch_size=args.batch, latent_dim=args.latent,
                          g_lr=args.g_lr, d_lr=args.d_lr, precision=args.precision,
                          label_smoothing=args.label_smoothing, ema=args.ema)
    if (args.steps is None) == (args.epochs is None):
        raise ValueError("give exactly one of --steps and --epochs")
    if args.minutes is not None and args.minutes <= 0:
        raise ValueError("--minutes must be positive")
    source = data.load(args.data, cache_dir=args.cache, seed=args.seed)
    if source.skipped:
        print(f"skipped {len(source.skipped)} bad files:", file=sys.stderr)
        for name, reason in source.skipped[:20]:
            print(f"  {name}: {reason}", file=sys.stderr)
    trainer = train.Trainer(config, source, args.out, steps=args.steps, epochs=args.epochs,
                            seed=args.seed, checkpoint_every=args.checkpoint_every,
                            sample_every=args.sample_every, log_every=args.log_every,
                            quality_every=args.quality_every, resume=args.resume)
    show = _progress(trainer.total, config.batch_size)
    end = None
    for event in trainer.run():
        show(event)
        # A time budget, for a lesson: stop cleanly (checkpoint and generator saved).
        if args.minutes and time.perf_counter() - started > 60 * args.minutes:
            trainer.control.stop()
        if event.kind == "start" and event.data["resumed_from"]:
            print(f"resuming from {event.data['resumed_from']} (step {event.step})",
                  file=sys.stderr)
        end = event
    print(file=sys.stderr)
    if end.data["status"] in ("diverged", "error"):
        raise RuntimeError(f"{end.data['status']}: {end.data['message']}; last good checkpoint: "
                           f"{end.data['last_checkpoint']}")
    return {"status": end.data["status"], "step": end.step, "images": len(source),
            "skipped": len(source.skipped), "generator": end.data["generator"],
            **(end.data["metrics"] or {})}


def cmd_generate(args) -> dict:
    from . import avatars, files, generate, train

    gen = generate.Generator.load(args.model, args.precision)
    if args.ids:
        ids = [line.strip() for line in open(args.ids, encoding="utf-8") if line.strip()]
        if not ids:
            raise ValueError(f"{args.ids} has no ids")
        ns = avatars.namespace(args.model)
        z = np.stack([avatars.z_for_id(i, gen.latent_dim, ns) for i in ids])
        names = [files.safe_name(i) for i in ids]
    else:
        if args.n < 1:
            raise ValueError("--n must be at least 1")
        z = train.noise(args.seed, 0, args.n, gen.latent_dim)
        names = [f"{i:06d}" for i in range(args.n)]
    start = time.perf_counter()
    if args.out.endswith(".npy"):
        with files.atomic_path(args.out) as tmp:
            np.save(tmp, gen(z))
    else:
        generate.write_pngs(gen, z, names, args.out)
    return {"n": len(z), "out": args.out, "img_per_s": len(z) / (time.perf_counter() - start)}



def cmd_evaluate(args) -> dict:
    from . import data, faces, generate, quality, train

    gen = generate.Generator.load(args.model)
    real = data.load(args.data, cache_dir=args.cache).images
    n = min(args.n, len(real) // 2)
    if n < 8:
        raise ValueError(f"{args.data} has {len(real)} images; evaluate needs at least 16")
    real = np.asarray(real[np.random.default_rng(args.seed).choice(len(real), 2 * n,
                                                                   replace=False)])
    fakes = gen(train.noise(args.seed, 0, n, gen.latent_dim, train.QUALITY_NOISE))
    result = quality.compare(fakes, real, seed=args.seed)
    if data.is_builtin(args.data):
        # The drawn faces have twelve hair colours in equal parts: which did G keep?
        shares = faces.hair_colour_shares(fakes)
        result["hair_colours"] = shares
        result["hair_colours_missing"] = faces.missing_hair_colours(shares)
    return result


def cmd_export(args) -> dict:
    from . import train

    trainer = train.Trainer.for_export(args.run_dir)
    path = trainer.export(args.out)
    return {"run": args.run_dir, "checkpoint": str(trainer.resume_from), "out": str(path)}


def cmd_bench(args) -> dict:
    from . import bench
    return bench.run(steps=args.steps)


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

    p = sub.add_parser("train", help="train a DCGAN")
    p.add_argument("--data", required=True,
                   help="builtin[:N], a folder, a .zip, an http(s) URL of a .zip, or kaggle")
    p.add_argument("--preset", default="dcgan",
                   choices=["course", "dcgan", "scenario2", "pytorch-anime"])
    p.add_argument("--steps", type=int)
    p.add_argument("--epochs", type=float)
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes, counted from the command's start, "
                        "saving the run as at any stop")
    p.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    p.add_argument("--latent", type=int, help="latent size (default: the preset's)")
    p.add_argument("--g-lr", type=float)
    p.add_argument("--d-lr", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--ema", type=float,
                   help="keep an average of G's weights with this decay, e.g. 0.999 (0: off)")
    p.add_argument("--precision", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--sample-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=1)
    p.add_argument("--quality-every", type=int, default=0,
                   help="SWD and MS-SSIM on held-out images every N steps (0: never)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--cache", help="decode cache folder (default ~/.cache/gan-studio)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("generate", help="images from a trained generator")
    p.add_argument("--model", required=True, help="a generator .keras file")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ids", help="a file of player ids, one per line: writes <id>.png each")
    p.add_argument("--out", required=True, help="a folder, a .zip or a .npy file")
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16: about 1.5x faster on a CPU with bfloat16 instructions or "
                        "on a GPU; pixels may differ from float32's by a few levels")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("evaluate", help="SWD and MS-SSIM of a generator against real images")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("export", help="a run's generator as a .keras file")
    p.add_argument("--run", dest="run_dir", required=True, help="a training run folder")
    p.add_argument("--out", required=True, help="the .keras file to write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("bench", help="training and generation speed, one JSON object")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per trainer")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_bench)

    args = parser.parse_args(argv)
    try:
        result = args.run(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:   # training diverged or failed: not the input's fault
        print(f"error: {error}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value:.4g}" if isinstance(value, float) else f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
