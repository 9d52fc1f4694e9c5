"""python -m gan_core COMMAND ...: the command line, a third consumer of gan_core beside the
pages and the tests. Exit 0 on success, 2 on bad input with the reason on stderr."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from . import checks, files, presets, settings


def cmd_toy(args) -> dict:
    from . import toy

    steps = args.steps if args.steps is not None else (
        toy.COURSE_ITERATIONS if args.preset == "course" else 3000)
    if not 1 <= steps <= MAX_TOY_STEPS:        # the history is 7 numbers a step, in memory
        raise ValueError(f"--steps must be between 1 and {MAX_TOY_STEPS:,}")
    cfg = toy.PRESETS[args.preset].replace(seed=args.seed)
    if args.sigma_z is not None:
        cfg = cfg.replace(sigma_z=args.sigma_z)
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


MAX_TOY_STEPS = 1_000_000     # as toy2d's
TOY2D_FLAGS = {   # flag -> (Toy2DConfig field, type): each overrides the preset's value
    "--data": ("data", str), "--g-layers": ("g_layers", int), "--g-units": ("g_units", int),
    "--d-layers": ("d_layers", int), "--d-units": ("d_units", int),
    "--activation": ("activation", str), "--optimizer": ("optimizer", str),
    "--loss": ("loss", str), "--cure": ("cure", str), "--lr-g": ("lr_g", float),
    "--lr-d": ("lr_d", float), "--batch": ("batch", int), "--d-steps": ("d_steps", int),
    "--noise-dim": ("noise_dim", int), "--noise": ("noise", str),
    "--unroll": ("unroll", int), "--gp-weight": ("gp_weight", float)}


def cmd_toy2d(args) -> dict:
    from . import toy2d

    if args.list_presets:
        return {"presets": [{"name": name, "steps": s.steps, "seed": s.config.seed,
                             "expect_modes_covered": list(s.expect_modes_covered),
                             "about": s.about, "config": dataclasses.asdict(s.config)}
                            for name, s in toy2d.PRESETS.items()]}
    if args.preset not in toy2d.PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; choose from "
                         f"{', '.join(toy2d.PRESETS)}")
    story = toy2d.PRESETS[args.preset]
    changes = {field: getattr(args, flag[2:].replace("-", "_"))
               for flag, (field, _) in TOY2D_FLAGS.items()}
    changes["seed"] = args.seed
    cfg = toy2d.replace(story.config, **{k: v for k, v in changes.items() if v is not None})
    steps = story.steps if args.steps is None else args.steps
    if (cfg.data == "drawn") != bool(args.points):
        raise ValueError("--data drawn takes its points from --points FILE (one x,y a line), "
                         "and --points needs --data drawn")
    points = toy2d.read_points(args.points) if args.points else None
    return {"preset": args.preset, "seed": cfg.seed, **toy2d.train(cfg, steps, points)}


def _progress(total, batch_size):
    """A one-line progress bar on stderr, fed by the trainer's events."""
    from . import events as ev
    from .train import eta_seconds

    def show(event):
        if not isinstance(event, ev.Metrics):
            return
        eta = eta_seconds(event.step, total, batch_size, event.img_per_s) or 0.0
        bar = "#" * int(30 * event.step / total)
        print(f"\r[{bar:<30}] {event.step}/{total} G {event.g_loss:.3f} D {event.d_loss:.3f} "
              f"D(x) {event.d_real:.2f} D(G(z)) {event.d_fake:.2f} {event.img_per_s:.0f} img/s "
              f"ETA {eta:.0f}s ", end="", file=sys.stderr, flush=True)
    return show


RECIPE_FLAGS = {   # flag -> (GANConfig field, type, help); shared by train and sweep
    "--ema-rampup": ("ema_rampup", float, "cap the average's half-life at this fraction of "
                                          "the images seen (StyleGAN2-ADA uses 0.05; 0: off)"),
    "--width": ("width", float, "channel multiplier for G and D (0.5: a quarter of the FLOPs)"),
    "--d-norm": ("d_norm", str, "D's normalisation: batch or spectral"),
    "--loss": ("loss", str, "bce (non-saturating) or hinge"),
    "--augment": ("augment", str, "DiffAugment: translation,color,cutout (comma-separated; "
                                  "'' for none)"),
    "--r1": ("r1_gamma", float, "lazy R1 penalty weight gamma (0: off)"),
    "--r1-every": ("r1_every", int, "apply R1 every N steps"),
}


