"""Server-side training jobs: the queue, owners, attaching from a new session (or a new
server), and the data choices a page may make."""

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core import faces, images, jobs, presets
from gan_core import events as ev

TINY = dict(batch_size=8, latent_dim=16, width=0.125)
ROOT = Path(__file__).resolve().parent.parent


def spec(steps=4, **kw):
    return jobs.JobSpec(data="builtin:64", config=presets.preset("dcgan", **TINY), steps=steps, sample_every=2,
                        checkpoint_every=2, **kw)


def wait(job, statuses=("finished", "stopped", "error", "diverged"), timeout=300):
    deadline = time.time() + timeout
    while job.status not in statuses:
        assert time.time() < deadline, f"job stuck in {job.status}"
        time.sleep(0.05)


def strict_json(path):
    """A file as a browser's JSON.parse reads it: NaN or Infinity is an error there."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def manager(tmp_path):
    (tmp_path / "data" / "faces").mkdir(parents=True)
    manager = jobs.JobManager(tmp_path / "runs", tmp_path / "data")
    yield manager
    manager.shutdown()
    assert not any(worker.is_alive() for worker in manager._workers)


def test_a_job_runs_in_the_server_and_a_new_session_or_server_sees_its_history(manager,
                                                                               tmp_path):
    job = manager.submit("alice", spec())
    wait(job)
    snap = manager.get(job.id).snapshot()          # another session attaches by id
    assert snap["status"] == "finished" and snap["step"] == 4
    assert [m["step"] for m in snap["metrics"]] == [1, 2, 3, 4]
    assert [s for s, _ in snap["samples"]] == [0, 2, 4]
    assert snap["latest"]["images"].shape == (64, 64, 64, 3)
    assert job.generator_path and job.checkpoints()
    manager.shutdown()
    live = manager.live_dir / f"{job.id}.json"
    grid = strict_json(live)["grid"]
    assert grid["step"] == 4
    live.write_text("{\"status\": \"running\", \"gr")   # a server killed mid-write: the
    # live file is only ever written, never read back; the job record names the grid
    restarted = jobs.JobManager(tmp_path / "runs", tmp_path / "data")   # the server restarts
    again = restarted.get(job.id).snapshot()
    assert again["status"] == "finished" and len(again["metrics"]) == 4
    assert len(again["samples"]) == 3 and restarted.get(job.id).owner == "alice"
    assert strict_json(live)["status"] == "finished"          # pollers see it end
    assert strict_json(live)["grid"] == grid                  # and still see its last grid
    restarted.shutdown()


def test_one_job_at_a_time_the_rest_queue_and_only_owners_control(manager):
    first = manager.submit("alice", spec(steps=400))
    second = manager.submit("bob", spec())
    wait(first, ("running",))
    assert manager.position(second) == 1 and second.status == "queued"
    with pytest.raises(PermissionError):
        manager.act(first.id, "bob", "stop")
    manager.act(first.id, "alice", "pause")
    wait(first, ("paused",))
    manager.act(first.id, "alice", "resume")
    wait(first, ("running",))
    manager.act(first.id, "alice", "stop")
    wait(first)
    assert first.status == "stopped" and first.step < 400
    wait(second)
    assert second.status == "finished" and manager.position(second) is None


def test_every_change_is_published_for_pages_that_poll(manager):
    first = manager.submit("alice", spec(steps=400))
    wait(first, ("running",))
    second = manager.submit("bob", spec())
    published = lambda job: strict_json(manager.live_dir / f"{job.id}.json")  # noqa: E731
    assert published(second)["status"] == "queued" and published(second)["place"] == 1
    deadline = time.time() + 300
    while published(first)["step"] < 2:             # steps appear as the trainer logs them
        assert time.time() < deadline, published(first)
        time.sleep(0.05)
    running = published(first)
    assert running["status"] == "running" and running["total"] == 400
    assert running["img_per_s"] > 0 and running["eta_s"] > 0 and 0 < running["d_real"] < 1
    manager.act(first.id, "alice", "stop")
    wait(first)
    wait(second)
    deadline = time.time() + 30                      # published just after the job's end
    while published(second)["status"] != "finished":
        assert time.time() < deadline, published(second)
        time.sleep(0.05)
    assert published(first)["status"] == "stopped"
    done = published(second)
    assert done["status"] == "finished" and done["step"] == done["total"] == 4
    assert done["place"] is None and done["eta_s"] is None
    # The end publishes the last grid, however soon after the one before.
    assert done["grid"]["step"] == 4 and (manager.live_dir / f"{second.id}.png").exists()


def test_a_diverged_loss_is_published_as_null(tmp_path):
    job = jobs.Job("j", "alice", spec(), tmp_path)
    job.record(ev.Metrics(1, 0, g_loss=float("nan"), d_loss=0.7, d_real=0.5, d_fake=0.5,
                          img_per_s=9.0))
    job.record(ev.Quality(1, 0, values={"swd": 41.5, "real_swd": float("nan"), "ms_ssim": 0.2,
                                        "real_ms_ssim": 0.1}))
    state = job.live()
    assert state["g_loss"] is None and state["d_loss"] == 0.7
    assert state["quality"] == {"step": 1, "swd": 41.5, "real_swd": None, "ms_ssim": 0.2,
                                "real_ms_ssim": 0.1}
    json.dumps(state, allow_nan=False)


def test_the_newest_grid_is_labelled_with_scores_and_published_every_few_seconds(tmp_path):
    job = jobs.Job("j", "alice", spec(), tmp_path)
    now = [100.0]
    job.clock = lambda: now[0]
    drawn = faces.sample(64, 0)[0]
    samples = lambda step, imgs: job.record(ev.Samples(  # noqa: E731
        step, 0, path="", images=imgs, scores=np.full(64, 0.25)))
    assert job.grid_png() is None and job.live()["grid"] is None       # nothing drawn yet
    samples(2, drawn)
    png = job.grid_png()
    labelled = images.labelled_grid(drawn, ["0.25"] * 64, 8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), labelled)
    hair = set(faces.FACTORS["hair_colour"])
    assert job.live()["grid"]["step"] == 2 and set(job.live()["grid"]["missing"]) < hair
    many, labels = faces.sample(2000, 0)
    first = faces.FACTORS["hair_colour"][0]
    samples(4, many[labels["hair_colour"] == 0][:64])            # one colour only
    now[0] += jobs.GRID_EVERY_S / 2
    assert job.grid_png() is None and job.live()["grid"]["step"] == 2    # too soon
    assert job.grid_png(force=True) is not None
    assert job.live()["grid"] == {"step": 4, "missing": [c for c in faces.FACTORS["hair_colour"]
                                                         if c != first]}
    assert job.grid_png(force=True) is None                      # nothing new to publish


def test_a_queued_job_can_be_stopped_before_it_starts(manager):
    first = manager.submit("alice", spec(steps=400))
    second = manager.submit("alice", spec())
    manager.act(second.id, "alice", "stop")
    assert second.status == "stopped" and manager.position(second) is None
    manager.act(first.id, "alice", "stop")
    wait(first)
    assert second.step == 0 and not second.metrics


def test_resume_continues_a_stopped_run(manager):
    job = manager.submit("alice", spec(steps=400))
    deadline = time.time() + 300
    while job.step < 3:
        assert time.time() < deadline and job.status in jobs.ACTIVE, job.status
        time.sleep(0.05)
    manager.act(job.id, "alice", "stop")
    wait(job)
    stopped_at = job.step
    with pytest.raises(PermissionError):
        manager.submit("bob", spec(steps=stopped_at + 2), resume_id=job.id)
    again = manager.submit("alice", spec(steps=stopped_at + 2), resume_id=job.id)
    wait(again)
    assert again.id == job.id and again.status == "finished"
    assert [m["step"] for m in again.metrics] == list(range(1, stopped_at + 3))


def test_bad_data_is_an_error_in_the_job_not_the_server(manager, tmp_path):
    job = manager.submit("alice", jobs.JobSpec(data=str(tmp_path / "data" / "faces"),
                                               config=presets.preset("dcgan", **TINY),
                                               steps=2))
    wait(job)
    assert job.status == "error" and "has no files" in job.message
    assert manager.submit("alice", spec()).id        # the worker still takes jobs


def test_data_choices_stay_inside_the_data_root(manager, tmp_path):
    assert manager.sources.folders() == ["faces"]
    assert manager.sources.resolve(str(tmp_path / "data" / "faces")).endswith("faces")
    for outside in ("/etc", str(tmp_path / "data" / ".." / "runs"), "../../etc/passwd"):
        with pytest.raises(ValueError):
            manager.sources.resolve(outside)
    with pytest.raises(ValueError, match="steps must be between 1 and"):
        manager.submit("alice", jobs.JobSpec(steps=0))


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in entries:
            zf.writestr(name, b"x")
    return buffer.getvalue()


def test_uploads_have_limits_and_refuse_zip_slip(manager):
    ok = manager.sources.store_zip("faces.zip", zip_bytes(["a.png", "b.png"]), 2**20, 10)
    assert manager.sources.resolve(ok) == ok
    with pytest.raises(ValueError, match="escape"):
        manager.sources.store_zip("evil.zip", zip_bytes(["../evil.png"]), 2**20, 10)
    with pytest.raises(ValueError, match="limit is 1"):
        manager.sources.store_zip("many.zip", zip_bytes(["a.png", "b.png"]), 2**20, 1)
    with pytest.raises(ValueError, match="MB"):
        manager.sources.store_zip("big.zip", zip_bytes(["a.png"]), 10, 10)
    with pytest.raises(ValueError, match="not a zip"):
        manager.sources.store_zip("junk.zip", b"junk", 2**20, 10)
    assert len(list((manager.runs / "uploads").iterdir())) == 1     # refused ones are gone


def test_the_live_views_javascript_reads_only_keys_that_the_live_state_has(manager):
    """assets/train_live reads `state.KEY` and `state.quality.KEY` / `state.grid.KEY`; each
    must be a field that jobs.LiveState documents and a real job's published state holds."""
    import dataclasses
    import re

    script = (ROOT / "assets" / "train_live" / "index.html").read_text()
    read = set(re.findall(r"\bstate\.(\w+)(?:\.(\w+))?", script))
    assert len(read) > 15
    job = manager.submit("alice", spec(quality_every=2))
    wait(job)
    published = strict_json(manager.live_dir / f"{job.id}.json")
    fields = {f.name for f in dataclasses.fields(jobs.LiveState)}
    assert set(published) == fields
    for key, sub in read:
        assert key in fields, f"the live view reads state.{key}, which LiveState lacks"
        if sub and isinstance(published[key], dict):     # not a number's own method
            assert sub in published[key], f"the live view reads state.{key}.{sub}"
    assert {sub for key, sub in read if key == "quality"} >= {"swd", "real_swd"}
