"""Load test of the avatar API, on localhost only, bounded in requests and time.

    .venv/bin/python tests/perf/api_load.py [--clients 64] [--requests 4000] [--rate 200]

Starts `python -m gan_core serve` on a free loopback port (no rate limit), then:
1. throughput: `--clients` keep-alive connections fetch distinct ids as fast as they can,
   `--requests` in all: avatars/s, errors;
2. latency at a fixed rate: `--rate` requests a second of new ids for `--seconds`: p50/p95;
3. cached answers: the same ids again with If-None-Match: 304 p50/p95.
Prints one JSON object; the throughput part also says how much CPU the server and this client
spent per avatar (they share the machine's cores). With --split, once the server has stopped,
this process times the server's own parts alone, per avatar, with the server's settings (its
threads, its model entry, calls of its rows): z from the id, the generator, the PNG, the ETag;
what the server spent beyond them is HTTP, the event loop and the rest. The client is asyncio
with raw sockets, so it costs the server's two cores as little as a Python client can.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from procfs import cpu_seconds   # beside this script

ROOT = Path(__file__).resolve().parents[2]


async def fetch(reader, writer, path, headers=""):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length) if length else b""
    etag = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                 if line.lower().startswith(b"etag:")), None)
    return status, body, etag


async def throughput(port, clients, total, prefix, server_pid=None):
    ids = iter(range(total))
    errors, latencies = 0, []

    async def client():
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in ids:
            start = time.perf_counter()
            status, _, _ = await fetch(reader, writer, f"/api/v1/avatar/{prefix}-{i}.png")
            latencies.append(time.perf_counter() - start)
            errors += status != 200
        writer.close()

    cpu = (cpu_seconds(server_pid) if server_pid else 0.0), cpu_seconds()
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    result = {"avatars_per_s": round(total / elapsed, 1), "errors": errors,
              "p95_ms": round(1000 * percentile(latencies, 95), 1),
              "client_cpu_ms_per_avatar": round(1000 * (cpu_seconds() - cpu[1]) / total, 3)}
    if server_pid:     # where the time goes: the server's CPU per avatar, and its cores
        server = cpu_seconds(server_pid) - cpu[0]
        result["server_cpu_ms_per_avatar"] = round(1000 * server / total, 3)
        result["server_cores"] = round(server / elapsed, 2)
    return result


async def at_rate(port, rate, seconds, prefix, cached_tags=None):
    """Open-loop: a request every 1/rate s on a pool of connections; latency of each."""
    pool = [await asyncio.open_connection("127.0.0.1", port) for _ in range(64)]
    free = asyncio.Queue()
    for conn in pool:
        free.put_nowait(conn)
    latencies, errors, tags, tasks = [], 0, {}, []

    async def one(i):
        nonlocal errors
        reader, writer = await free.get()
        path = f"/api/v1/avatar/{prefix}-{i}.png"
        extra = f"If-None-Match: {cached_tags[i]}\r\n" if cached_tags else ""
        start = time.perf_counter()
        status, _, tag = await fetch(reader, writer, path, extra)
        latencies.append(time.perf_counter() - start)
        errors += status != (304 if cached_tags else 200)
        tags[i] = tag
        free.put_nowait((reader, writer))

    n = int(rate * seconds)
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for _, writer in pool:
        writer.close()
    return {"requests": n, "errors": errors, "p50_ms": round(1000 * percentile(latencies, 50), 2),
            "p95_ms": round(1000 * percentile(latencies, 95), 2)}, tags


def split(server_ms: float, n: int = 1600, threads: int | None = None) -> dict:
    """CPU ms per avatar of each part of an answer, each timed alone in this thread, by the
    API's own model entry, z and ETag."""
    import numpy as np

    from gan_core import api, generate, noise, system

    system.limit_threads(system.serving_threads(threads))     # as serve does
    service = api.AvatarService()
    service.warm()
    entry, rows = service.default, generate.CALL_ROWS
    n = -(-n // rows) * rows                                  # whole calls
    ids = [f"t-{i}" for i in range(n)]

    def per_avatar(work):
        start = time.process_time()   # the generator's threads count too
        out = work()
        return out, 1000 * (time.process_time() - start) / n

    z, z_ms = per_avatar(lambda: np.stack(
        [noise.for_id(i, entry.generator.latent_dim, entry.namespace) for i in ids]))
    entry.generator(z[:rows])         # compiled before it is timed
    faces, g_ms = per_avatar(lambda: np.concatenate(
        [entry.generator(z[i:i + rows]) for i in range(0, n, rows)]))
    _, png_ms = per_avatar(lambda: [api.avatar_png(face, 64) for face in faces])
    _, tag_ms = per_avatar(lambda: [api.etag(entry, i, 64) for i in ids])
    parts = {"z_from_id": z_ms, "generator": g_ms, "png": png_ms, "etag": tag_ms}
    parts["http_loop_and_rest"] = server_ms - sum(parts.values())
    return {k: round(v, 3) for k, v in parts.items()}


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q / 100))] if values else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, help="serve --threads (default: its own)")
    parser.add_argument("--split", action="store_true",
                        help="then time the server's parts alone (see above)")
    args = parser.parse_args()
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 100_000
            and 0 < args.rate <= 5000 and 0 < args.seconds <= 120):
        parser.error("keep the load bounded: clients <= 256, requests <= 100,000, "
                     "rate <= 5,000/s, seconds <= 120")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threads = ["--threads", str(args.threads)] if args.threads else []
    server = subprocess.Popen([sys.executable, "-m", "gan_core", "serve", "--port", str(port),
                               "--rate-limit", "0", *threads], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the API did not start")
                time.sleep(0.3)
        warm = asyncio.run(throughput(port, 8, 256, "warm"))
        result = {"warm_up": warm,
                  "throughput": asyncio.run(throughput(port, args.clients, args.requests, "t",
                                                       server.pid))}
        fresh, tags = asyncio.run(at_rate(port, args.rate, args.seconds, "r"))
        result["at_rate"] = {"rate": args.rate, **fresh}
        result["cached_304"], _ = asyncio.run(at_rate(port, args.rate, args.seconds, "r", tags))
    finally:
        server.terminate()
        server.wait(10)
    if args.split:
        sys.path.insert(0, str(ROOT))
        result["cpu_ms_per_avatar"] = split(result["throughput"]["server_cpu_ms_per_avatar"],
                                            min(1600, args.requests), args.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