def add_recipe_flags(parser):
    for flag, (_, kind, text) in RECIPE_FLAGS.items():
        parser.add_argument(flag, type=kind, help=text)


def recipe_overrides(args) -> dict:
    return {field: getattr(args, flag[2:].replace("-", "_"))
            for flag, (field, _, _) in RECIPE_FLAGS.items()}


def resume_config(out, preset_name, overrides):
    """What --resume trains with: the run's saved config, refused now, before any data is read,
    when a flag asks for other settings (naming each difference). None when the folder's
    record cannot be read: the trainer then says what is wrong with it."""
    from . import runfolder

    try:
        saved = runfolder.Run(out).read_record().config
    except (OSError, ValueError):
        return None
    asked = presets.preset(preset_name, **overrides) if preset_name else saved.replace(**overrides)
    differ = saved.differences(asked)
    if differ:
        raise ValueError(f"--resume continues {out} with its saved settings; these flags ask "
                         f"for others: {'; '.join(differ)}. Drop them, or train into a new "
                         "--out")
    return saved


MAX_TRAIN_STEPS = int(presets.LIMITS["steps"][1])


def check_train_flags(args):
    if (args.steps is None) == (args.epochs is None):
        raise ValueError("give exactly one of --steps and --epochs")
    if args.steps is not None:
        presets.check("steps", args.steps, "--steps")
    if args.epochs is not None and not 0 < args.epochs < 1e6:
        raise ValueError("--epochs must be more than 0 and less than 1,000,000")
    if args.minutes is not None and not 0 < args.minutes < 1e6:
        raise ValueError("--minutes must be a positive number of minutes")
    if args.holdout is not None:
        presets.check("holdout", args.holdout, "--holdout")
    presets.check("seed", args.seed, "--seed")
    for flag in ("checkpoint_every", "sample_every", "log_every"):
        presets.check("every", getattr(args, flag), checks.flag_of(flag))
    presets.check("quality_every", args.quality_every, "--quality-every")


def stop_on_signals(control):
    """Ctrl-C (SIGINT) or SIGTERM (docker stop, systemd) stops the run cleanly at the next
    step, saved as at any stop; a second one stops at once, keeping the last checkpoint."""
    signalled = []

    def say(text):
        # Straight to the file descriptor: a signal that lands while the progress bar is
        # writing to sys.stderr would make a print here a reentrant call, which raises.
        try:
            os.write(sys.stderr.fileno(), text.encode())
        except (OSError, ValueError):
            pass

    def handle(signum, frame):
        name = signal.Signals(signum).name
        if signalled:
            say(f"\n{name} again: stopped at once; the last checkpoint is kept\n")
            os._exit(128 + signum)
        signalled.append(signum)
        control.stop()
        say(f"\n{name}: stopping after this step and saving the run (press Ctrl-C again "
            "to stop at once)\n")

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def cmd_train(args) -> dict:
    started = time.monotonic()     # --minutes counts the imports and the data, too
    overrides = {k: v for k, v in dict(
        batch_size=args.batch, latent_dim=args.latent, g_lr=args.g_lr, d_lr=args.d_lr,
        precision=args.precision, label_smoothing=args.label_smoothing, ema=args.ema,
        **recipe_overrides(args)).items() if v is not None}
    config = presets.preset(args.preset or "dcgan", **overrides)
    check_train_flags(args)     # every flag before a backend loads, data is read or folder made
    if args.resume:
        config = resume_config(args.out, args.preset, overrides)
    from . import data, multihost, runfolder
    from . import events as ev

    procs = multihost.Processes.from_flags(args.coordinator, args.num_processes,
                                           args.process_id)
    if config is not None:                # (None: the trainer says what the folder lacks)
        procs.check(config.batch_size)
    procs.start()                  # before anything runs on JAX; waits for all processes
    if procs.writes:                            # refused now, not after the data:
        files.check_folder(args.out)            # under a file, or read-only
        if Path(args.out).is_dir():
            with runfolder.Run(args.out).lock():    # in use
                pass
    source = data.load(args.data, cache_dir=args.cache, seed=args.seed)
    if source.skipped:
        print(f"skipped {len(source.skipped)} bad files:", file=sys.stderr)
        for name, reason in source.skipped[:20]:
            print(f"  {name}: {reason}", file=sys.stderr)
    from . import train     # Keras, once the data is there: a wrong path is answered at once

    trainer = train.Trainer(config, source, args.out, steps=args.steps, epochs=args.epochs,
                            seed=args.seed, checkpoint_every=args.checkpoint_every,
                            sample_every=args.sample_every, log_every=args.log_every,
                            quality_every=args.quality_every, holdout=args.holdout or 0,
                            resume=args.resume, writes=procs.writes,
                            control=train.Control(deadline=args.minutes and
                                                  started + 60 * args.minutes))
    if procs.writes:    # made once the data and the trainer's checks pass: a refusal leaves none
        Path(args.out).mkdir(parents=True, exist_ok=True)
    show = _progress(trainer.total, trainer.config.batch_size) if procs.writes else lambda event: None
    stop_on_signals(trainer.control)
    end, devices = None, None
    for event in trainer.run():
        show(event)
        if isinstance(event, ev.Start):
            devices = event.replicas
            for name, reason in event.skipped_checkpoints:
                print(f"warning: skipped the unreadable checkpoint {name} ({reason})",
                      file=sys.stderr)
            if event.stale_lock:
                print(f"warning: took over a stale lock of pid {event.stale_lock}, "
                      "which is no longer running", file=sys.stderr)
            if event.resumed_from:
                print(f"resuming from {event.resumed_from} (step {event.step})",
                      file=sys.stderr)
        end = event
    print(file=sys.stderr)
    if end.status in ("diverged", "error"):
        saved = end.last_checkpoint
        raise RuntimeError(f"training {'diverged' if end.status == 'diverged' else 'failed'}"
                           f": {end.message}; "
                           + (f"last good checkpoint: {saved}" if saved else "no checkpoint"))
    return {"status": end.status, "step": end.step, "images": len(source),
            "skipped": len(source.skipped), "generator": end.generator_path,
            "devices": devices, **(end.metrics or {})}


