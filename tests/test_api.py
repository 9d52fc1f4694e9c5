"""The avatar HTTP API, served for real (uvicorn on 127.0.0.1) as a game backend runs it:
the three id paths agree byte for byte, ETag/304, every bad input's status and JSON body, the
token, micro-batching under concurrency, and sharded bulk runs."""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gan_core import api, generate, images, noise, settings, system

ROOT = Path(__file__).resolve().parents[1]
MODEL = settings.SHIPPED_GENERATOR


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path, *flags):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAN_STUDIO_RUNS": str(tmp_path / "runs")}
    proc = subprocess.Popen([sys.executable, "-m", "gan_core", "serve", "--port", str(port),
                             *flags], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            get(base + "/api/v1/models", token=flags[flags.index("--token") + 1]
                if "--token" in flags else None)
            return proc, base
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("the API did not start")


def first_line(server, request: bytes) -> bytes:
    """The status line the server answers a raw request with."""
    host, port = server.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        return conn.recv(4096).split(b"\r\n", 1)[0]


def get(url, headers=None, token=None, data=None, method=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    proc, base = start(tmp, "--rate-limit", "0")
    yield base
    proc.terminate()
    proc.wait(10)


def test_the_api_the_cli_and_the_explorer_give_the_same_bytes(server, tmp_path):
    ids = ["alice", "Bob #2", "플레이어", "x" * 256, "a/b"]
    (tmp_path / "ids.txt").write_text("\n".join(ids), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gan_core", "generate", "--model", MODEL,
                           "--ids", tmp_path / "ids.txt", "--out", tmp_path / "cli"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if not system.has_nvidia_driver():                # every command drops TensorFlow's chatter
        assert "cuInit" not in done.stderr and "cudart_stub" not in done.stderr, done.stderr
    gen = generate.Generator.load(MODEL)
    ns = noise.namespace(MODEL)
    for player in ids:
        status, headers, body = get(f"{server}/api/v1/avatar/"
                                    f"{urllib.parse.quote(player, safe='')}.png")
        assert status == 200 and headers["Content-Type"] == "image/png"
        from gan_core import files
        cli_bytes = (tmp_path / "cli" / f"{files.safe_name(player)}.png").read_bytes()
        assert body == cli_bytes, player                     # API == generate --ids
        # the explorer's player-id box draws the same face from the same z
        explorer = gen(noise.for_id(player, gen.latent_dim, ns)[None])[0]
        assert body == images.png_bytes(explorer)
        assert headers["X-Namespace"] == ns


def test_sizes_are_crisp_upscales_and_cached_forever(server):
    _, _, small = get(f"{server}/api/v1/avatar/carol.png")
    status, headers, big = get(f"{server}/api/v1/avatar/carol.png?size=256")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    from PIL import Image
    a = np.asarray(Image.open(io.BytesIO(small)))
    b = np.asarray(Image.open(io.BytesIO(big)))
    assert b.shape == (256, 256, 3)
    np.testing.assert_array_equal(b, a.repeat(4, 0).repeat(4, 1))     # nearest, not blurred
    etag = headers["ETag"]
    status, again, body = get(f"{server}/api/v1/avatar/carol.png?size=256",
                              headers={"If-None-Match": etag})
    assert status == 304 and body == b"" and again["ETag"] == etag
    _, other, _ = get(f"{server}/api/v1/avatar/carol.png?size=128")
    assert other["ETag"] != etag                                      # size is in the tag


@pytest.mark.parametrize("path, status", [
    ("/api/v1/avatar/%20.png", 400),                       # blank
    ("/api/v1/avatar/.png", 400),                          # empty
    ("/api/v1/avatar/" + "y" * 257 + ".png", 400),         # too long
    ("/api/v1/avatar/%FF%FE.png", 400),                    # not UTF-8
    ("/api/v1/avatar/dave.png?size=100", 400),             # a size not offered
    ("/api/v1/avatar/dave.png?size=big", 400),
    ("/api/v1/avatar/dave.png?model=nope", 404),           # unknown model
    ("/api/v1/avatar/dave.gif", 404),
    ("/api/v1/nothing", 404),
])
def test_bad_requests_get_their_status_and_a_json_reason(server, path, status):
    got, headers, body = get(server + path)
    assert got == status
    reply = json.loads(body)
    assert reply["status"] == status and reply["error"] and "Traceback" not in body.decode()


def test_batches_of_ids_come_back_as_a_zip(server):
    ids = [f"player-{i}" for i in range(40)]
    status, headers, body = get(f"{server}/api/v1/avatars", data=json.dumps({"ids": ids}).encode(),
                                headers={"Content-Type": "application/json"})
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{i}.png" for i in ids)
        _, _, single = get(f"{server}/api/v1/avatar/player-7.png")
        assert archive.read("player-7.png") == single
    too_many = json.dumps([f"p{i}" for i in range(1001)]).encode()
    assert get(f"{server}/api/v1/avatars", data=too_many)[0] == 413
    for bad in (b"not json", json.dumps({"ids": [1, 2]}).encode(), json.dumps([]).encode(),
                json.dumps({"ids": ["ok"], "size": 3}).encode()):
        status, _, body = get(f"{server}/api/v1/avatars", data=bad)
        assert status == 400 and json.loads(body)["error"]
    assert first_line(server, b"POST /api/v1/avatars HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 1600005\r\n\r\n[" + b'"a",' * 1000).startswith(
        b"HTTP/1.1 413")                         # refused from its length, before its body


def test_models_lists_the_generators_with_their_hashes(server):
    status, _, body = get(f"{server}/api/v1/models")
    models = json.loads(body)
    assert status == 200 and models["default"] == "shipped"
    shipped = models["models"][0]
    assert shipped["hash"] == noise.model_hash(MODEL)
    assert shipped["namespace"] == noise.namespace(MODEL)


def test_micro_batching_returns_each_request_its_own_face(server):
    gen = generate.Generator.load(MODEL)
    ns = noise.namespace(MODEL)
    ids = [f"crowd-{i}" for i in range(96)]
    with ThreadPoolExecutor(48) as pool:
        bodies = list(pool.map(lambda i: get(f"{server}/api/v1/avatar/{i}.png")[2], ids))
    expected = gen(np.stack([noise.for_id(i, gen.latent_dim, ns) for i in ids]))
    for player, body, face in zip(ids, bodies, expected):
        assert body == images.png_bytes(face), player


def test_a_call_fills_up_or_waits_no_longer_than_its_deadline():
    """20 requests at once make a full call and a call of the rest; a lone request is
    answered after the wait, not left for company that never comes."""
    import asyncio

    calls = []

    def generator(z):                 # stands in for the model: records each call's rows
        calls.append(len(z))
        return z[:, :1] * 2

    async def scenario():
        batcher = api._Batcher(generator)
        crowd = await asyncio.gather(*(batcher(np.full(3, i, np.float32)) for i in range(20)))
        start = time.perf_counter()
        alone = await batcher(np.full(3, 7, np.float32))
        return crowd, alone, time.perf_counter() - start

    crowd, alone, waited = asyncio.run(scenario())
    assert calls == [api.MAX_BATCH, 20 - api.MAX_BATCH, 1]
    assert [float(row[0]) for row in crowd] == [2.0 * i for i in range(20)]
    assert float(alone[0]) == 14.0 and waited >= api.BATCH_WAIT_S * 0.9


def slow_client(port, prefix: bytes, trickle: bytes, seconds: float) -> float:
    """Send `prefix`, then `trickle` a byte a second (nothing more after it); how long the
    server kept the connection open (`seconds` if it never closed it)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        conn.sendall(prefix)
        rest = list(trickle)
        while time.monotonic() - start < seconds:
            try:
                if rest:
                    conn.sendall(bytes([rest.pop(0)]))
                if conn.recv(1024) == b"":
                    return time.monotonic() - start
                return time.monotonic() - start      # it answered (a 408) and is done
            except socket.timeout:
                continue
            except OSError:                          # reset: closed
                return time.monotonic() - start
    return seconds


@pytest.mark.slow
def test_loading_a_model_for_its_first_request_leaves_the_event_loop_free(monkeypatch):
    import asyncio

    service = api.AvatarService()
    load = generate.Generator.load.__func__
    monkeypatch.setattr(generate.Generator, "load", classmethod(
        lambda cls, *args, **kw: (time.sleep(1.0), load(cls, *args, **kw))[1]))

    async def first_request_and_a_ticker():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1
        ticker = asyncio.create_task(tick())
        face = await service.face(await service.find(None), "player-1")
        ticker.cancel()
        return face, ticks

    face, ticks = asyncio.run(first_request_and_a_ticker())
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    assert ticks >= 10               # the loop went on while the 1-second load ran on a thread


def test_the_token_the_rate_limit_and_slow_clients(tmp_path):
    proc, base = start(tmp_path, "--token", "s3cret", "--rate-limit", "5")
    try:
        status, _, body = get(f"{base}/api/v1/avatar/erin.png")
        assert status == 401 and "Bearer" in json.loads(body)["error"]
        assert get(f"{base}/api/v1/avatar/erin.png", token="wrong")[0] == 401
        assert get(f"{base}/api/v1/avatar/erin.png", token="s3cret")[0] == 200
        statuses = [get(f"{base}/api/v1/avatar/erin.png", token="s3cret")[0] for _ in range(30)]
        assert 429 in statuses                                   # past 5/s, bursts of 10
        port = int(base.rsplit(":", 1)[1])
        crowd = [socket.create_connection(("127.0.0.1", port)) for _ in range(api.MAX_CONNECTIONS)]
        try:                                  # the connection cap: past it, a quick 503
            assert first_line(base, b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
                              ).startswith(b"HTTP/1.1 503")
        finally:
            for conn in crowd:
                conn.close()
        time.sleep(2.5)                                          # the bucket refills
        forged = [get(f"{base}/api/v1/avatar/erin.png", token="s3cret",
                      headers={"X-Forwarded-For": f"203.0.113.{i}"})[0] for i in range(30)]
        assert 429 in forged                  # another claimed address is the same client
        # Headers a byte a second, and a body that never comes: cut off, while others are served
        with ThreadPoolExecutor(4) as pool:
            header = pool.submit(slow_client, port, b"GET /api/v1/models HTTP/1.1\r\n",
                                 b"X-Slow: " + b"a" * 100, 25)
            body = pool.submit(slow_client, port, b"POST /api/v1/avatars HTTP/1.1\r\n"
                               b"Host: x\r\nAuthorization: Bearer s3cret\r\n"
                               b"Content-Length: 100\r\n\r\n[", b"", 25)
            time.sleep(1)
            assert get(f"{base}/api/v1/models", token="s3cret")[0] == 200
            assert header.result() < api.HEADER_TIMEOUT_S + 3
            assert body.result() < api.BODY_TIMEOUT_S + 3
        assert first_line(base, b"POST /api/v1/avatars HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          b"Bearer s3cret\r\nContent-Length: 52428800\r\n\r\n"
                          ).startswith(b"HTTP/1.1 413")     # at once, 50 MB never read
    finally:
        proc.terminate()
        proc.wait(10)


def test_rate_limit_buckets_refill():
    limit = api.RateLimit(10)
    assert all(limit.allow("a") for _ in range(20)) and not limit.allow("a")
    assert limit.allow("b")                                       # per client
    assert all(api.RateLimit(0).allow("a") for _ in range(1000))  # 0: off


def test_shards_split_the_ids_and_their_union_is_the_whole(tmp_path):
    from gan_core import bulk

    ids = [f"id-{i}" for i in range(23)]
    (tmp_path / "ids.txt").write_text("\n".join(ids))

    def run(shard=None, out=None):         # generate --ids [--shard K/N], in this process
        bulk.run(bulk.Job.plan(MODEL, out), tmp_path / "ids.txt", shard)
        return {p.name: p.read_bytes() for p in Path(out).glob("*.png")}
    whole = run(out=tmp_path / "whole")
    parts = [run(f"{k}/3", out=tmp_path / f"part{k}") for k in (1, 2, 3)]
    assert sum(len(p) for p in parts) == len(whole) == 23
    union = {}
    for part in parts:
        assert not set(part) & set(union)                         # no id twice
        union.update(part)
    assert union == whole


@pytest.mark.slow
def test_the_app_s_own_server_mounts_the_api_only_when_asked(tmp_path, server):
    from app_server import serve_app

    runs = {"GAN_STUDIO_RUNS": str(tmp_path / "runs")}
    with serve_app(env=runs) as (url, _):                  # the classroom's command: no API
        status, headers, _ = get(f"{url}/api/v1/models")
        assert not headers.get("Content-Type", "").startswith("application/json")
    off = subprocess.run([sys.executable, "-m", "streamlit", "run", "app_api.py"], cwd=ROOT,
                         env={**os.environ, **runs, "GAN_STUDIO_API": "0"},
                         capture_output=True, text=True, timeout=120)
    assert off.returncode != 0 and "set GAN_STUDIO_API=1" in off.stderr + off.stdout
    with serve_app(env={**runs, "GAN_STUDIO_API": "1", "GAN_STUDIO_API_TOKEN": "s3cret"},
                   script="app_api.py") as (url, _):
        assert get(f"{url}/api/v1/models")[0] == 401
        status, _, body = get(f"{url}/api/v1/models", token="s3cret")
        assert status == 200 and json.loads(body) == json.loads(
            get(f"{server}/api/v1/models")[2])          # the same routes as `serve`
        status, _, png = get(f"{url}/api/v1/avatar/alice.png", token="s3cret")
        assert status == 200 and png == get(f"{server}/api/v1/avatar/alice.png")[2]
        status, _, page = get(url + "/")                  # and the app is still there
        assert status == 200 and b"<html" in page.lower()


def test_hostile_bodies_and_ids_get_a_json_400_never_a_500(server):
    post = lambda body: get(f"{server}/api/v1/avatars", data=body)   # noqa: E731
    for size in ("Infinity", "1e400", "-Infinity", "NaN", "true", "[64]", "63.9"):
        status, _, body = post(f'{{"ids": ["a"], "size": {size}}}'.encode())
        assert status == 400 and "64, 128, 256, 512" in json.loads(body)["error"], size
    status, _, body = post(b"[" * 100_000 + b"]" * 100_000)           # deep, under 1 MB
    assert status == 400 and "must be JSON" in json.loads(body)["error"]
    status, _, body = post(json.dumps({"ids": ["a", "a", "b", "a"]}).encode())
    assert status == 200
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["a.png", "b.png"]   # each id once
    status, _, body = post(json.dumps({"ids": [f"p{i}" for i in range(300)],
                                       "size": 512}).encode())
    assert status == 413 and "at most 250 ids at 512 px" in json.loads(body)["error"]
    status, _, body = get(f"{server}/api/v1/avatar/alice.png?model={'m' * 10_000}")
    assert status == 404 and len(body) < 300                          # not echoed whole
    assert get(f"{server}/api/v1/avatar/a/b.png")[0] == 400            # a raw slash: refused
    assert get(f"{server}/api/v1/avatar/a%2Fb.png")[2] != get(f"{server}/api/v1/avatar/b.png")[2]


def test_fuzzed_requests_get_json_4xx_or_a_picture_never_a_500(server):
    rng = np.random.default_rng(36)
    pieces = ["", "a", "%2F", "%00", "%ff", "..", "/", "?", "#", "é", "%", "x" * 300, "ü" * 100,
              ".png", "size=", "model=", "&", "=", "\\", "%25", "1e400", "-1", "nan", "64",
              "512", "shipped", '"', "'", "<script>", " ", "\t"]
    values = [None, True, 1, -1, 1.5, 1e308, "x", "", [], {}, [1], ["a"], ["a"] * 3,
              {"ids": 1}, "\ud800", "x" * 300, 64, 512, 3, [["a"]], [None]]

    def text(n):
        return "".join(rng.choice(pieces) for _ in range(rng.integers(0, n)))

    sent = 0
    for case in range(240):
        kind = case % 3
        if kind == 0:
            path = f"/api/v1/avatar/{urllib.parse.quote(text(5), safe='/%?&=')}.png"
            if rng.random() < 0.5:
                path += "?" + text(4)
            request = urllib.request.Request(server + path, headers={
                "If-None-Match": text(3).encode("utf-8", "ignore").decode("latin-1"),
                "X-Forwarded-For": text(2).encode("utf-8", "ignore").decode("latin-1")})
        elif kind == 1:
            body = {k: values[rng.integers(len(values))] for k in
                    rng.choice(["ids", "size", "model", "x"], rng.integers(0, 4), replace=False)}
            raw = json.dumps(body).encode("utf-8", "surrogatepass")
            if rng.random() < 0.3:                       # mutate a few bytes
                raw = bytearray(raw)
                for _ in range(rng.integers(1, 4)):
                    if raw:
                        raw[rng.integers(len(raw))] = rng.integers(256)
                raw = bytes(raw)
            request = urllib.request.Request(f"{server}/api/v1/avatars", data=raw)
        else:
            path = "/" + text(6)
            request = urllib.request.Request(server + urllib.parse.quote(path, safe="/%?&="),
                                             method=str(rng.choice(["GET", "POST", "PUT"])))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, kind_, body = response.status, response.headers["Content-Type"], b""
        except urllib.error.HTTPError as error:
            status, kind_, body = error.code, error.headers["Content-Type"], error.read()
        except (urllib.error.URLError, ValueError, http.client.HTTPException):   # not sent
            continue
        assert status in (200, 304) and kind_ in ("image/png", "application/zip") or \
            400 <= status < 500 and kind_ == "application/json" and json.loads(body)["error"], \
            (request.full_url[:200], status, body[:200])
        sent += 1
    assert sent > 180
    assert get(f"{server}/api/v1/avatar/alice.png")[0] == 200          # and it still serves


def test_the_start_up_log_has_no_cuda_errors_on_a_machine_without_a_gpu(tmp_path):
    if system.has_nvidia_driver():
        pytest.skip("a GPU machine keeps every line TensorFlow prints")
    proc, base = start(tmp_path)
    get(base + "/api/v1/avatar/alice.png")             # the first call builds the generator
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    for chatter in ("cuInit", "cudart_stub", "absl::InitializeLog", "oneDNN custom"):
        assert chatter not in err, err
    assert "serving avatars of" in err, err          # what we say ourselves is kept


def test_only_the_noise_is_dropped_and_the_last_native_line_survives_exit():
    from gan_core import system

    if system.has_nvidia_driver():
        pytest.skip("on a GPU machine nothing is filtered")
    code = ("import os, sys\nfrom gan_core import system\nsystem.quiet_native_logs()\n"
            "os.write(2, b'I0 cudart_stub.cc:31] Could not find cuda drivers\\nnative kept\\n')\n"
            "print('python kept', file=sys.stderr)\nos.write(2, b'last native line')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0
    assert "cudart_stub" not in done.stderr
    for kept in ("native kept", "python kept", "last native line"):
        assert kept in done.stderr, done.stderr
