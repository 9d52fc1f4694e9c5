"""The training loop: its events, files, resume, pause/stop, divergence and precision."""

import json
import threading

import keras
import numpy as np
import pytest

from gan_core import data, dcgan, generate, presets, runfolder, steps, train

TINY = dict(batch_size=8, latent_dim=16, width=0.125)


@pytest.fixture(scope="module")
def faces():
    return data.load("builtin:96", seed=1)


def run(trainer):
    return list(trainer.run())


def test_events_and_run_folder(faces, tmp_path):
    config = presets.preset("dcgan", **TINY)
    events = run(train.Trainer(config, faces, tmp_path, steps=4, checkpoint_every=2,
                               sample_every=2, seed=3))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("end") == 1
    assert events[-1].status == "finished" and events[-1].step == 4
    assert kinds[1] == "samples" and events[1].step == 0       # the untrained generator
    metrics = [e for e in events if e.kind == "metrics"]
    assert [e.step for e in metrics] == [1, 2, 3, 4]
    samples = [e for e in events if e.kind == "samples"]
    assert samples[-1].images.shape == (64, 64, 64, 3)
    assert samples[-1].scores.shape == (64,)
    assert ((0 <= samples[-1].scores) & (samples[-1].scores <= 1)).all()
    assert not np.array_equal(samples[0].images, samples[-1].images)

    rows = runfolder.Run(tmp_path).read(runfolder.METRICS)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"step", "g_loss", "d_loss", "d_real", "d_fake", "img_per_s"}
    assert all(np.isfinite(list(r.values())).all() for r in rows)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == \
        ["ckpt-00000002.npz", "ckpt-00000004.npz"]
    assert (tmp_path / "samples" / "step-00000004.png").exists()
    assert list((tmp_path / "tensorboard").iterdir())
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]    # no temp files left
    gen = generate.Generator.load(tmp_path / "generator.keras")
    out = gen(np.zeros((3, 16), np.float32))
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8


def test_same_seed_same_run(faces, tmp_path):
    config = presets.preset("dcgan", **TINY)
    a = run(train.Trainer(config, faces, tmp_path / "a", steps=3, seed=5))
    b = run(train.Trainer(config, faces, tmp_path / "b", steps=3, seed=5))
    la = [e.g_loss for e in a if e.kind == "metrics"]
    lb = [e.g_loss for e in b if e.kind == "metrics"]
    np.testing.assert_allclose(la, lb, rtol=1e-5)


def weights(path):
    with np.load(path) as saved:
        return {k: saved[k] for k in saved.files if k != "meta"}


def test_resume_continues_exactly(faces, tmp_path):
    config = presets.preset("dcgan", **TINY)
    run(train.Trainer(config, faces, tmp_path / "whole", steps=4, seed=2))
    control = train.Control()
    for event in train.Trainer(config, faces, tmp_path / "cut", steps=4, seed=2,
                               control=control).run():
        if event.kind == "metrics" and event.step == 2:
            control.stop()
    events = run(train.Trainer(config, faces, tmp_path / "cut", steps=4, resume=True))
    assert events[0].resumed_from.endswith("ckpt-00000002.npz")
    assert events[-1].status == "finished"
    whole = weights(tmp_path / "whole" / "checkpoints" / "ckpt-00000004.npz")
    resumed = weights(tmp_path / "cut" / "checkpoints" / "ckpt-00000004.npz")
    assert whole.keys() == resumed.keys() and any(k.startswith("g_opt/") for k in whole)
    for key in whole:
        np.testing.assert_allclose(resumed[key], whole[key], rtol=1e-4, atol=1e-6, err_msg=key)
    steps_logged = [r["step"] for r in runfolder.Run(tmp_path / "cut").read(runfolder.METRICS)]
    assert steps_logged == [1, 2, 3, 4]


