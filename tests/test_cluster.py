"""Bulk avatars on a Dask cluster (`generate --ids --cluster`): the same bytes as the plain
command, a killed worker loses and doubles nothing, a killed driver's re-run skips what is
written, and bad set-ups get one clear line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gan_core import bulk, files, settings

distributed = pytest.importorskip("distributed", reason="the README's test command installs "
                                                        "Dask; this environment lacks it")
from gan_core import cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = settings.SHIPPED_GENERATOR
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with cluster.connect("local", workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def ids(tmp_path_factory):
    path = tmp_path_factory.mktemp("ids") / "players.txt"
    path.write_text("\n".join([f"player-{i}" for i in range(150)] + ["a/b", "ünï", "  "]),
                    encoding="utf-8")
    return path


def tree(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir()}


def test_the_cluster_writes_what_the_plain_command_writes(client, ids, tmp_path):
    for name in ("pngs", "avatars.zip", "avatars.npy"):
        plain = bulk.Job.plan(MODEL, tmp_path / "plain" / name, chunk=16)
        spread = bulk.Job.plan(MODEL, tmp_path / "cluster" / name, chunk=16)
        assert bulk.run(plain, ids)["n"] == 152
        assert cluster.make_avatars(client, spread, ids)["n"] == 152
    assert tree(tmp_path / "plain" / "pngs") == tree(tmp_path / "cluster" / "pngs")
    assert len(list((tmp_path / "plain" / "pngs").glob("*.png"))) == 152
    for name in ("avatars.zip", "avatars.npy"):        # byte for byte, entry names and order too
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "cluster" / name).read_bytes()
    names = zipfile.ZipFile(tmp_path / "plain" / "avatars.zip").namelist()
    assert names[:2] == ["player-0.png", "player-1.png"] and names[150].startswith("a_b-")
    pixels = np.load(tmp_path / "plain" / "avatars.npy")
    assert pixels.shape == (152, 64, 64, 3)
    # the workers imported TensorFlow and, as the CLI's process, not JAX
    assert set(client.run(lambda: (sys.modules.get("jax", 0), "tensorflow" in sys.modules))
               .values()) == {(None, True)}


def test_the_plain_command_on_one_thread_writes_the_workers_bytes(client, tmp_path):
    # Ids among which, on a 2-core AVX2 CPU, three avatars differ by a pixel between one
    # thread and two (docs/PERFORMANCE.md); on one thread each, as the workers, none may.
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(f"q{i}" for i in range(1400, 1500)))
    done = subprocess.run([sys.executable, "-m", "gan_core", "generate", "--model", MODEL,
                           "--ids", path, "--out", tmp_path / "plain", "--threads", "1"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    cluster.make_avatars(client, bulk.Job.plan(MODEL, tmp_path / "cluster"), path)
    assert len(list((tmp_path / "plain").glob("q*.png"))) == 100
    assert tree(tmp_path / "plain") == tree(tmp_path / "cluster")


def test_a_killed_worker_loses_nothing_and_writes_nothing_twice(client, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(f"p{i}" for i in range(2000)))
    plain = bulk.Job.plan(MODEL, tmp_path / "plain", chunk=64)
    bulk.run(plain, path)
    spread = bulk.Job.plan(MODEL, tmp_path / "spread", chunk=64)
    pids = list(client.run(os.getpid).values())
    killed = []

    def kill_one_worker_mid_job():
        while len(list((tmp_path / "spread").glob("*.png"))) < 200:
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    killer = threading.Thread(target=kill_one_worker_mid_job)
    killer.start()
    done = cluster.make_avatars(client, spread, path)
    killer.join()
    assert killed and done["n"] == 2000
    assert tree(tmp_path / "spread") == tree(tmp_path / "plain")     # none missing, none extra
    assert not [p for p in (tmp_path / "spread").iterdir() if ".tmp" in p.name]
    client.wait_for_workers(2, timeout=60)       # the nanny brought the worker back


def test_a_writer_killed_mid_job_leaves_no_temporary_behind(tmp_path):
    """The race the test above can lose: a worker killed inside atomic_path leaves its
    temporary after the job opened the folder. Here the killed writer is a forked child."""
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(f"p{i}" for i in range(40)))
    job = bulk.Job.plan(MODEL, tmp_path / "out", chunk=16)

    def killed_writer_then_the_rest(job, chunks):
        child = os.fork()
        if child == 0:                        # a writer that dies before its rename
            with files.atomic_path(Path(job.out) / "p0.png") as tmp:
                Path(tmp).write_bytes(b"half")
                os._exit(1)
        os.waitpid(child, 0)
        assert [p.name for p in Path(job.out).glob(".*.tmp*")]      # it did leave one
        return (bulk.make_chunk(job, c) for c in chunks)

    assert bulk.run(job, path, make_all=killed_writer_then_the_rest)["n"] == 40
    assert not [p.name for p in (tmp_path / "out").iterdir() if ".tmp" in p.name]
    assert len(list((tmp_path / "out").glob("*.png"))) == 40


def test_a_rerun_after_a_killed_driver_skips_what_is_written(client, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(f"q{i}" for i in range(1000)))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-m", "gan_core", "generate", "--model", MODEL,
                               "--ids", path, "--out", out, "--cluster", "local",
                               "--workers", "1"], env=env, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while len(list(out.glob("*.png"))) < 100 and time.time() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)     # the driver and its workers, mid-job
        driver.wait()
    # not the temporaries a killed worker left (pathlib's glob matches ".x.tmp.png" too)
    written = len([p for p in out.glob("*.png") if not p.name.startswith(".")])
    assert 100 <= written < 1000
    done = cluster.make_avatars(client, bulk.Job.plan(MODEL, out), path)
    assert done["skipped"] >= written and done["n"] + done["skipped"] == 1000
    # Against a run the driver's death never touched, on workers like its own (one thread
    # each): the generator's last layer sums in another order on another thread count, which
    # moves a rare pixel by one level (README, "When one machine is not enough").
    cluster.make_avatars(client, bulk.Job.plan(MODEL, tmp_path / "whole"), path)
    assert tree(out) == tree(tmp_path / "whole")   # whole, stale temporaries removed


def test_bad_set_ups_get_one_clear_line(client, ids, tmp_path):
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with cluster.connect("tcp://127.0.0.1:9"):
            pass
    copy = tmp_path / "g.keras"
    shutil.copy(MODEL, copy)
    job = bulk.Job.plan(copy, tmp_path / "out")
    copy.unlink()                                  # the driver planned it; workers lack it
    with pytest.raises(FileNotFoundError, match="has no model file .*g.keras"):
        cluster.make_avatars(client, job, ids)
    copy.write_bytes(b"not the same model")
    with pytest.raises(ValueError, match="another file than the driver's"):
        cluster.make_avatars(client, job, ids)
    other = bulk.Job.plan(MODEL, tmp_path / "out")
    (tmp_path / "out" / bulk.MANIFEST).write_text('{"namespace": "gan-studio/v1/0000"}')
    with pytest.raises(ValueError, match="avatars of another generator"):
        bulk.run(other, ids)


# --- a classroom's training jobs on the cluster's workers -------------------------------------

def spec(steps, seed=0, every=10):
    from gan_core import jobs, presets
    return jobs.JobSpec(data="builtin:64", seed=seed, steps=steps,
                        config=presets.preset("dcgan", batch_size=8, latent_dim=8, width=0.125),
                        sample_every=every,
                        checkpoint_every=every)


def wait(predicate, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def manager(client, tmp_path):
    from gan_core import jobs
    (tmp_path / "data").mkdir()
    manager = jobs.JobManager(tmp_path / "runs", tmp_path / "data",
                              cluster=client.scheduler.address)
    yield manager
    manager.shutdown()


def test_two_jobs_train_at_once_on_two_workers_each_with_its_own_results(manager):
    a = manager.submit("ann", spec(40, seed=1))
    b = manager.submit("ben", spec(40, seed=2))
    both = []
    wait(lambda: both.append(a.status == b.status == "running" and a.step > 0 and b.step > 0)
         or both[-1] or a.status == "finished")
    wait(lambda: a.status not in ("queued", "running") and b.status not in ("queued", "running"))
    assert any(both), "the two jobs never trained at the same time"
    for job in (a, b):
        assert job.status == "finished", job.message
        assert [m["step"] for m in job.metrics] == list(range(1, 41))   # the live curves came
        assert job.generator_path and job.generator_path.parent == job.folder.path
        assert manager.live(job)["status"] == "finished" and job.latest is not None
    assert a.metrics[-1]["g_loss"] != b.metrics[-1]["g_loss"]          # their own runs


def test_a_dead_worker_interrupts_its_run_which_resumes(manager, client):
    job = manager.submit("ann", spec(100_000, every=5))
    wait(lambda: job.step >= 12)
    pids = client.run(os.getpid)
    worker = next(w for w, keys in client.processing().items()
                  if any("gan-studio-train" in str(k) for k in keys))
    os.kill(pids[worker], signal.SIGKILL)
    wait(lambda: job.status not in ("queued", "running"), timeout=60)
    assert job.status == "interrupted" and "resume it" in job.message
    live = manager.live_dir / f"{job.id}.json"                  # what the page reads
    wait(lambda: json.loads(live.read_text())["status"] == "interrupted", timeout=10)
    assert job.checkpoints()                               # never marked finished, resumable
    time.sleep(2)
    assert job.status == "interrupted"                     # and not started again from step 0
    client.wait_for_workers(2, timeout=60)
    again = manager.submit("ann", spec(job.step + 5, every=5), resume_id=job.id)
    wait(lambda: again.status not in ("queued", "running"))
    assert again.status == "finished", again.message


def test_pause_resume_and_stop_reach_the_worker(manager):
    job = manager.submit("ann", spec(100_000, every=5))
    wait(lambda: job.step >= 3)
    manager.act(job.id, "ann", "pause")
    wait(lambda: job.status == "paused", timeout=30)
    held = job.step
    time.sleep(2)
    assert job.step <= held + 1                             # the worker really waits
    manager.act(job.id, "ann", "resume")
    wait(lambda: job.status == "running" and job.step > held + 2, timeout=60)
    manager.act(job.id, "ann", "stop")
    wait(lambda: job.status not in ("running", "paused"), timeout=60)
    assert job.status == "stopped" and job.checkpoints() and job.generator_path
    assert job.checkpoints()[-1].name == f"ckpt-{job.step:08d}.npz"   # saved where it stopped
