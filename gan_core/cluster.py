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
from dataclasses import replace

from . import system

WINDOW_PER_WORKER = 3     # chunks in flight per worker: enough to keep each busy, bounded memory


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError("a cluster needs Dask, which is not installed: pip install 'dask[distributed]'") from None
    return distributed


# A worker's preload (Dask runs the text as a script): as the CLI's process, one framework.
ONE_FRAMEWORK = "from gan_core import system; system.one_framework()"


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
                                           dashboard_address=None, silence_logs=logging.ERROR,
                                           preload=[ONE_FRAMEWORK])
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


def make_avatars(client, job, ids_path, shard=None, total=None) -> dict:
    """`bulk.run` with its chunks made on the cluster. Each worker holds the generator once
    (bulk.generator caches it per process) and uses one thread."""
    from . import bulk

    return bulk.run(replace(job, threads=job.threads or 1), ids_path, shard, total=total,
                    make_all=lambda job, chunks: ordered(client, bulk.make_chunk, chunks, job))


# -- a classroom's training runs on the cluster's workers ---------------------------------------
#
# The server keeps its queue, its jobs and their pages; only where a job trains changes. The
# worker runs the same Trainer and writes the run folder itself, at the same path, so the
# runs folder must be one every worker sees (one machine, or the lab's shared folder). Its
# events come back through the engine (a Dask Queue, via the scheduler) to the same
# Job.record the local path feeds; pause, resume and stop go out through a Dask Variable.

class Interrupted(RuntimeError):
    """The worker training a job died: the run keeps its last checkpoint and can resume."""


POLL_S = 0.5


def train(client, job_id: str, spec, out, sources, control):
    """The job's training on a worker, as the stream of events the local Trainer yields.
    Ends with the End event, or raises Interrupted if the worker died first (Dask would run
    the task again elsewhere; it is cancelled instead, and the run keeps its checkpoints)."""
    import pickle
    import secrets

    from . import events as ev

    distributed = _distributed()
    token = f"{job_id}-{secrets.token_hex(8)}"
    events = distributed.Queue(f"gan-studio-events-{token}", client=client)
    wanted = distributed.Variable(f"gan-studio-control-{token}", client=client)
    wanted.set("run")
    future = client.submit(_train_on_worker, token, spec, str(out), sources, pure=False,
                           key=f"gan-studio-train-{token}")
    sent, worker = "run", None
    try:
        while True:
            want = "stop" if control.stopped else "pause" if control.paused else "run"
            if want != sent:
                wanted.set(want)
                sent = want
            try:
                event = pickle.loads(events.get(timeout=POLL_S))
            except TimeoutError:
                if future.done():
                    future.result()               # the task's own error, if it had one
                    raise Interrupted("the worker ended the run without a word")
                worker = worker or _running_on(client, future.key)
                if worker and future.key not in client.processing().get(worker, ()):
                    raise Interrupted(f"the worker training this run ({worker}) stopped")
                continue
            yield event
            if isinstance(event, ev.End):
                return
    finally:
        try:
            client.cancel(future)
            events.close()
            wanted.delete()
        except Exception:                          # noqa: BLE001  (the scheduler may be gone)
            pass


def _running_on(client, key) -> str | None:
    for worker, keys in client.processing().items():
        if key in keys:
            return worker
    return None


def _train_on_worker(token, spec, out, sources):
    """On the worker: the job's Trainer, its events put on the job's queue."""
    import pickle
    import threading

    from . import train as train_mod

    distributed = _distributed()
    started = distributed.Variable(f"gan-studio-started-{token}")
    try:
        started.get(timeout=0.1)
        # A second start: the worker that began this job died. Starting again from step 0
        # would overwrite the run, so this attempt only says so.
        raise Interrupted("the worker training this run died")
    except TimeoutError:
        started.set(True)
    events = distributed.Queue(f"gan-studio-events-{token}")
    wanted = distributed.Variable(f"gan-studio-control-{token}")
    control, done = train_mod.Control(), threading.Event()

    def follow():                      # the server's pause, resume and stop, within POLL_S
        while not done.wait(POLL_S):
            try:
                want = wanted.get(timeout=5)
            except Exception:          # noqa: BLE001  (the scheduler went away: stop cleanly)
                want = "stop"
            if want == "stop":
                control.stop()
            elif want == "pause":
                control.pause()
            else:
                control.resume()

    threading.Thread(target=follow, daemon=True).start()
    try:
        source = sources.load(spec.data, seed=spec.seed)
        trainer = train_mod.Trainer(
            spec.config, source, out, steps=spec.steps, seed=spec.seed,
            checkpoint_every=spec.checkpoint_every, sample_every=spec.sample_every,
            quality_every=spec.quality_every, resume=spec.resume, control=control)
        for event in trainer.run():
            events.put(pickle.dumps(event))
    finally:
        done.set()
