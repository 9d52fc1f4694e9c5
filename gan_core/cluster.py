"""Work beyond one process, on a Dask cluster: the engine does placement, retries and
transport; GAN Studio only says what a unit of work is.

    with connect("local") as client:              # or "tcp://scheduler:8786"
        bulk.run(job, "players.txt", make_all=lambda job, chunks: ordered(client, f, chunks))

Dask rather than Ray: it installs in a tenth of the space, a local cluster starts in about a
second, and a task's overhead is a few milliseconds against a chunk's second of work
(docs/PERFORMANCE.md). Nothing else in GAN Studio imports this module unless asked, so the
app and every command work with Dask absent.

A task whose worker dies is run again on another worker (Dask's own retry), and a chunk's
files are written atomically, so a killed worker leaves nothing half written and nothing
twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque

from . import system

WINDOW_PER_WORKER = 3     # chunks in flight per worker: enough to keep each busy, bounded memory


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError("--cluster needs Dask: pip install 'dask[distributed]'") from None
    return distributed


@contextlib.contextmanager
def connect(address: str, workers: int | None = None):
    """A Dask client: "local" starts a cluster of one single-threaded worker process per core
    (or `workers`) on this machine for the block; any other address is a running scheduler's
    ("tcp://host:8786"), reached within 5 s or refused in one line."""
    distributed = _distributed()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if address == "local":
        n = workers or system.cores()
        if not 1 <= n <= 256:
            raise ValueError("--workers must be between 1 and 256")
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = distributed.Client(address, timeout="5s")
    except (OSError, TimeoutError, ValueError) as error:
        raise ValueError(f"cannot reach the Dask scheduler at {address}: "
                         f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
                         ) from None
    try:
        yield client
    finally:
        client.close()


def worker_count(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def ordered(client, fn, items, *args):
    """fn(*args, item) for each item on the cluster's workers, results yielded in the items'
    order, with at most a few items per worker in flight (bounded memory for any number).
    A worker's error reaches here as the task's exception."""
    window = WINDOW_PER_WORKER * worker_count(client)
    pending = deque()
    items = iter(items)
    for item in items:
        pending.append(client.submit(fn, *args, item, pure=False))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def make_avatars(client, job, ids_path, shard=None) -> dict:
    """`bulk.run` with its chunks made on the cluster. Each worker holds the generator once
    (bulk.generator caches it per process) and uses one thread."""
    from . import bulk
    from dataclasses import replace

    job = replace(job, threads=job.threads or 1)
    return bulk.run(job, ids_path, shard,
                    make_all=lambda job, chunks: ordered(client, bulk.make_chunk, chunks, job))
