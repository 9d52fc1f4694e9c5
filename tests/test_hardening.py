"""Hostile and careless input, as a classroom server meets it: damaged checkpoints, model files
and zips that would make the server allocate gigabytes, greedy exercise code, odd images, slow
downloads, out-of-range numbers, two trainers on one folder. Each gets a clear message, loses
nothing, and costs bounded memory and time. The memory cases run under a cap (setrlimit in a
subprocess), so a regression fails instead of swapping."""

import http.server
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core import __main__ as cli_main
from gan_core import data, exercises, files, generate, jobs, latent, presets, train

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(batch_size=8, latent_dim=16, width=0.125)


def png(size=(40, 40), colour=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def cli(*args):
    """The command line in this process: (exit code, stderr)."""
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main.main([str(a) for a in args])
    return code, err.getvalue()


def capped(code: str, gigabytes: float = 1.5):
    """Run Python code with its address space capped: a regression that allocates runs out of
    memory (a MemoryError, a failed exit) instead of swapping the machine."""
    script = (f"import resource\nresource.setrlimit(resource.RLIMIT_AS, "
              f"({int(gigabytes * 2**30)}, {int(gigabytes * 2**30)}))\n" + code)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "numpy"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# --- 1. a damaged newest checkpoint ---------------------------------------------------------

def test_resume_skips_a_damaged_newest_checkpoint_and_names_the_one_loaded(tmp_path):
    faces = data.load("builtin:64")
    config = presets.preset("dcgan", **TINY)
    list(train.Trainer(config, faces, tmp_path, steps=4, checkpoint_every=2).run())
    newest = sorted((tmp_path / "checkpoints").glob("ckpt-*.npz"))[-1]
    assert newest.name == "ckpt-00000004.npz"
    newest.write_bytes(newest.read_bytes()[:5000])          # half-written
    code, err = cli("train", "--data", "builtin:64", "--steps", 6, "--out", tmp_path,
                    "--resume", "--json")
    assert code == 0, err
    assert "skipped the unreadable checkpoint ckpt-00000004.npz" in err
    assert "resuming from" in err and "ckpt-00000002.npz (step 2)" in err


def test_a_failed_run_never_calls_a_damaged_file_good(tmp_path):
    faces = data.load("builtin:64")
    config = presets.preset("dcgan", **TINY)
    list(train.Trainer(config, faces, tmp_path, steps=2, checkpoint_every=2).run())
    for ckpt in (tmp_path / "checkpoints").glob("*.npz"):
        ckpt.write_bytes(b"PK\x03\x04 broken")
    end = list(train.Trainer(config, faces, tmp_path, steps=4, resume=True).run())[-1]
    assert end.status == "error" and "no readable checkpoint" in end.message
    assert end.last_checkpoint is None


# --- 2. model files that would allocate gigabytes -------------------------------------------

def keras_file(path, config_bytes, weights=b"", declared=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", config_bytes)
        archive.writestr("metadata.json", b"{}")
        archive.writestr("model.weights.h5", weights)
    return path


def dense_generator_config(units):
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": [None, 100]}},
              {"module": "keras.layers", "class_name": "Dense",
               "config": {"units": units, "activation": "linear"}}]
    return json.dumps({"module": "keras", "class_name": "Functional",
                       "config": {"layers": layers}}).encode()


def test_model_files_are_refused_before_anything_is_built(tmp_path):
    huge = keras_file(tmp_path / "huge.keras", dense_generator_config(10_000_000))
    inflating = keras_file(tmp_path / "inflating.keras", b" " * (64 * 2**20))
    out = capped(f"""
from gan_core import generate
for path in ({str(huge)!r}, {str(inflating)!r}):
    try:
        generate.check_config(path)
        print("accepted")
    except ValueError as error:
        print(error)
""")
    lines = out.strip().splitlines()
    assert "1,010,000,000" in lines[0] and "weights" in lines[0]
    assert "config.json" in lines[1] and "MB" in lines[1]
    assert generate.count_parameters(json.loads(dense_generator_config(10))) == 100 * 10 + 10


def test_a_sequential_generator_is_accepted(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64 * 64 * 3),
                              keras.layers.Reshape((64, 64, 3)),
                              keras.layers.Activation("tanh")])
    model.save(tmp_path / "seq.keras")
    loaded = generate.load_generator(tmp_path / "seq.keras")
    assert tuple(loaded.output_shape[1:]) == (64, 64, 3)