def assert_generator_average(run_dir, decay):
    """Checkpoints 1 and 2 of a run with `ema=decay`: each averaged weight moved toward G's by
    (1 - decay); the exported generator has the average's weights, and BatchNorm statistics
    of its own (recalibrated), not G's: in a float32 run, those this process computes from the
    average's weights, whichever backend trained it."""
    (g1, e1), (g2, e2) = [
        ({k[2:]: v for k, v in w.items() if k.startswith("g/")},
         {k[6:]: v for k, v in w.items() if k.startswith("g_ema/")})
        for w in (weights(run_dir / "checkpoints" / f"ckpt-{s:08d}.npz") for s in (1, 2))]
    record = runfolder.Run(run_dir).read_record()
    config = record.config
    model = dcgan.build_generator(config)
    trainable = [k for k, v in runfolder.named(model).items() if v.trainable]
    statistics = [k for k, v in runfolder.named(model).items() if not v.trainable]
    assert e2.keys() == g2.keys() and trainable and statistics
    for k in trainable:
        np.testing.assert_allclose(e2[k], decay * e1[k] + (1 - decay) * g2[k], atol=1e-6)
        assert not np.allclose(e2[k], g2[k])
    exported = keras.saving.load_model(run_dir / "generator.keras")
    assert {layer.dtype_policy.name for layer in exported.layers} == {"float32"}   # portable
    values = {k: np.asarray(v) for k, v in runfolder.named(exported).items()}
    for k in trainable:
        np.testing.assert_array_equal(values[k], e2[k])
    assert any(not np.allclose(values[k], g2[k]) for k in statistics)
    if config.precision == "float32":   # the run's own statistics, as this process computes them
        again = keras.saving.load_model(run_dir / "generator.keras")
        for variable in again.non_trainable_variables:
            variable.assign(np.zeros(variable.shape))
        dcgan.recalibrate_batchnorm(again, train.recalibration_z(config, record.seed))
        for k, v in runfolder.named(again).items():
            if not v.trainable:
                np.testing.assert_allclose(values[k], np.asarray(v), rtol=1e-4, atol=1e-5)


@pytest.fixture
def quick_recalibration(monkeypatch):
    """Recalibrate the average G's BatchNorm on 64 images, not 1,024: the mechanism is the
    same, and 1,024 images in bfloat16 take a minute on a CPU without bfloat16 instructions."""
    monkeypatch.setattr(train, "RECALIBRATION_BATCH", 64)


def test_the_generator_average(faces, tmp_path, quick_recalibration):
    config = presets.preset("dcgan", **TINY, ema=0.5, precision="mixed_bfloat16")
    run(train.Trainer(config, faces, tmp_path, steps=2, checkpoint_every=1))
    assert_generator_average(tmp_path, 0.5)


def test_export_writes_the_runs_generator_from_its_checkpoint(faces, tmp_path,
                                                              quick_recalibration):
    config = presets.preset("dcgan", **TINY, ema=0.5)
    run(train.Trainer(config, faces, tmp_path / "run", steps=2, checkpoint_every=1))
    out, checkpoint = train.export(tmp_path / "run", tmp_path / "g.keras")
    assert checkpoint.name == "ckpt-00000002.npz"
    ours = keras.saving.load_model(out).get_weights()
    theirs = keras.saving.load_model(tmp_path / "run" / "generator.keras").get_weights()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="not a training run"):
        train.export(tmp_path, tmp_path / "nothing.keras")


def test_a_corrupt_checkpoint_falls_back_to_the_one_before(faces, tmp_path):
    config = presets.preset("dcgan", **TINY)
    run(train.Trainer(config, faces, tmp_path, steps=4, checkpoint_every=2))
    newest = tmp_path / "checkpoints" / "ckpt-00000004.npz"
    newest.write_bytes(b"half a checkpoint")
    events = run(train.Trainer(config, faces, tmp_path, steps=6, resume=True))
    assert events[0].resumed_from.endswith("ckpt-00000002.npz")
    assert events[0].step == 2 and events[-1].status == "finished"


def test_a_deadline_stops_the_run_and_saves_it_as_any_stop(faces, tmp_path):
    import time

    control = train.Control(deadline=time.monotonic() + 3600)
    trainer = train.Trainer(presets.preset("dcgan", **TINY), faces, tmp_path, steps=50,
                            control=control)
    for event in trainer.run():
        if event.kind == "metrics" and event.step == 2:
            control.deadline = time.monotonic() - 1          # the budget is spent
    assert event.status == "stopped" and event.step == 2
    assert event.last_checkpoint.endswith("ckpt-00000002.npz") and event.generator_path