def cmd_generate(args) -> dict:
    from . import system

    if args.threads is not None:
        system.check_threads(args.threads)
    if args.ids:
        return generate_ids(args)
    if args.cluster or args.shard:
        raise ValueError("--cluster and --shard work with --ids")
    from . import generate, noise

    if not 1 <= args.n <= generate.MAX_IMAGES:
        raise ValueError(f"--n must be between 1 and {generate.MAX_IMAGES:,} "
                         "(run several commands with other --seed for more)")
    presets.check("seed", args.seed, "--seed")
    if args.threads:
        system.limit_threads(args.threads)
    gen = generate.Generator.load(args.model, args.precision)
    z = noise.for_seeds(args.seed, args.n, gen.latent_dim)    # the explorer's seeds
    start = time.perf_counter()
    if args.out.endswith(".npy"):
        generate.write_npy(gen, z, args.out)
    else:
        generate.write_pngs(gen, z, [f"{i:06d}" for i in range(args.n)], args.out)
    return {"n": len(z), "out": args.out, "img_per_s": len(z) / (time.perf_counter() - start)}


def generate_ids(args) -> dict:
    """Every id of the file (streamed, any number), here or on a Dask cluster (--cluster)."""
    from . import bulk

    start = time.perf_counter()
    job = bulk.Job.plan(args.model, args.out, args.precision, threads=args.threads or 0)
    total = bulk.count(args.ids, args.shard)     # a bad file is refused before any work
    if args.cluster:
        from . import cluster

        with cluster.connect(args.cluster, args.workers) as client:
            done = cluster.make_avatars(client, job, args.ids, args.shard, total)
    else:
        done = bulk.run(job, args.ids, args.shard, total=total)
    return {**done, "out": args.out,
            "img_per_s": done["n"] / (time.perf_counter() - start)}


def cmd_encoder(args) -> dict:
    """Train the encoder projection starts from, written beside the generator."""
    from . import encoder, generate

    presets.check("steps", args.steps, "--steps")
    if args.minutes is not None and not (checks.finite(args.minutes) and args.minutes > 0):
        raise ValueError("--minutes must be a number above 0")
    gen = generate.Generator.load(args.model)
    out = encoder.path_for(args.model)
    files.check_folder(out.parent)
    for event in encoder.train(gen, args.steps, args.minutes, seed=args.seed):
        if isinstance(event, encoder.Progress):
            print(f"\r{event.step}/{event.steps} z error {event.loss:.4f} "
                  f"{event.seconds:.0f}s ", end="", file=sys.stderr, flush=True)
            done = event
    print(file=sys.stderr)
    encoder.save(event, args.model)
    return {"encoder": str(out), "steps": done.step, "z_mse": done.loss,
            "seconds": round(done.seconds, 1)}