# --- 3. exercise code that allocates or computes too much -----------------------------------

GREEDY_CODE = {
    "broadcast": "z = np.random.normal(np.zeros((20000, 1)), np.ones((1, 20000)))",
    "references": "a = np.ones((1000, 1000))\nz = np.array([a, a, a, a, a, a, a, a])",
    "references in arithmetic": "a = np.ones((1000, 1000))\nz = [a, a, a, a, a] * 2",
    "work": "a = np.ones((1000, 1000))\nfor i in range(10000):\n    a = a * 1.0001\nz = a",
}


def test_greedy_code_is_refused_within_a_memory_cap():
    out = capped(f"""
import json, time
from gan_core import exercises
for name, code in json.loads({json.dumps(json.dumps(GREEDY_CODE))}).items():
    start = time.perf_counter()
    try:
        exercises.run(code, 100)
        print(json.dumps([name, "accepted", 0]))
    except exercises.ExerciseError as error:
        print(json.dumps([name, str(error), time.perf_counter() - start]))
""")
    results = {name: (message, seconds)
               for name, message, seconds in map(json.loads, out.strip().splitlines())}
    assert "too large" in results["broadcast"][0]
    assert "too large" in results["references"][0]
    assert "too large" in results["references in arithmetic"][0]
    assert "computes too much" in results["work"][0] and results["work"][1] < 5


@pytest.mark.parametrize("code, message", [
    ("z = [[1, 2], [3]]", "rectangular"),
    ("z = 1/0", "line 1: division by zero"),
    ("z = np.ones((2, 100))\nz[0] = z[0] / 0", "line 2: division by zero"),
])
def test_exercise_errors_name_the_line(code, message):
    with pytest.raises(exercises.ExerciseError, match=message):
        exercises.run(code, 100)


# --- 4. zips whose headers lie, and damaged entries -----------------------------------------

