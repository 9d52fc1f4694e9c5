"""Hostile input to the command line and to every reader of a file from outside: each gets
exit 2 and one line naming the flag or the file, never a traceback; SIGTERM and Ctrl-C stop a
training run cleanly, a second one at once. Fuzzed flags and files last."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gan_core import bulk, files, images, latent, noise, runfolder, settings, train
from gan_core.__main__ import main, stop_on_signals

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--data", "builtin:16", "--batch", "8", "--latent", "8", "--width", "0.125"]


def cli(capsys, *args):
    """main() in this process: (exit code, stdout, stderr); argparse's exits included."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *args, match):
    code, _, err = cli(capsys, *args)
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and match in err, err
    return err


# --- flags ------------------------------------------------------------------------------------

def test_toy_flags_are_refused_with_their_range(capsys):
    refused(capsys, "toy", "--steps", 10**11, match="--steps must be between 1 and 1,000,000")
    refused(capsys, "toy", "--seed", -1, match="--seed must be between 0 and")
    refused(capsys, "toy", "--sigma-z", "inf", match="--sigma-z must be a positive number")
    refused(capsys, "toy2d", "--g-units", 0, match="--g-units must be between 1 and")
    refused(capsys, "toy2d", "--lr-d", "nan", match="--lr-d must be more than 0")
    refused(capsys, "toy2d", "--data", "drawn", match="--points FILE")
    refused(capsys, "toy", "--steps", "many", match="invalid int value")
    refused(capsys, "sweep", "--data", "x", "--holdout", "y", "--out", "z", "--minutes", 0,
            match="more than 0, at most 1,440")


def test_train_checks_its_flags_before_reading_data_or_making_a_folder(capsys, tmp_path):
    for flags, match in ((["--steps", -3], "--steps must be between 1"),
                         (["--steps", 2, "--batch", 0], "batch must be between 1"),
                         (["--steps", 2, "--seed", -5], "--seed must be between 0"),
                         (["--steps", 2, "--log-every", 0], "--log-every must be between 1")):
        start = time.perf_counter()
        refused(capsys, "train", "--data", "builtin:100000", *flags, "--out", tmp_path / "run",
                match=match)
        assert time.perf_counter() - start < 5          # 100,000 faces were never drawn
        assert not (tmp_path / "run").exists()


def test_a_folder_in_use_is_refused_as_input_not_as_a_lost_run(capsys, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from gan_core import runfolder\n"
        "with runfolder.Run(sys.argv[1]).lock():\n print('held', flush=True); time.sleep(60)"),
        str(tmp_path)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused(capsys, "train", *TINY, "--steps", 1, "--out", tmp_path, match="in use")
    finally:
        holder.kill()
        holder.wait()


# --- files from outside -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from gan_core import data, presets
    out = tmp_path_factory.mktemp("run")
    config = presets.preset("dcgan", batch_size=8, latent_dim=8, width=0.125)
    list(train.Trainer(config, data.load("builtin:16"), out, steps=1).run())
    return out


def test_export_names_what_is_wrong_with_the_run(capsys, run_dir, tmp_path):
    bad = tmp_path / "bad"
    (bad / "checkpoints").mkdir(parents=True)
    (bad / "config.json").write_text("{}")
    refused(capsys, "export", "--run", bad, "--out", tmp_path / "g.keras",
            match="config.json is not a GAN Studio run config")
    (bad / "config.json").write_text("not json")
    refused(capsys, "export", "--run", bad, "--out", tmp_path / "g.keras",
            match="config.json is not valid JSON")
    (bad / "config.json").write_text((run_dir / "config.json").read_text())
    (bad / "checkpoints" / "ckpt-000001.npz").write_bytes(os.urandom(3000))
    err = refused(capsys, "export", "--run", bad, "--out", tmp_path / "g.keras",
                  match="not a checkpoint")
    assert "allow_pickle" not in err
    refused(capsys, "export", "--run", run_dir, "--out", tmp_path, match=f"--out {tmp_path}")
    assert cli(capsys, "export", "--run", run_dir, "--out", tmp_path / "g.keras")[0] == 0


def test_id_files_are_text_of_ids_the_api_can_serve(capsys, tmp_path):
    model = settings.SHIPPED_GENERATOR
    (tmp_path / "bin.txt").write_bytes(b"alice\n\xff\xfe\x00bob\n")
    refused(capsys, "generate", "--model", model, "--ids", tmp_path / "bin.txt", "--out",
            tmp_path / "o", match="bin.txt is not UTF-8 text (one id a line)")
    (tmp_path / "long.txt").write_bytes(b"alice\n" + b"x" * 10_000_000 + b"\n")
    refused(capsys, "generate", "--model", model, "--ids", tmp_path / "long.txt", "--out",
            tmp_path / "o", match=f"line 2: an id is at most {noise.MAX_ID_BYTES} bytes")
    assert not (tmp_path / "o").exists()