def cmd_project(args) -> dict:
    """Each picture's closest face: <name>.png (the explorer's PNG with z) and <name>.json."""
    from . import data, encoder, generate, latent, noise, project

    project.check(args.steps, args.restarts)
    presets.check("seed", args.seed, "--seed")
    pictures = []
    for name in args.images:          # every picture read and checked before any work
        try:
            pictures.append((name, data.decode_file(name)))
        except (ValueError, OSError) as error:
            raise ValueError(f"{name}: {getattr(error, 'strerror', None) or error}") from None
    out = Path(args.out)
    files.check_folder(out)
    gen = generate.Generator.load(args.model)
    projector = project.Projector(gen, encoder.load(args.model, gen.latent_dim), args.net)
    namespace = noise.namespace(args.model)
    rows = []
    for name, target in pictures:
        result = project.last(project.project(projector, target, args.steps, args.restarts,
                                              args.seed))
        stem = files.safe_name(Path(name).stem)
        png = out / f"{stem}.png"
        files.write_bytes(png, latent.face_png(result.image, result.z, namespace))
        row = {"image": name, "png": str(png), **result.summary()}
        files.write_text(out / f"{stem}.json", json.dumps(row, indent=1))
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{name}: LPIPS {row['lpips']:.3f}, PSNR {row['psnr']:.1f} dB, "
                  f"{row['seconds']:.1f} s -> {png}" + ("  (far from any face this "
                  "generator makes)" if result.far else ""), file=sys.stderr, flush=True)
    if args.json:
        return None                   # the lines above were the output: one per picture
    return {"projected": len(rows), "out": str(out),
            "median_lpips": float(np.median([r["lpips"] for r in rows]))}