def test_stop_and_pause_take_effect_within_a_step(faces, tmp_path):
    control = train.Control()
    trainer = train.Trainer(presets.preset("dcgan", **TINY), faces, tmp_path, steps=50,
                            control=control)
    seen = []
    for event in trainer.run():
        seen.append(event)
        if event.kind == "metrics" and event.step == 1:
            control.pause()
            threading.Timer(0.3, control.resume).start()
        if event.kind == "resumed":
            control.stop()
    kinds = [e.kind for e in seen]
    assert kinds.index("paused") < kinds.index("resumed")
    end = seen[-1]
    assert end.status == "stopped" and end.step == 1
    assert end.last_checkpoint.endswith("ckpt-00000001.npz")


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(faces, tmp_path, monkeypatch):
    real_make_step = steps.make_step

    def poisoned(*args):
        step = real_make_step(*args)
        calls = {"n": 0}

        def call(*step_args, **step_kwargs):
            calls["n"] += 1
            out = step(*step_args, **step_kwargs)
            return {**out, "d_loss": float("nan")} if calls["n"] >= 3 else out
        call.sync, call.replicas = step.sync, step.replicas
        return call
    monkeypatch.setattr(train, "make_step", poisoned)
    events = run(train.Trainer(presets.preset("dcgan", **TINY), faces, tmp_path, steps=10,
                               checkpoint_every=2))
    end = events[-1]
    assert end.status == "diverged" and end.step == 3
    assert "NaN" in end.message
    assert end.last_checkpoint.endswith("ckpt-00000002.npz")
    assert [r["step"] for r in runfolder.Run(tmp_path).read(runfolder.METRICS)] == [1, 2]


def test_mixed_float16_scales_both_losses(faces, tmp_path):
    config = presets.preset("dcgan", precision="mixed_float16", **TINY)
    g_opt, d_opt = train.make_optimizers(config)
    assert isinstance(g_opt, keras.optimizers.LossScaleOptimizer)
    assert isinstance(d_opt, keras.optimizers.LossScaleOptimizer)
    events = run(train.Trainer(config, faces, tmp_path, steps=2))
    assert events[-1].status == "finished"
    assert all(np.isfinite(e.g_loss) for e in events if e.kind == "metrics")


def test_quality_on_held_out_images(faces, tmp_path):
    events = run(train.Trainer(presets.preset("dcgan", **TINY), faces, tmp_path, steps=2,
                               quality_every=2, holdout=32))
    start = events[0]
    assert start.held_out == 32 and start.images == 64
    quality = [e for e in events if e.kind == "quality"][0].values
    assert quality["swd"] > quality["real_swd"]         # untrained G is far from the data
    # and it lacks variety: its recall on VGG16 features is below two real samples'
    assert 0 <= quality["recall"] < quality["recall_real"] <= 1
    assert 0 <= quality["precision"] <= 1 and 0 <= quality["precision_real"] <= 1
    assert runfolder.Run(tmp_path).read(runfolder.QUALITY)[0]["step"] == 2


def test_too_little_data_is_a_clear_error(tmp_path):
    small = data.load("builtin:4")
    with pytest.raises(ValueError, match="fewer than the batch size"):
        train.Trainer(presets.preset("dcgan", **TINY), small, tmp_path, steps=1)
    with pytest.raises(ValueError, match="nothing to resume"):
        train.Trainer(presets.preset("dcgan", **TINY), small, tmp_path / "new", steps=1,
                      resume=True)
    with pytest.raises(ValueError, match="16 held-out images .* 20 images in all"):
        train.Trainer(presets.preset("dcgan", **TINY), data.load("builtin:20"), tmp_path, steps=1,
                      quality_every=100)
    # a tenth of 200 faces is 20, more than 16: quality is measured on those
    assert len(train.Trainer(presets.preset("dcgan", **TINY), data.load("builtin:200"),
                             tmp_path, steps=1, quality_every=100).held_idx) == 20
    # 100 faces: a tenth is 10, so 16 are held out, and the rest must still fill a batch
    with pytest.raises(ValueError, match="84 training images \\(16 more held out"):
        train.Trainer(presets.preset("dcgan", batch_size=96), data.load("builtin:100"),
                      tmp_path, steps=1, quality_every=100)


def test_config_is_saved_for_resume(faces, tmp_path):
    config = presets.preset("course", **TINY)
    run(train.Trainer(config, faces, tmp_path, steps=1, seed=9))
    saved = runfolder.Run(tmp_path).read_record()
    assert saved.config == config and saved.seed == 9 and saved.total_steps == 1
    assert json.loads((tmp_path / "config.json").read_text())["config"]["architecture"] == \
        "course"                            # plain JSON, readable without GAN Studio


def test_resume_goes_on_with_the_saved_settings_or_says_which_differ(faces, tmp_path):
    config = presets.preset("dcgan", **TINY)
    run(train.Trainer(config, faces, tmp_path, steps=2, seed=3, checkpoint_every=1))
    again = train.Trainer(None, faces, tmp_path, steps=3, resume=True)
    assert again.config == config and again.seed == 3
    with pytest.raises(ValueError, match=r"batch_size \(saved 8, asked 16\)"):
        train.Trainer(config.replace(batch_size=16), faces, tmp_path, steps=3, resume=True)
    with pytest.raises(ValueError, match="needs a config"):
        train.Trainer(None, faces, tmp_path / "new", steps=3)


