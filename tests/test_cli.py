"""The command line, as a user runs it: train, resume after SIGKILL, generate, evaluate,
bad input; and the JAX backend."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, backend="tensorflow", **kwargs):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gan_core", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT, **kwargs)


def clis(*commands, backend="tensorflow"):
    """Several commands, one after another, in one process of `backend` (one import of it
    instead of one a command): each command's exit code, in order."""
    code = ("import json, sys\nfrom gan_core import __main__ as cli, system\n"
            "system.one_framework()\n"           # as the CLI's own process does
            f"print(json.dumps([cli.main(c) for c in {[list(map(str, c)) for c in commands]!r}]))")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def cli_here(*args) -> int:
    """The same command in this process (its exit code): the CLI's code without another
    TensorFlow import, for the checks that need no process of their own."""
    from gan_core import __main__ as cli_main

    try:
        return cli_main.main(list(map(str, args)))
    except SystemExit as exit:             # argparse's refusals
        return exit.code


TINY = ["--data", "builtin:64", "--batch", "8", "--latent", "16", "--width", "0.125",
        "--log-every", "1"]      # an eighth of the channels: the CLI, not the networks, is tested


def cli_json(*args) -> dict:
    """cli_here, and the JSON line the command printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli_here(*args, "--json") == 0
    return json.loads(printed.getvalue().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, cli_json("train", *TINY, "--steps", "3", "--out", out, "--checkpoint-every", "2")


def test_train_writes_the_run(trained):
    out, summary = trained
    assert summary["status"] == "finished" and summary["step"] == 3
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"step", "g_loss", "d_loss", "d_real", "d_fake", "img_per_s"}
    assert (out / "generator.keras").exists()


@pytest.mark.slow
def test_generate_pngs_zip_npy_and_ids(trained, tmp_path):
    model = trained[0] / "generator.keras"
    assert cli_here("generate", "--model", model, "--n", 5, "--out", tmp_path / "pngs") == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 5
    assert cli_here("generate", "--model", model, "--n", 4, "--out", tmp_path / "a.zip") == 0
    assert len(zipfile.ZipFile(tmp_path / "a.zip").namelist()) == 4
    assert cli_here("generate", "--model", model, "--n", 6, "--seed", 1,
                    "--out", tmp_path / "a.npy") == 0
    arr = np.load(tmp_path / "a.npy")
    assert arr.shape == (6, 64, 64, 3) and arr.dtype == np.uint8
    # face i of --seed 1 is the explorer's seed 1 + i (documented in gan_core.noise)
    from gan_core import generate, noise
    gen = generate.Generator.load(model)
    explorer = gen(np.stack([noise.for_seed(1, gen.latent_dim), noise.for_seed(4, gen.latent_dim)]))
    np.testing.assert_allclose(arr[[0, 3]], explorer, atol=2)
    (tmp_path / "ids.txt").write_text("alice\nbob\nbob/evil\n")
    result = cli("generate", "--model", model, "--ids", tmp_path / "ids.txt",
                 "--out", tmp_path / "one")                    # a process of its own ...
    assert result.returncode == 0, result.stderr
    assert cli_here("generate", "--model", model, "--ids", tmp_path / "ids.txt",
                    "--out", tmp_path / "two") == 0            # ... and this one
    names = sorted(p.name for p in (tmp_path / "one").glob("*.png"))
    assert names[:2] == ["alice.png", "bob.png"] and names[2].startswith("bob_evil-")
    for name in names:     # the same id gives the same picture, run after run
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "one" / "alice.png").read_bytes() != \
        (tmp_path / "one" / "bob.png").read_bytes()


def test_evaluate(trained, capsys):
    assert cli_here("evaluate", "--model", trained[0] / "generator.keras", "--data",
                    "builtin:64", "--n", 16, "--json") == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 16 and out["swd"] > out["real_swd"] and "ms_ssim" in out
    assert sum(out["hair_colours"].values()) == pytest.approx(1.0)   # on the drawn faces
    assert set(out["hair_colours_missing"]) <= set(out["hair_colours"])
    for key in ("precision", "recall", "density", "coverage", "kid"):   # VGG16 features
        assert 0 <= out[f"{key}_real"] <= 1 or key in ("density", "kid"), (key, out)
        assert np.isfinite(out[key]) and np.isfinite(out[f"{key}_real"])
    assert out["recall"] < out["recall_real"]          # a barely trained G is worse than real


def test_a_time_budget_stops_the_run_cleanly(tmp_path):
    # 100,000 steps would take hours; --minutes stops it as a user's stop would.
    summary = cli_json("train", *TINY, "--steps", "100000", "--minutes", "0.01", "--out",
                       tmp_path)
    assert summary["status"] == "stopped" and summary["step"] < 100000
    assert (tmp_path / "generator.keras").exists()
    assert (tmp_path / "checkpoints" / f"ckpt-{summary['step']:08d}.npz").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "/no/such/folder", "--steps", "1", "--out", "x"], "no such folder"),
    (["train", "--data", "builtin:64", "--out", "x"], "exactly one of --steps and --epochs"),
    (["train", *TINY, "--steps", "5", "--minutes", "0", "--out", "x"], "--minutes must be"),
    (["train", *TINY, "--steps", "1", "--batch", "500", "--out", "x"], "fewer than the batch"),
    (["generate", "--model", "/no/model.keras", "--out", "x"], "no such model file"),
    (["generate", "--model", "/no/model.keras", "--out", "x", "--threads", "0"],
     "--threads must be between 1 and 256"),
    (["serve", "--threads", "0"], "--threads must be between 1 and 256"),
])
def test_bad_input_exits_2_with_the_reason(args, message, capsys):
    assert cli_here(*args) == 2
    said = capsys.readouterr().err
    assert message in said and "Traceback" not in said


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gan_core", "train", *TINY, "--steps", "400",
                             "--checkpoint-every", "2", "--out", str(tmp_path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((tmp_path / "checkpoints").glob("ckpt-*.npz")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted((tmp_path / "checkpoints").glob("ckpt-*.npz"))
    assert saved, "no checkpoint before the kill"
    step = int(saved[-1].stem.split("-")[1])
    assert step < 400
    result = cli("train", *TINY, "--steps", str(step + 2), "--out", tmp_path, "--resume",
                 "--json")
    assert result.returncode == 0, result.stderr
    assert f"step {step}" in result.stderr
    assert json.loads(result.stdout)["step"] == step + 2
    logged = [json.loads(line)["step"]
              for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(1, step + 3))      # no step twice, none missing


@pytest.mark.slow
def test_jax_backend_trains_generates_and_loads_tensorflow_models(trained, tmp_path):
    pytest.importorskip("jax", reason="JAX is not installed (requirements-dev.txt has it)")
    from gan_core import runfolder
    from test_train import assert_generator_average

    run = tmp_path / "run"
    commands = [("train", *TINY, "--steps", "2", "--out", run, "--ema", "0.5",
                 "--checkpoint-every", "1")]
    for i, model in enumerate((run / "generator.keras", trained[0] / "generator.keras")):
        commands.append(("generate", "--model", model, "--n", 3, "--out", tmp_path / f"{i}.npy"))
    codes, err = clis(*commands, backend="jax")
    assert codes == [0, 0, 0], err[-3000:]
    assert [row["step"] for row in runfolder.Run(run).read(runfolder.METRICS)] == [1, 2]
    assert_generator_average(run, 0.5)
    for i in range(2):     # its own model and one TensorFlow trained
        assert np.load(tmp_path / f"{i}.npy").shape == (3, 64, 64, 3)


@pytest.mark.slow
def test_generate_in_bfloat16_is_close_to_float32(trained, tmp_path, capsys):
    model = trained[0] / "generator.keras"
    codes, err = clis(*[("generate", "--model", model, "--n", 8, "--precision", precision,
                         "--out", tmp_path / f"{precision}.npy")
                        for precision in ("float32", "bfloat16")])
    assert codes == [0, 0], err[-3000:]
    exact, fast = (np.load(tmp_path / f"{p}.npy").astype(int) for p in ("float32", "bfloat16"))
    difference = np.abs(exact - fast)
    assert 0 < difference.mean() < 1.0 and difference.max() <= 8    # of 255 levels: close, yet
    # not the same computation
    assert cli_here("generate", "--model", model, "--precision", "float8",
                    "--out", tmp_path / "x") == 2
    assert "float8" in capsys.readouterr().err


def test_the_cli_offers_every_preset_and_checks_flags_without_loading_keras():
    code = ("import contextlib, io, sys\n"
            "from gan_core import __main__ as cli, presets\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
            "    cli.main(['train', '--help'])\n"
            "assert all(name in out.getvalue() for name in presets.PRESETS), out.getvalue()\n"
            "err = io.StringIO()\n"
            "with contextlib.redirect_stderr(err):\n"
            "    code = cli.main(['train', '--data', 'builtin:64', '--out', 'x', '--steps', '5',\n"
            "                     '--batch', '5000'])\n"
            "assert code == 2 and 'batch must be between 1 and 1,024' in err.getvalue(), err.getvalue()\n"
            "assert 'keras' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parent.parent, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_cli_process_imports_only_its_own_framework(monkeypatch, tmp_path):
    """The CLI and the app hide the framework of the other backend before Keras loads (each
    would import the other unasked), the backend read as Keras reads it."""
    from gan_core import system

    def forget(*names):                  # as if not imported yet; put back after the test
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)
            del sys.modules[name]

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for backend, hidden in (("jax", "tensorflow"), ("tensorflow", "jax"), ("", "jax")):
        monkeypatch.setenv("KERAS_BACKEND", backend)
        forget("jax", "tensorflow")
        system.one_framework()
        with pytest.raises(ImportError):
            __import__(hidden)
        assert system.OTHER_FRAMEWORK[hidden] not in sys.modules     # its own left to import
    monkeypatch.delenv("KERAS_BACKEND")
    forget("jax", "tensorflow")
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')      # as Keras reads it
    system.one_framework()
    assert sys.modules["tensorflow"] is None and "jax" not in sys.modules
    forget("jax", "tensorflow")
    (tmp_path / "keras.json").write_text('{"backend": ')               # unreadable: nothing
    system.one_framework()
    assert "jax" not in sys.modules and "tensorflow" not in sys.modules