def patch_sizes(raw: bytes, name: bytes, size: int) -> bytes:
    """Rewrite an entry's uncompressed size in both its local and central headers."""
    out = bytearray(raw)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := out.find(signature, start)) >= 0:
            name_at = i + (30 if signature == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                out[i + offset:i + offset + 4] = struct.pack("<I", size)
            start = i + 4
    return bytes(out)


def test_a_zip_entry_that_understates_its_size_stops_at_the_limit(tmp_path):
    # The case: a header that claims 1 KB for 1 GiB of zeros (1 MB packed), read with
    # the real limits under a memory cap, so reading it whole would fail the test.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ok.png", png())
        with archive.open("liar.png", "w") as entry:
            for _ in range(64):
                entry.write(bytes(16 * 2**20))
    (tmp_path / "liar.zip").write_bytes(patch_sizes(buffer.getvalue(), b"liar.png", 1000))
    out = capped(f"""
from gan_core import data
loaded = data.load({str(tmp_path / "liar.zip")!r}, cache_dir={str(tmp_path / "cache")!r})
print(len(loaded), [name for name, _ in loaded.skipped])
""", gigabytes=1.0)
    assert out.split() == ["1", "['liar.png']"]


def test_an_upload_that_decodes_too_slowly_is_refused_and_not_cached(tmp_path, monkeypatch):
    manager = jobs.JobManager(tmp_path / "runs", tmp_path / "data", cache_dir=tmp_path / "cache",
                              upload_decode_s=0.3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(20):
            archive.writestr(f"{i:02d}.png", png())
    spec = manager.sources.store_zip("faces.zip", buffer.getvalue(), 2**20, 100)
    decode = data.decode
    monkeypatch.setattr(data, "decode", lambda raw: (time.sleep(0.05), decode(raw))[1])
    with pytest.raises(ValueError, match=r"takes too long to decode: \d+ of 20 files in 0.3 s"):
        manager.sources.load(spec)
    manager.sources.upload_decode_s = 5.0       # a patient server decodes it: nothing half-cached
    loaded = manager.sources.load(spec)
    assert len(loaded) == 20 and not loaded.cached
    (tmp_path / "data" / "folder").mkdir(parents=True)   # the data root's folders: no budget
    for i in range(10):
        (tmp_path / "data" / "folder" / f"{i}.png").write_bytes(png())
    manager.sources.upload_decode_s = 0.1
    assert len(manager.sources.load(str(tmp_path / "data" / "folder"))) == 10


def test_damaged_zip_entries_are_skipped_by_name(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in ("a.png", "badcrc.png", "method.png"):
            archive.writestr(name, png(colour=(10, 200, 10)))
    raw = bytearray(buffer.getvalue())
    i = raw.index(b"badcrc.png") + len(b"badcrc.png") + 40     # inside its data
    raw[i] ^= 0xFF
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):   # compression 99
        start = 0
        while (j := raw.find(signature, start)) >= 0:
            name_at = j + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at:name_at + 10] == b"method.png":
                raw[j + offset:j + offset + 2] = struct.pack("<H", 99)
            start = j + 4
    (tmp_path / "damaged.zip").write_bytes(bytes(raw))
    loaded = data.load(tmp_path / "damaged.zip", cache_dir=tmp_path / "cache")
    assert len(loaded) == 1
    reasons = dict(loaded.skipped)
    assert set(reasons) == {"badcrc.png", "method.png"}
    assert "damaged" in reasons["badcrc.png"] and "unsupported" in reasons["method.png"]


# --- image decoding -------------------------------------------------------------------------

def test_a_16_bit_png_keeps_its_greys():
    values = np.full((64, 64), 32768, np.uint16)          # mid-grey in 16 bits
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    out = data.decode(buffer.getvalue())
    assert abs(int(out.mean()) - 128) <= 2


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (80, 40), (255, 0, 0))
    img.paste((0, 0, 255), (40, 0, 80, 40))               # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6                                       # "rotate 90 clockwise to view"
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif, quality=95)
    out = data.decode(buffer.getvalue()).astype(int)
    # viewed upright, the left (red) half is on top and the blue half below
    assert out[:20, :, 0].mean() > 200 and out[44:, :, 2].mean() > 200


def test_a_small_palette_png_that_decodes_huge_is_refused():
    for side, message in ((6300, "too large"), (3000, "decompression bomb")):
        buffer = io.BytesIO()
        Image.new("P", (side, side)).save(buffer, format="PNG", optimize=True)
        assert len(buffer.getvalue()) < 100_000
        start = time.perf_counter()
        with pytest.raises(ValueError, match=message):
            data.decode(buffer.getvalue())
        assert time.perf_counter() - start < 0.5       # refused from the header, undecoded