def test_a_face_png_with_a_damaged_z_is_refused_by_name():
    face = np.zeros((64, 64, 3), np.uint8)
    deep = images.png_bytes(face, text={latent.PNG_Z: "[" * 100_000 + "]" * 100_000})
    with pytest.raises(files.DamagedFile, match="me.png's z is damaged"):
        latent.read_face_png(deep, "me.png")
    for value in (3e38, -1e30, 11):
        huge = latent.face_png(face, np.full(100, value, np.float32), "")
        with pytest.raises(files.DamagedFile, match="out of the explorer's range"):
            latent.read_face_png(huge, "me.png")


def test_explorer_links_say_what_is_wrong_in_a_learner_s_words():
    for seed in ("nan", "-1", "1e3", "", "10000000000"):
        with pytest.raises(ValueError, match="a whole number from 0 to 1,000,000,000"):
            latent.parse_seed(seed)
    assert latent.parse_seed("42") == 42
    for text, match in (("-1:1", "component -1 does not exist \\(0–99\\)"),
                        ("99999999:1", "component 99999999 does not exist"),
                        ("3:99", "out of range")):
        with pytest.raises(ValueError, match=match):
            latent.decode_edits(text, 100)
    with pytest.raises(ValueError, match="direction 7 does not exist \\(0–4\\)"):
        latent.decode_edits("7:1", 5, "direction")


# --- stops ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_training_cleanly_and_twice_at_once(how, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "gan_core", "train", *TINY, "--steps", "100000",
            "--checkpoint-every", "100000", "--json"]
    # Two runs at once (their imports overlap): one stopped by one signal, one by two. The
    # second press follows the moment the first is acknowledged; the second run has full-width
    # networks, so its last step and save outlast that moment.
    once, twice = (subprocess.Popen([*args, *extra, "--out", str(tmp_path / name)], env=env,
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
                   for name, extra in (("a", []), ("b", ["--width", "1"])))
    wait_for_steps(tmp_path / "a", 3)      # (stopped first: it would train on meanwhile)
    once.send_signal(how)
    wait_for_steps(tmp_path / "b", 1)
    twice.send_signal(how)
    seen = []                       # two presses: the second only once the first was handled
    for line in twice.stderr:       # (one signal pending at a time is all Unix keeps)
        seen.append(line)
        if "stopping after this step" in line:
            break
    twice.send_signal(how)
    _, err = twice.communicate(timeout=60)
    err = "".join(seen) + err
    assert twice.returncode == 128 + how and "Traceback" not in err, err[-3000:]
    assert "stopped at once" in err

    out, err = once.communicate(timeout=120)
    assert once.returncode == 0 and "Traceback" not in err, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "stopped" and 3 <= summary["step"] < 100000
    run = runfolder.Run(tmp_path / "a")
    assert run.checkpoints() and (tmp_path / "a" / "generator.keras").exists()
    assert run.checkpoints()[-1].name == f"ckpt-{summary['step']:08d}.npz"    # at the stop
    assert "stopping after this step" in err


def test_a_signal_that_lands_while_the_progress_bar_writes_stops_the_run(tmp_path, monkeypatch):
    # The progress bar writes to stderr all the time, so Ctrl-C often lands inside one of its
    # writes: the handler's own message must not be a reentrant write to that stream (which
    # raises, and the run died "training failed" instead of stopping).
    fd = os.open(tmp_path / "stderr", os.O_WRONLY | os.O_CREAT)
    signalled = []

    class Terminal(io.RawIOBase):
        def writable(self):
            return True

        def fileno(self):
            return fd

        def write(self, data):
            if not signalled:                  # the signal arrives in the middle of a write
                signalled.append(os.kill(os.getpid(), signal.SIGINT))
            return os.write(fd, data)

    control, handlers = train.Control(), {s: signal.getsignal(s) for s in (signal.SIGINT,
                                                                          signal.SIGTERM)}
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(io.BufferedWriter(Terminal())))
    try:
        stop_on_signals(control)
        print("[#####     ] 1/100", end="", file=sys.stderr, flush=True)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        os.close(fd)
    assert signalled and control.stopped
    assert "SIGINT: stopping after this step" in (tmp_path / "stderr").read_text()