def cmd_evaluate(args) -> dict:
    from . import data, evaluation, faces, generate

    gen = generate.Generator.load(args.model)
    if args.n < 8:
        raise ValueError("--n must be at least 8 (generated faces to compare)")
    real = data.load(args.data, cache_dir=args.cache).images
    n = min(args.n, len(real) // 2)
    if n < 8:
        raise ValueError(f"{args.data} has {len(real)} images; evaluate needs at least 16")
    fakes = evaluation.fakes(gen, n, args.seed)
    result = evaluation.Ruler(evaluation.real_sample(real, n, args.seed), args.seed)\
        .measure(fakes)
    if data.is_builtin(args.data):
        # The drawn faces have twelve hair colours in equal parts: which did G keep?
        shares = faces.hair_colour_shares(fakes)
        result["hair_colours"] = shares
        result["hair_colours_missing"] = faces.missing_hair_colours(shares)
    return result


def cmd_export(args) -> dict:
    from . import train

    path, checkpoint = train.export(args.run_dir, args.out)
    return {"run": args.run_dir, "checkpoint": str(checkpoint), "out": str(path)}


def cmd_sweep(args) -> dict:
    from . import data, sweep

    if not args.minutes > 0 or args.minutes > 24 * 60:
        raise ValueError("--minutes must be more than 0, at most 1,440 (a day)")
    names = [n.strip() for n in args.only.split(",")] if args.only else list(sweep.CANDIDATES)

    def progress(name, event):
        print(f"\r{name}: step {event.step} {event.img_per_s:.0f} img/s "
              f"D(x) {event.d_real:.2f} D(G(z)) {event.d_fake:.2f}   ",
              end="", file=sys.stderr, flush=True)

    rows = sweep.sweep(data.load(args.data, cache_dir=args.cache),
                       data.load(args.holdout, cache_dir=args.cache), args.minutes, names,
                       args.out, seed=args.seed, batch=args.batch, precision=args.precision,
                       progress=progress)
    print(file=sys.stderr)
    best = min(rows, key=lambda r: r["swd"])
    return {"candidates": len(names), "best": f"{best['candidate']} ({best['weights']})",
            "best_swd": best["swd"], "table": f"{args.out}/sweep.md"}


def cmd_serve(args) -> dict:
    from . import system

    if not 0 < args.port < 65536:           # the flags first, answered before any import
        raise ValueError("--port must be between 1 and 65535")
    if not 0 <= args.rate_limit <= 1e6:      # nan and inf fail this too
        raise ValueError("--rate-limit must be between 0 (no limit) and 1,000,000 requests/s")
    if args.threads is not None:
        system.check_threads(args.threads)
    from . import api, settings

    system.limit_threads(system.serving_threads(args.threads))
    env = settings.Settings.from_env()
    token = args.token or env.api_token
    service = api.AvatarService(args.model, runs=args.runs or env.runs)
    service.warm()
    print(f"serving avatars of {service.default.path} ({service.default.namespace}) on "
          f"http://{args.host}:{args.port}/api/v1/", file=sys.stderr, flush=True)
    api.serve(service, args.host, args.port, token, args.rate_limit,
              args.forwarded_allow_ips)
    return {"stopped": True}


def cmd_card(args) -> dict:
    from . import card, data

    rows = card.make(args.run_dir, args.model, args.previous,
                     data.load(args.holdout, cache_dir=args.cache), args.out)
    return {"out": args.out, **{k: v.get("swd", v.get("real_swd")) for k, v in rows.items()},
            "rows": rows}


def cmd_bench(args) -> dict:
    from . import bench
    return bench.run(steps=args.steps, tiny=args.tiny)


class Parser(argparse.ArgumentParser):
    """argparse, with its refusals in one line (the usage is one --help away)."""

    def error(self, message):
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> int:
    parser = Parser(prog="python -m gan_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("toy", help="train the 1-D toy GAN headless")
    p.add_argument("--preset", choices=["course", "default"], default="default")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default: 20 for course, 3000 for default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sigma-z", type=float, default=None, help="noise std (course code: 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_toy)

    p = sub.add_parser("toy2d", help="train the 2-D toy GAN headless (mode collapse and cures)")
    p.add_argument("--preset", default="vanilla-8", help="a story (see --list-presets)")
    p.add_argument("--list-presets", action="store_true",
                   help="the story presets, each with its steps, seed and expected outcome")
    p.add_argument("--steps", type=int, default=None, help="default: the preset's")
    p.add_argument("--seed", type=int, default=None, help="default: the preset's")
    for flag, (_, kind) in TOY2D_FLAGS.items():
        p.add_argument(flag, type=kind, default=None)
    p.add_argument("--points", help="with --data drawn: a file of points, one x,y a line")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_toy2d)

    p = sub.add_parser("train", help="train a DCGAN")
    p.add_argument("--data", required=True,
                   help="builtin[:N], a folder, a .zip, an http(s) URL of a .zip, or kaggle")
    p.add_argument("--preset", choices=list(presets.PRESETS),
                   help="the recipe (default: dcgan; with --resume, the run's own)")
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
    add_recipe_flags(p)
    p.add_argument("--precision", choices=presets.PRECISIONS)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--sample-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=1)
    p.add_argument("--quality-every", type=int, default=0,
                   help="SWD and MS-SSIM on held-out images every N steps (0: never)")
    p.add_argument("--holdout", type=int,
                   help="images kept out of training for --quality-every (default: a tenth, "
                        "up to 2,048)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--coordinator", help="several processes (JAX backend): process 0's "
                                         "HOST:PORT, the same for all (or "
                                         "KERAS_DISTRIBUTION_JOB_ADDRESSES)")
    p.add_argument("--num-processes", type=int, help="how many processes train together "
                                                     "(or KERAS_DISTRIBUTION_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, help="this process's number, 0 to N-1; 0 writes "
                                                  "the run (or KERAS_DISTRIBUTION_PROCESS_ID)")
    p.add_argument("--cache", help="decode cache folder (default ~/.cache/gan-studio)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("generate", help="images from a trained generator")
    p.add_argument("--model", required=True, help="a generator .keras file")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0,
                   help="face i is the latent explorer's seed SEED + i (the first is SEED)")
    p.add_argument("--ids", help="a file of player ids, one per line: writes <id>.png each")
    p.add_argument("--shard", help="K/N: only the K-th of N shares of the ids (for N machines)")
    p.add_argument("--cluster", help="with --ids: make the avatars on a Dask cluster, 'local' "
                                     "(one worker per core, started here) or a scheduler's "
                                     "address, tcp://HOST:8786")
    p.add_argument("--workers", type=int, help="with --cluster local: how many workers")
    p.add_argument("--out", required=True, help="a folder, a .zip or a .npy file")
    p.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16: about 1.5x faster on a CPU with bfloat16 instructions or "
                        "on a GPU; pixels may differ from float32's by a few levels")
    p.add_argument("--threads", type=int,
                   help="CPU threads the generator uses (default: all cores here, one on each "
                        "--cluster worker); the same count gives the same bytes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("encoder", help="train the encoder that projection starts from "
                                       "(written beside the generator as NAME.encoder.keras)")
    p.add_argument("--model", default=str(settings.SHIPPED_GENERATOR))
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_encoder)

    p = sub.add_parser("project", help="find the z whose face looks most like each picture")
    p.add_argument("images", nargs="+", help="picture files (any size; a centred square crop)")
    p.add_argument("--model", default=str(settings.SHIPPED_GENERATOR),
                   help="a generator .keras file (its NAME.encoder.keras beside it is used)")
    p.add_argument("--out", required=True, help="folder for NAME.png (with its z) and NAME.json")
    p.add_argument("--steps", type=int, default=200, help="Adam steps on z")
    p.add_argument("--restarts", type=int, default=4, help="starts optimised side by side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--net", choices=["alex", "vgg"], default="alex",
                   help="the LPIPS network descended: vgg gives cleaner faces, 4x slower")
    p.add_argument("--json", action="store_true", help="one JSON object a line per picture")
    p.set_defaults(run=cmd_project)

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

    p = sub.add_parser("sweep", help="train recipe candidates for the same minutes each and "
                                     "compare them on held-out faces")
    p.add_argument("--data", required=True, help="the training images (as train's --data)")
    p.add_argument("--holdout", required=True,
                   help="held-out images none of the candidates train on (at least 2,000)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall time per candidate")
    p.add_argument("--only", help="comma-separated candidate names (default: all)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precision", choices=presets.PRECISIONS,
                   default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for the runs and the table")
    p.add_argument("--cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("serve", help="the avatar HTTP API alone (no UI), for a game server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8600)
    p.add_argument("--model", help="the default generator (default: the shipped one)")
    p.add_argument("--runs", help="also offer each run's generator under its run id "
                                  "(default: GAN_STUDIO_RUNS or runs/)")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' "
                                   "(or set GAN_STUDIO_API_TOKEN)")
    p.add_argument("--threads", type=int,
                   help="CPU threads the generator may use (default: all cores but one, "
                        "which the HTTP loop needs); 1 leaves the other cores to an app on "
                        "the same machine")
    p.add_argument("--forwarded-allow-ips",
                   help="the proxies (comma-separated addresses) whose X-Forwarded-For names "
                        "the client, for the rate limit; by default no header is trusted")
    p.add_argument("--rate-limit", type=float, default=settings.API_RATE_LIMIT,
                   help="requests per second per client address, bursts of twice that "
                        "(0: no limit)")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("card", help="a generator's model-card pictures and quality table")
    p.add_argument("--run", dest="run_dir", help="the training run folder (for curves.png)")
    p.add_argument("--model", required=True, help="its exported generator")
    p.add_argument("--previous", help="the generator it replaces (same z, side by side)")
    p.add_argument("--holdout", required=True, help="held-out faces (at least 2,000)")
    p.add_argument("--out", required=True, help="folder for curves.png, samples.png, ...")
    p.add_argument("--cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_card)

    p = sub.add_parser("bench", help="training and generation speed, one JSON object")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per trainer")
    p.add_argument("--tiny", action="store_true",
                   help="every part at a token size: checks that it runs, measures nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_bench)

    args = parser.parse_args(argv)
    try:
        result = args.run(args)
    except checks.FieldError as error:       # a setting's field, said as the flag typed
        print(f"error: {error.named(checks.flag_of(error.field))}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:        # --out in a read-only folder, under a file, a full disk
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        why = "is a file, not a folder" if isinstance(
            error, (FileExistsError, NotADirectoryError)) else error.strerror or error
        print(f"error: {where}{why}", file=sys.stderr)
        return 2
    except RuntimeError as error:   # training diverged or failed: not the input's fault
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (RecursionError, OverflowError, MemoryError) as error:   # what a hostile input
        print(f"error: the input is too large or too deep ({type(error).__name__})",  # can do
              file=sys.stderr)
        return 2
    if result is None:
        pass
    elif getattr(args, "json", False):
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value:.4g}" if isinstance(value, float) else f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    # Every command run as a process, not only serve: a teacher's `train` or `generate` on a
    # machine without a GPU should not open with TensorFlow's CUDA errors (system.NOISE), nor
    # import both frameworks (system.one_framework).
    from . import system

    system.start_up()
    sys.exit(main())