def test_bad_links_and_unreadable_folders_are_listed_not_fatal(tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    (root / "locked").mkdir(parents=True)
    (root / "a.png").write_bytes(png())
    (root / "dangling.png").symlink_to(root / "gone.png")
    (root / "loop1.png").symlink_to(root / "loop2.png")
    (root / "loop2.png").symlink_to(root / "loop1.png")
    walk = os.walk

    def walk_with_a_locked_folder(top, onerror=None, **kw):   # root reads every folder here
        for entry in walk(top, onerror=onerror, **kw):
            if Path(entry[0]).name == "locked":
                onerror(PermissionError(13, "Permission denied", entry[0]))
                continue
            yield entry
    monkeypatch.setattr(data.os, "walk", walk_with_a_locked_folder)
    loaded = data.load(root, cache_dir=tmp_path / "cache")
    assert len(loaded) == 1
    reasons = dict(loaded.skipped)
    assert reasons["dangling.png"] == "a dangling symlink"
    assert reasons["loop1.png"] == "a symlink loop" and reasons["loop2.png"] == "a symlink loop"
    assert "not readable" in reasons["locked/"]


# --- downloads ------------------------------------------------------------------------------

class _Server:
    """A local HTTP server whose one answer a test chooses (loopback only)."""

    def __init__(self, handler):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/faces.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(body=b"", headers=(), drip=None):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            try:
                if drip:
                    for _ in range(40):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(drip)
                else:
                    self.wfile.write(body)
            except OSError:
                pass

        def log_message(self, *args):
            pass
    return _Server(Handler)


def test_downloads_check_size_deadline_and_that_it_is_a_zip(tmp_path, monkeypatch):
    server = serve(headers=[("Content-Length", str(10 * 2**30))])
    try:
        with pytest.raises(ValueError, match="GB"):
            data.load(server.url, cache_dir=tmp_path)
    finally:
        server.close()
    monkeypatch.setattr(data, "DOWNLOAD_DEADLINE_S", 1)
    server = serve(drip=0.1)
    try:
        start = time.perf_counter()
        with pytest.raises(ValueError, match="longer than 1 s"):
            data.load(server.url, cache_dir=tmp_path)
        assert time.perf_counter() - start < 4
    finally:
        server.close()
    server = serve(body=b"<html>not a zip</html>")
    try:
        with pytest.raises(ValueError, match="not a zip"):
            data.load(server.url, cache_dir=tmp_path)
    finally:
        server.close()
    assert not list((tmp_path / "downloads").glob("*.zip"))      # nothing bad was cached


# --- command-line numbers and folders -------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["train", "--data", "builtin:64", "--epochs", "inf", "--out", "{tmp}/r"], "--epochs"),
    (["train", "--data", "builtin:64", "--steps", "2", "--minutes", "nan", "--out", "{tmp}/r"],
     "--minutes"),
    (["generate", "--model", "assets/generator/generator.keras", "--n", "10000000",
      "--out", "{tmp}/g.npy"], "100,000"),
    (["evaluate", "--model", "assets/generator/generator.keras", "--data", "builtin:64",
      "--n", "0"], "--n must be at least 8"),
    (["generate", "--model", "assets/generator/generator.keras", "--n", "2",
      "--out", "{tmp}/file/under.zip"], "is a file, not a folder"),
    (["train", "--data", "builtin:64", "--steps", "2", "--out", "{tmp}/file/run"],
     "is a file, not a folder"),
])
def test_bad_numbers_and_folders_get_one_clear_line(args, message, tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    code, err = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2, err
    assert message in err and "Traceback" not in err and "error: error:" not in err


def test_generate_streams_a_npy_file(tmp_path):
    gen = generate.Generator.load(ROOT / "assets" / "generator" / "generator.keras")
    z = np.random.default_rng(0).standard_normal((300, gen.latent_dim)).astype("float32")
    generate.write_npy(gen, z, tmp_path / "out.npy", batch=128)
    written = np.load(tmp_path / "out.npy", mmap_mode="r")
    assert written.shape == (300, 64, 64, 3) and written.dtype == np.uint8
    np.testing.assert_array_equal(written[200:], gen(z[200:]))


def test_resume_with_other_settings_names_the_flags(tmp_path):
    code, err = cli("train", "--data", "builtin:64", "--batch", 8, "--latent", 16, "--width",
                    0.125, "--steps", 2, "--out", tmp_path)
    assert code == 0, err
    code, err = cli("train", "--data", "builtin:64", "--batch", 16, "--steps", 4, "--out",
                    tmp_path, "--resume")
    assert code == 2 and "batch_size (saved 8, asked 16)" in err
    code, err = cli("train", "--data", "builtin:64", "--preset", "course", "--steps", 4, "--out",
                    tmp_path, "--resume")
    assert code == 2 and "architecture" in err
    code, err = cli("train", "--data", "builtin:64", "--batch", 8, "--steps", 4, "--out",
                    tmp_path, "--resume")
    assert code == 0, err                              # asking for the saved value is fine


# --- one trainer per folder, and no stray temporary files -----------------------------------

def test_a_run_folder_is_locked_and_a_stale_lock_is_taken_over(tmp_path):
    faces = data.load("builtin:64")
    config = presets.preset("dcgan", **TINY)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gan_core import files\n"
         f"with files.folder_lock({str(tmp_path)!r}):\n"
         "    print('held', flush=True); time.sleep(60)"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        end = list(train.Trainer(config, faces, tmp_path, steps=1).run())[-1]
        assert end.status == "error" and f"pid {holder.pid}" in end.message
        assert not (tmp_path / "config.json").exists()          # nothing was written
    finally:
        holder.kill()              # SIGKILL: no clean-up ran, the kernel let go of the lock
        holder.wait()
    assert (tmp_path / ".lock").read_text() == str(holder.pid)
    (tmp_path / ".generator.4242-7.tmp.keras").write_bytes(b"half")
    events = list(train.Trainer(config, faces, tmp_path, steps=1).run())
    assert events[-1].status == "finished"
    assert events[0].stale_lock == holder.pid
    assert events[0].removed_temporaries == [".generator.4242-7.tmp.keras"]
    assert not (tmp_path / ".lock").exists()


def test_files_folder_lock_refuses_a_live_holder(tmp_path):
    with files.folder_lock(tmp_path) as stale:
        assert stale is None and (tmp_path / ".lock").read_text() == str(os.getpid())
        other = subprocess.run([sys.executable, "-c",
                                "import sys; from gan_core import files\n"
                                f"with files.folder_lock({str(tmp_path)!r}): pass"],
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "in use by another trainer" in other.stderr
    assert not (tmp_path / ".lock").exists()


# --- the training page's data and live files ------------------------------------------------

@pytest.fixture
def manager(tmp_path):
    (tmp_path / "data" / "faces").mkdir(parents=True)
    manager = jobs.JobManager(tmp_path / "runs", tmp_path / "data",
                              cache_dir=tmp_path / "cache")
    yield manager
    manager.shutdown()


def test_a_link_out_of_the_data_root_is_neither_listed_nor_read(manager, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "data" / "sneaky").symlink_to(tmp_path / "outside")
    assert manager.sources.folders() == ["faces"]
    with pytest.raises(ValueError, match="data folder"):
        manager.sources.resolve(str(tmp_path / "data" / "sneaky"))


def test_uploads_are_kept_once_and_discarded_when_unused(manager):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"not an image")
    first = manager.sources.store_zip("a.zip", buffer.getvalue(), 2**20, 10)
    again = manager.sources.store_zip("copy of a.zip", buffer.getvalue(), 2**20, 10)
    assert first == again and len(list((manager.runs / "uploads").iterdir())) == 1
    manager.discard_upload(first)
    assert not list((manager.runs / "uploads").iterdir())


def test_a_folder_smaller_than_the_batch_is_refused_at_submit(manager, tmp_path):
    for i in range(8):
        (tmp_path / "data" / "faces" / f"{i}.png").write_bytes(png(colour=(i * 30, 0, 0)))
    with pytest.raises(ValueError, match="8 training images, fewer than the batch size 64"):
        manager.submit("alice", jobs.JobSpec(data=str(tmp_path / "data" / "faces"),
                                             config=presets.preset("dcgan", batch_size=64),
                                             steps=2))
    assert not manager._waiting


def test_job_ids_carry_128_random_bits(manager):
    job = manager.submit("alice", jobs.JobSpec(data="builtin:64", config=presets.preset("dcgan", **TINY),
                                               steps=1))
    token = job.id.rsplit("-", 1)[1]
    assert len(token) == 32 and int(token, 16) >= 0


# --- the latent explorer's links ------------------------------------------------------------

@pytest.mark.parametrize("text", ["3:1e39", "3:1e300", "3:-11", "3:inf"])
def test_link_values_past_the_sliders_are_refused(text):
    with pytest.raises(ValueError, match="out of range"):
        latent.decode_edits(text, 100)


@pytest.mark.parametrize("seed", [-1, 10**10])
def test_link_seeds_out_of_range_are_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        latent.Face(seed=seed)