def data_parallel_run(out: str) -> dict:
    """Three steps of a tiny run on this process's devices: replicas, status and metrics."""
    config = presets.preset("dcgan", **TINY, ema=0.9)
    events = list(train.Trainer(config, data.load("builtin:64"), out, steps=3,
                                sample_every=100, checkpoint_every=100).run())
    return {"replicas": events[0].replicas, "status": events[-1].status,
            "message": events[-1].message,
            "metrics": [e.values() for e in events if e.kind == "metrics"]}


TWO_TENSORFLOW_DEVICES = """
import json, sys
from gan_core import system
system.one_framework()
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from gan_core import train
from tests.test_train import data_parallel_run
train.RECALIBRATION_BATCH = 64     # as quick_recalibration does here
print(json.dumps(data_parallel_run(sys.argv[1])))
"""


@pytest.mark.slow
def test_data_parallel_on_two_cpu_devices_matches_one_device(tmp_path, quick_recalibration):
    """Two logical CPU devices stand in for two GPUs (MirroredStrategy on TensorFlow): the
    batch is split between them and the step must mean the same as on one device (the sums
    run in another order: close, not equal). One device is this process; two, a process of
    their own. (JAX's devices: tests/test_multihost.py, beside its processes.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the suite's own process runs TensorFlow (KERAS_BACKEND unset)")
    root = Path(__file__).resolve().parents[1]
    results = {1: data_parallel_run(str(tmp_path / "1"))}
    done = subprocess.run([sys.executable, "-c", TWO_TENSORFLOW_DEVICES, str(tmp_path / "2")],
                          env={**os.environ, "KERAS_BACKEND": "tensorflow",
                               "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    results[2] = json.loads(done.stdout.strip().splitlines()[-1])
    assert results[1]["replicas"] == 1 and results[2]["replicas"] == 2
    assert results[2]["status"] == "finished", results[2]["message"]
    assert len(results[2]["metrics"]) == len(results[1]["metrics"]) == 3
    # Step 1's losses come from the forward pass alone, where a per-device BatchNorm would
    # already show; later steps add the update's summation order, which drifts a little more.
    for k, (one, two) in enumerate(zip(results[1]["metrics"], results[2]["metrics"])):
        for key in steps.METRICS:
            assert two[key] == pytest.approx(one[key], rel=1e-3 if k == 0 else 1e-2,
                                             abs=1e-4), (k, key)


def test_checkpoints_store_variables_by_name_and_older_files_still_load(faces, tmp_path):
    config = presets.preset("dcgan", **TINY)
    run(train.Trainer(config, faces, tmp_path / "run", steps=2, checkpoint_every=1))
    folder = runfolder.Run(tmp_path / "run")
    saved = weights(folder.checkpoints()[-1])
    assert "g/project/kernel" in saved and "d/down1/kernel" in saved
    assert "g_opt/adam/project_kernel_momentum" in saved
    models = train.build_models(config, 0)
    assert folder.load_checkpoint(folder.checkpoints()[-1], models.groups()) == 2
    np.testing.assert_array_equal(models.G.get_layer("project").kernel.numpy(),
                                  saved["g/project/kernel"])

    # Format 1 (by position in each group) still loads, to the same weights.
    positional = {f"{group}/{i}": saved[f"{group}/{name}"]
                  for group, owner in models.groups().items()
                  for i, name in enumerate(runfolder.named(owner))}
    old = tmp_path / "old" / "checkpoints" / "ckpt-00000002.npz"
    old.parent.mkdir(parents=True)
    np.savez(old, meta=np.frombuffer(json.dumps({"step": 2}).encode(), np.uint8), **positional)
    fresh = train.build_models(config, 5)
    assert runfolder.Run(tmp_path / "old").load_checkpoint(old, fresh.groups()) == 2
    np.testing.assert_array_equal(fresh.G.get_layer("project").kernel.numpy(),
                                  saved["g/project/kernel"])

    # A model with another layout is refused by name, and nothing of it is changed.
    other = train.build_models(config.replace(architecture="pytorch-anime"), 0)
    before = other.D.get_weights()
    with pytest.raises(ValueError, match=r"checkpoint has no [gd]/"):
        folder.load_checkpoint(folder.checkpoints()[-1], other.groups())
    assert all(np.array_equal(a, b) for a, b in zip(before, other.D.get_weights()))