def wait_for_steps(folder, n, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(runfolder.Run(folder).read(runfolder.METRICS)) >= n:
            return
        time.sleep(0.1)
    raise AssertionError("training did not start")


# --- fuzz -------------------------------------------------------------------------------------

HOSTILE = ["0", "-1", "1", "2", "8", "nan", "inf", "-inf", "1e400", "1e-400", "99999999999999",
           "abc", "", " ", "é", "x" * 500, "1/0", "0/1", "3/2", "-0", "0x10", "1.5", "True",
           "../..", "/dev/null", "\x00"]


def test_fuzzed_flags_exit_0_or_2_with_one_line_never_a_traceback(capsys, tmp_path):
    rng = np.random.default_rng(37)
    model = settings.SHIPPED_GENERATOR
    commands = {
        "toy": (["--steps", "5"], ["--steps", "--seed", "--sigma-z", "--preset"]),
        "toy2d": (["--steps", "5"], ["--steps", "--seed", "--g-units", "--d-layers", "--lr-g",
                                     "--batch", "--cure", "--unroll", "--gp-weight", "--data",
                                     "--noise-dim", "--d-steps", "--points"]),
        "train": ([*TINY, "--steps", "1", "--out", str(tmp_path / "t")],
                  ["--steps", "--epochs", "--batch", "--latent", "--g-lr", "--ema", "--width",
                   "--minutes", "--holdout", "--seed", "--r1", "--r1-every", "--augment",
                   "--log-every", "--quality-every", "--num-processes", "--process-id",
                   "--coordinator", "--data"]),
        "generate": (["--model", str(model), "--n", "2", "--out", str(tmp_path / "g")],
                     ["--n", "--seed", "--shard", "--precision", "--ids", "--cluster",
                      "--workers", "--model"]),
    }
    seen = {0: 0, 2: 0}
    for case in range(90):
        name = list(commands)[case % len(commands)]
        base, flags = commands[name]
        args = [name, *base]
        for flag in rng.choice(flags, rng.integers(1, 3), replace=False):
            args += [flag, str(rng.choice(HOSTILE))]
        code, _, err = cli(capsys, *args)
        assert code in (0, 2), (args, code, err[-500:])
        assert "Traceback" not in err, (args, err[-500:])
        if code == 2:
            assert len(err.strip().splitlines()) == 1, (args, err)
        seen[code] += 1
    assert seen[2] > 30                                  # most hostile values are refused


def test_fuzzed_files_are_read_or_refused_by_name(tmp_path):
    rng = np.random.default_rng(370)
    z = noise.for_seed(1, 100)
    good_png = latent.face_png(np.zeros((8, 8, 3), np.uint8), z, "ns")
    text = json.dumps(z.tolist())
    good_config = (json.dumps({"config": {"batch_size": 8}, "seed": 0}))

    def mutate(s: str) -> str:
        chars = list(s)
        for _ in range(rng.integers(1, 6)):
            i = rng.integers(len(chars) + 1)
            op = rng.integers(3)
            piece = str(rng.choice(["[", "]", ",", "1e400", "NaN", '"', "{", "}", "-", "9" * 50,
                                    "\ud800", "\x00", "[" * 2000]))
            if op == 0:
                chars.insert(i, piece)
            elif op == 1 and chars:
                del chars[min(i, len(chars) - 1)]
            else:
                chars[min(i, len(chars) - 1):min(i, len(chars) - 1) + 1] = [piece]
        return "".join(chars)

    for case in range(150):
        png = images.png_bytes(np.zeros((8, 8, 3), np.uint8),
                               text={latent.PNG_Z: mutate(text).encode("utf-8", "surrogatepass")
                                     .decode("utf-8", "replace")}) if case % 5 else \
            bytes(b ^ (rng.integers(256) if rng.random() < 0.01 else 0) for b in good_png)
        try:
            back, _ = latent.read_face_png(png, "fuzz.png")
            assert np.isfinite(back).all() and np.abs(back).max() <= latent.MAX_EDIT
        except files.DamagedFile as error:
            assert "fuzz.png" in str(error)

        folder = tmp_path / f"run{case}"
        folder.mkdir()
        body = mutate(good_config)
        (folder / "config.json").write_bytes(body.encode("utf-8", "surrogatepass"))
        try:
            runfolder.Run(folder).read_record()
        except files.DamagedFile as error:
            assert "config.json" in str(error)

        ids = folder / "ids.txt"
        ids.write_bytes(bytes(rng.integers(0, 256, rng.integers(1, 400), dtype=np.uint8)))
        try:
            list(bulk.read_ids(ids))
        except ValueError as error:
            assert str(ids) in str(error)


def test_a_refusal_the_explorer_shows_has_its_sentence_in_both_languages():
    from gan_core import i18n
    errors = []
    for call in (lambda: latent.parse_seed("nan"), lambda: latent.decode_edits("-1:1", 100),
                 lambda: latent.decode_edits("7:1", 5, "direction"),
                 lambda: latent.decode_edits("3:99", 100), lambda: latent.decode_edits("x", 9),
                 lambda: latent.read_face_png(b"no", "a.png"),
                 lambda: latent.read_face_png(images.png_bytes(np.zeros((2, 2, 3), np.uint8)))):
        with pytest.raises(ValueError) as caught:
            call()
        errors.append(caught.value)
    for error in errors:
        english = i18n.t(f"error.{error.key}", "en", **error.fmt)
        assert english == str(error)                        # the catalog says what str() says
        assert i18n.t(f"error.{error.key}", "id", **error.fmt) != english
