"""The DCGAN training page through AppTest: its states (idle, running, paused, finished,
error), a new session attaching to a running job, and sessions that cannot control each
other's jobs."""

import json
import time

import pytest
from PIL import Image

from test_pages import open_app

from gan_core import jobs

FIRST = jobs.FIRST_RUN_PRESET      # the form's preset for the built-in faces
TINY = {"train_builtin_n": 256, f"train_batch_{FIRST}": 8, f"train_latent_{FIRST}": 16}


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_STUDIO_DATA_ROOT", str(tmp_path / "data"))
    return tmp_path / "runs"


def page(**query):
    at = open_app("pages/dcgan_training.py", **query)
    assert not at.exception, at.exception
    return at


def start(at, steps):
    for key, value in TINY.items():
        at.number_input(key=key).set_value(value)
    at.number_input(key="train_steps").set_value(steps)
    at.run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at.query_params["job"], at.query_params["owner"]


def live_view(at):
    """What the page hands its live view (a component; it draws these in the browser)."""
    return json.loads(at.get("component_instance")[0].proto.json_args)


def wait_for(at, status, timeout=120):
    deadline = time.time() + timeout
    while live_view(at)["state"]["status"] != status:
        assert time.time() < deadline, live_view(at)["state"]
        time.sleep(0.3)
        at.run()


def test_idle_then_running_paused_finished_and_a_new_session_attaches():
    at = page()
    assert at.button(key="train_start").label == "Start training"          # idle: the form
    job_id, owner = start(at, steps=400)
    wait_for(at, "running")
    at.button(key="train_pause").click().run()
    wait_for(at, "paused")
    other = page(job=job_id, owner=owner)           # a reload: a new session, same link
    line = live_view(other)
    assert line["state"]["id"] == job_id and line["state"]["status"] == "paused"
    assert f"run `{job_id}`" in line["words"]["status"]
    assert line["words"]["names"]["paused"] == "Paused"
    assert line["src"] == f"{job_id}.json"          # the file it polls, beside the component
    assert other.button(key="train_resume")
    other.button(key="train_stop").click().run()
    wait_for(other, "stopped")
    assert other.button(key="train_continue") and other.button(key="train_open_explorer")


def test_someone_elses_job_cannot_be_controlled(monkeypatch):
    at = page()
    job_id, _ = start(at, steps=400)
    stranger = page(job=job_id, owner="someone-else")
    assert stranger.warning and "another session" in stranger.warning[0].value
    assert not [b for b in stranger.button if b.key in ("train_pause", "train_stop")]
    # its list of runs says that the others' runs exist, instead of "no runs"
    assert "Other sessions' runs on this server, not listed here: 1." in " ".join(
        c.value for c in stranger.caption)
    monkeypatch.setenv("GAN_STUDIO_WATCH_OTHERS", "1")        # the teacher allows watching
    watcher = page(job=job_id, owner="someone-else")
    assert "someone else's run" in " ".join(c.value for c in watcher.caption)
    assert not [b for b in watcher.button if b.key in ("train_pause", "train_stop")]
    at.button(key="train_stop").click().run()
    wait_for(at, "stopped")


def test_finished_and_error_states(tmp_path):
    at = page()
    start(at, steps=3)
    wait_for(at, "finished")
    assert at.select_slider(key=at.select_slider[0].key).value == 3     # the timeline
    state = live_view(at)["state"]
    assert state["step"] == state["total"] == 3 and state["g_loss"] is not None
    # The newest grid, published for the page to load, and the hair colours read back from
    # the drawn faces (an untrained G's noise has few of them, so some are listed missing).
    line = live_view(at)
    assert state["grid"]["step"] == 3 and set(state["grid"]["missing"]) <= set(
        line["words"]["hair_names"])
    assert line["words"]["hair"].startswith("Hair colours in these 64")
    # The curves so far, one trace per TRAINING_TRACES key (quality every 100 steps: none yet).
    assert [len(trace["x"]) for trace in line["figure"]["data"]] == [3, 3, 3, 3] + [0] * 6
    assert line["traces"] == ["g_loss", "d_loss", "d_real", "d_fake", "swd", "real_swd",
                              "precision", "recall", "precision_real", "recall_real"]
    at.button(key="train_new_run").click().run()
    at.radio(key="train_data_kind").set_value("folder").run()
    assert "No folders" in at.info[0].value                  # an empty data root says so
    (tmp_path / "data" / "empty").mkdir(parents=True)
    at.run()
    assert "has no files" in at.error[0].value                  # refused before it starts
    assert at.button(key="train_start").disabled
    one = tmp_path / "data" / "one"                            # one image: fewer than a batch
    one.mkdir()
    Image.new("RGB", (64, 64), "red").save(one / "face.png")
    at.run()
    at.selectbox(key="train_folder").set_value("one").run()
    # refused on the form, in the page's words, before a job exists (submit and the worker
    # check it too): Start stays off
    assert at.button(key="train_start").disabled
    assert "job" not in at.query_params
    assert "batch size" in at.error[0].value and not at.exception
    assert "--batch" not in at.error[0].value
    at.session_state["lang"] = "id"                          # and in the page's language
    at.run()
    assert "ukuran batch" in at.error[0].value and "batch size" not in at.error[0].value


def test_the_list_of_runs_opens_a_run():
    at = page()
    job_id, _ = start(at, steps=3)
    wait_for(at, "finished")
    at.button(key="train_new_run").click().run()
    assert "job" not in at.query_params and at.button(key="train_start")
    at.button(key=f"watch_{job_id}").click().run()
    assert at.query_params["job"] == job_id and live_view(at)["state"]["id"] == job_id


def test_an_unreachable_cluster_is_one_plain_message(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CLUSTER", "tcp://127.0.0.1:9")
    at = page()
    assert len(at.error) == 1 and "cannot reach the Dask scheduler" in at.error[0].value
    assert "GAN_STUDIO_CLUSTER" in at.error[0].value
