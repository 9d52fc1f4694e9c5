"""Training across devices and processes on JAX (Keras' distribution API; its multi-process
runtime): one process with two CPU devices takes the steps of one device, two processes take
the steps of that one process, resume included, and process 0 alone writes the run."""

import functools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_core import multihost

ROOT = Path(__file__).resolve().parents[1]
RUN = ["train", "--data", "builtin:64", "--preset", "dcgan", "--batch", "8", "--latent", "16",
       "--width", "0.125", "--ema", "0.9", "--seed", "3", "--sample-every", "100", "--checkpoint-every", "100",
       "--json"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(*args, devices=1, **extra_env):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT),
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **extra_env}
    return subprocess.Popen([sys.executable, "-m", "gan_core", *map(str, args)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def two_processes(*args):
    port = free_port()
    procs = [launch(*args, "--coordinator", f"127.0.0.1:{port}", "--num-processes", 2,
                    "--process-id", i) for i in (0, 1)]
    return [finish(p) for p in procs]


def faces(model):
    from gan_core import generate, noise
    G = generate.load_generator(model)
    return np.asarray(G(noise.for_seeds(0, 8, 16), training=False))


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    """One process with two devices, 5 steps: started at once, its summary and folder asked
    for when needed (both tests compare with it, and it trains while they start theirs)."""
    pytest.importorskip("jax", reason="requirements-dev.txt installs JAX")
    out = tmp_path_factory.mktemp("two-devices")
    proc = launch(*RUN, "--steps", 5, "--out", out, devices=2)
    yield functools.cache(lambda: (finish(proc), out))
    proc.kill()
    proc.communicate()


def metrics(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_devices_take_the_steps_of_one(two_devices, tmp_path):
    """The batch split between two devices, their gradients summed: the step means the same
    as on one device (the sums run in another order: close, not equal)."""
    one = finish(launch(*RUN, "--steps", 5, "--out", tmp_path, devices=1))
    two, folder = two_devices()
    assert (one["devices"], two["devices"]) == (1, 2)
    # Step 1's losses come from the forward pass alone, where a per-device BatchNorm would
    # already show; later steps add the update's summation order, which drifts a little more.
    for k, (a, b) in enumerate(zip(metrics(tmp_path), metrics(folder), strict=True)):
        for key in ("g_loss", "d_loss", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=1e-3 if k == 0 else 1e-2, abs=1e-4), \
                (k, key)


@pytest.mark.slow
def test_two_processes_train_as_one_process_with_two_devices(two_devices, tmp_path):
    first = two_processes(*RUN, "--steps", 3, "--out", tmp_path / "two")
    assert first[0]["step"] == first[1]["step"] == 3
    assert first[0]["generator"] and first[1]["generator"] is None   # process 0 writes
    resumed = two_processes(*RUN, "--steps", 5, "--out", tmp_path / "two", "--resume")
    single, one_folder = two_devices()
    assert resumed[0]["step"] == single["step"] == 5
    for key in ("g_loss", "d_loss", "d_real", "d_fake"):
        assert resumed[0][key] == pytest.approx(single[key], rel=1e-3, abs=1e-4), key
        assert resumed[1][key] == resumed[0][key]             # every process saw the same step
    assert [row["step"] for row in metrics(tmp_path / "two")] == [1, 2, 3, 4, 5]   # once
    np.testing.assert_allclose(faces(tmp_path / "two" / "generator.keras"),
                               faces(one_folder / "generator.keras"), atol=1e-4)


def test_bad_set_ups_get_one_clear_line(monkeypatch):
    for var in (v for names in multihost.ENV.values() for v in names):
        monkeypatch.delenv(var, raising=False)
    assert not multihost.Processes.from_flags().many
    with pytest.raises(ValueError, match="need --coordinator"):
        multihost.Processes.from_flags(num_processes=2, process_id=0)
    with pytest.raises(ValueError, match="--process-id must be between 0 and 1"):
        multihost.Processes.from_flags("h:1", 2, 2)
    with pytest.raises(ValueError, match="HOST:PORT"):
        multihost.Processes.from_flags("nohost", 2, 0)
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:5")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
    procs = multihost.Processes.from_flags()                 # the environment, when no flags
    assert (procs.coordinator, procs.num_processes, procs.process_id) == ("127.0.0.1:5", 4, 3)
    assert not procs.writes
    with pytest.raises(ValueError, match="does not divide the batch 6|JAX backend"):
        procs.check(6)
