"""Training jobs that live in the server, not in a page: they outlive reloads, tab closes and
navigation, and pages attach to them by id.

One JobManager per server. It runs one job at a time per device (one GPU or the CPU: a
classroom shares it) and queues the rest. Each job runs `train.Trainer` in a worker thread and
records its events, so any page can draw the whole history at any time. Only the session that
started a job (its owner token) may pause, resume or stop it.

A job's folder is the trainer's run folder (gan_core.runfolder) with its job record, so a
restarted server still lists finished runs.

Every change to a job is also published as runs/.live/<id>.json (`LiveState`: status, step,
speed, the latest losses and quality; a few hundred bytes), and its newest sample grid,
labelled with D's scores, as runs/.live/<id>.png. A page polls those files instead of
re-running a script: a browser on the trainer's own cores costs the trainer far less that way.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import queue
import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from . import data, faces, files, images, presets, runfolder, sources, train
from . import events as ev
from .cluster import Interrupted       # (gan_core.cluster imports Dask only when used)

ACTIVE = ("queued", "running", "paused")
GRID_EVERY_S = 2.0    # the newest grid at most this often: labelling one takes the trainer's time
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """What to train: everything the page's form holds, the config whole."""
    data: str = "builtin:2000"
    config: presets.GANConfig = presets.PRESETS["dcgan"]
    steps: int = 500
    seed: int = 0
    sample_every: int = 20
    checkpoint_every: int = 100
    quality_every: int = 0
    resume: bool = False

    def to_dict(self) -> dict:
        return {**asdict(self), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, saved: dict) -> JobSpec:
        """A spec from job.json; one written before the config travelled whole (a preset's
        name and its overrides) reads as that preset with those overrides."""
        saved = dict(saved)
        if "preset" in saved:
            saved["config"] = presets.preset(saved.pop("preset"), **saved.pop("overrides", {}))
        else:
            saved["config"] = presets.GANConfig.from_dict(saved["config"])
        return cls(**saved)


FIRST_RUN_PRESET, FIRST_RUN_STEPS, FIRST_RUN_FACES = "quick", 2200, 2000


def first_run_spec() -> JobSpec:
    """The run the training page's form starts from: a learner's first, on the built-in
    faces, sized to show faces forming within minutes on a 2-core CPU (measured by
    tests/perf/first_run.py, which submits exactly this)."""
    return JobSpec(data=f"builtin:{FIRST_RUN_FACES}", config=presets.PRESETS[FIRST_RUN_PRESET],
                   steps=FIRST_RUN_STEPS, quality_every=200)


def _finite(x):
    """A number JSON can carry to a browser: NaN (a diverged loss) becomes null."""
    return x if x is not None and np.isfinite(x) else None


@dataclass(frozen=True)
class LiveState:
    """What runs/.live/<id>.json holds: the keys the live view (assets/train_live) reads.
    Numbers that are not finite are null."""
    id: str
    status: str              # queued, running, paused, or an events.END_STATUSES
    step: int
    total: int               # the steps the job trains to
    epoch: int | None        # None before the trainer has said how long an epoch is
    img_per_s: float         # the last logged speed (0 before the first)
    eta_s: float | None      # time left at that speed, while running
    loss_step: int | None    # the step of the losses below
    g_loss: float | None
    d_loss: float | None
    d_real: float | None
    d_fake: float | None
    quality: dict | None     # the newest quality row: step, swd, real_swd, ms_ssim, real_ms_ssim
    grid: dict | None        # the newest published grid: {"step", "missing": hair colours}
    place: int | None        # in the queue: 1 for the next job to run; None when not waiting


class Job:
    def __init__(self, job_id: str, owner: str, spec: JobSpec, out: Path):
        self.id, self.owner, self.spec = job_id, owner, spec
        self.status, self.message = "queued", ""
        self.control = train.Control()
        self.created = time.time()
        self.folder = runfolder.Run(out)
        self.info: dict = {}          # the trainer's start event's fields
        self._read_history()
        self.latest: dict | None = None    # the newest samples event's images and scores
        self.grid: dict | None = None      # the grid published as <id>.png: step, missing hair
        self._grid_at = 0.0
        self.clock = time.monotonic        # (a test's own clock, to check GRID_EVERY_S)
        self.step = self.metrics[-1]["step"] if self.metrics else 0
        self._lock = threading.Lock()

    def _read_history(self):
        """Metrics, quality rows and saved grids, as the run folder holds them."""
        self.metrics: list[dict] = self.folder.read(runfolder.METRICS)
        self.quality: list[dict] = self.folder.read(runfolder.QUALITY)
        self.samples: list[tuple[int, str]] = self.folder.samples()

    # -- what pages read ---------------------------------------------------------------------

    def snapshot(self) -> dict:
        with self._lock:
            return {"id": self.id, "status": self.status, "message": self.message,
                    "step": self.step, "total": self.spec.steps, "info": dict(self.info),
                    "metrics": list(self.metrics), "quality": list(self.quality),
                    "samples": list(self.samples), "latest": self.latest,
                    "spec": self.spec.to_dict()}

    def live(self, place: int | None = None) -> dict:
        """What changes every step, for pages that poll it (`place`: in the queue): a
        LiveState's fields, the only place they are filled in."""
        with self._lock:
            last = self.metrics[-1] if self.metrics else {}
            quality = self.quality[-1] if self.quality else None
            status, step, grid = self.status, self.step, self.grid
            per_epoch = self.info.get("steps_per_epoch")
        rate = last.get("img_per_s", 0.0)
        eta = train.eta_seconds(step, self.spec.steps, self.spec.config.batch_size, rate) \
            if status == "running" else None
        return asdict(LiveState(
            id=self.id, status=status, step=step, total=self.spec.steps,
            epoch=step // per_epoch if per_epoch else None, img_per_s=rate, eta_s=eta,
            loss_step=last.get("step"),
            **{k: _finite(last.get(k)) for k in ("g_loss", "d_loss", "d_real", "d_fake")},
            quality=quality and {k: _finite(v) for k, v in quality.items()}, grid=grid,
            place=place))

    def grid_png(self, force: bool = False) -> bytes | None:
        """The newest sample grid with D's score under each face, as PNG, when it is new and
        the last one is GRID_EVERY_S old (or `force`); None otherwise. Notes which hair
        colours the drawn faces lack (built-in data only: a real dataset has no such labels)."""
        latest = self.latest
        if latest is None or (self.grid and self.grid["step"] == latest["step"]) or (
                not force and self.clock() - self._grid_at < GRID_EVERY_S):
            return None
        labelled = images.labelled_grid(latest["images"],
                                        [f"{s:.2f}" for s in latest["scores"]], 8)
        missing = (faces.missing_hair_colours(faces.hair_colour_shares(latest["images"]))
                   if data.is_builtin(self.spec.data) else None)
        self._grid_at = self.clock()
        with self._lock:
            self.grid = {"step": latest["step"], "missing": missing}
        return images.png_bytes(labelled)

    def checkpoints(self) -> list[Path]:
        return self.folder.checkpoints()

    @staticmethod
    def timeline_gif(samples: list[tuple[int, str]]) -> bytes:
        """The saved sample grids, oldest first, as one animated GIF."""
        from PIL import Image

        frames = np.stack([np.asarray(Image.open(path).convert("RGB")) for _, path in samples])
        return images.gif_bytes(frames, fps=4, bounce=False)

    @property
    def generator_path(self) -> Path | None:
        """The run's exported generator file, once there is one."""
        return self.folder.exported_generator()

    # -- what the worker writes --------------------------------------------------------------

    def record(self, event: ev.Event):
        with self._lock:
            match event:
                case ev.Start():
                    self.info = asdict(event)
                    self.step = event.step
                    # A resumed run has dropped the rows logged after its checkpoint: re-read.
                    self._read_history()
                case ev.Metrics():
                    self.metrics.append({"step": event.step, **event.values()})
                    self.step = event.step
                case ev.Quality():
                    self.quality.append({"step": event.step, **event.values})
                case ev.Samples():
                    self.samples.append((event.step, event.path))
                    self.latest = {"step": event.step, "images": event.images,
                                   "scores": event.scores}
                case ev.Paused():
                    self.status = "paused"
                case ev.Resumed():
                    self.status = "running"
                case ev.End():
                    self.status, self.message = event.status, event.message
        if isinstance(event, (ev.Start, ev.End, ev.Paused, ev.Resumed)):
            self.save()

    def set_status(self, status, message=""):
        with self._lock:
            self.status, self.message = status, message
        self.save()

    def save(self):
        self.folder.write_job({
            "id": self.id, "owner": self.owner, "spec": self.spec.to_dict(),
            "status": self.status, "message": self.message, "created": self.created,
            # kept so a restarted server still counts epochs right and shows the last grid
            "steps_per_epoch": self.info.get("steps_per_epoch"), "grid": self.grid})


class JobManager:
    """All the jobs of one server, and the worker that runs them one at a time."""

    def __init__(self, runs: Path, data_root: Path, cache_dir: Path | None = None,
                 upload_decode_s: float = sources.UPLOAD_DECODE_S, cluster: str | None = None):
        """`cluster`: a Dask scheduler's address ("local" starts one here), whose workers
        then train the jobs, as many at once as there are workers (gan_core.cluster);
        None trains them here, one at a time."""
        self.runs = Path(runs)
        self.sources = sources.Sources(data_root, self.runs / runfolder.UPLOADS, cache_dir,
                                       upload_decode_s)
        self.live_dir = self.runs / runfolder.LIVE        # <id>.json (LiveState), for pollers
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job] = queue.Queue()
        self._waiting: list[str] = []
        self._lock = threading.Lock()
        self._load_past_runs()
        self._publish(*self._jobs.values())     # over what a server before this one left
        self._engine = contextlib.ExitStack()      # the cluster's client, while there is one
        self.client = None
        if cluster:
            from . import cluster as engine
            self.client = self._engine.enter_context(engine.connect(cluster))
        slots = 1 if self.client is None else engine.worker_count(self.client)
        self._workers = [threading.Thread(target=self._work, name=f"gan-studio-trainer-{i}",
                                          daemon=True) for i in range(slots)]
        for worker in self._workers:
            worker.start()
        # A process that exits with a job inside TensorFlow on a daemon thread aborts
        # ("terminate called without an active exception"): stop the job first.
        atexit.register(self.shutdown)

    # -- the pages' side ---------------------------------------------------------------------

    def submit(self, owner: str, spec: JobSpec, resume_id: str | None = None) -> Job:
        """Queue a job (validated now, so a bad form is an error on the page, not in the
        worker). With resume_id, the job continues that run from its last checkpoint."""
        presets.check("steps", spec.steps)
        presets.check("seed", spec.seed)
        presets.check("quality_every", spec.quality_every)
        self.sources.resolve(spec.data)       # raises ValueError for a path not allowed
        n = None if resume_id else self.sources.count(spec.data)
        if n is not None:                     # the worker's own size checks, now
            train.check_data_size(n, spec.config.batch_size, spec.quality_every)
        with self._lock:
            if resume_id:
                old = self._jobs[resume_id]
                if old.status in ACTIVE:
                    raise ValueError("this run is still going")
                if old.owner != owner:
                    raise PermissionError("only the session that started a run can resume it")
                if not old.checkpoints():
                    raise ValueError("this run has no checkpoint to resume from")
                job_id, out = old.id, old.folder.path
                # the run goes on as it was recorded (the trainer refuses anything else)
                spec = replace(spec, resume=True,
                               config=train.resumable(old.folder).config)
            else:
                # 128 random bits: the live files are served by id to whoever asks
                job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(16)
                out = self.runs / job_id
                out.mkdir(parents=True, exist_ok=True)
            job = Job(job_id, owner, spec, out)
            self._jobs[job_id] = job
            self._waiting.append(job_id)
            job.save()
        self._queue.put(job)
        self._publish(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def live(self, job: Job) -> dict:
        """The job's LiveState, as the live view reads it: the one writer of its keys."""
        return job.live(self.position(job))

    def position(self, job: Job) -> int | None:
        """1 for the next job to run, None when not waiting."""
        with self._lock:
            return self._waiting.index(job.id) + 1 if job.id in self._waiting else None

    def act(self, job_id: str, owner: str, action: str):
        """pause, resume or stop a job; only its owner may."""
        job = self._jobs[job_id]
        if job.owner != owner:
            raise PermissionError("only the session that started this job can control it")
        if action == "pause":
            job.control.pause()
        elif action == "resume":
            job.control.resume()
        elif action == "stop":
            job.control.stop()
            with self._lock:
                left = job.id in self._waiting       # never started: just leave the queue
                if left:
                    self._waiting.remove(job.id)
                    job.set_status("stopped", "stopped before it started")
            if left:
                self._publish(job, *self._waiting_jobs())
        else:
            raise ValueError(f"unknown action {action!r}")

    def discard_upload(self, spec: str):
        """Delete an upload that no run uses (its preview failed, say)."""
        path = Path(spec).resolve()
        if not any(j.spec.data == spec or Path(j.spec.data).resolve() == path
                   for j in self._jobs.values()):
            self.sources.discard(spec)

    def shutdown(self, timeout: float = 60):
        """Stop every job (each keeps its last checkpoint) and end the worker."""
        with self._lock:
            self._waiting.clear()
        for job in self._jobs.values():
            if job.status in ACTIVE:
                job.control.stop()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout)
        self._engine.close()

    # -- the worker --------------------------------------------------------------------------

    def _waiting_jobs(self) -> list[Job]:
        with self._lock:
            return [self._jobs[i] for i in self._waiting]

    def _publish_grid(self, job: Job, force: bool = False):
        """The job's newest sample grid as <id>.png, when there is a new one to show. A failed
        write costs pollers one picture, not the job (see _publish)."""
        png = job.grid_png(force=force)
        if png is not None:
            try:
                files.write_bytes(self.live_dir / f"{job.id}.png", png)
                job.save()                 # the job record names the grid now published
            except OSError as error:
                log.warning("could not publish %s's grid: %s", job.id, error)

    def _publish(self, *jobs: Job):
        """Write each job's live state where pollers read it (atomically: a reader never
        sees half a file). A failed write (a full disk) costs pollers one update, not the
        job: its own checkpoint writes say what is wrong."""
        for job in jobs:
            try:
                # the grid first, so the state never names a grid that is not there
                self._publish_grid(job, force=job.status not in ACTIVE)
                files.write_text(self.live_dir / f"{job.id}.json", json.dumps(self.live(job)))
            except OSError as error:
                log.warning("could not publish %s: %s", job.id, error)

    def _work(self):
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.id not in self._waiting:      # stopped while it waited
                    continue
                self._waiting.remove(job.id)
            self._publish(*self._waiting_jobs())          # everyone behind moves up
            self._run(job)

    def _run(self, job: Job):
        job.set_status("running")
        self._publish(job)
        try:
            for event in self._events(job):
                if isinstance(event, ev.End):   # the last grid first: whoever sees the end finds it
                    self._publish_grid(job, force=True)
                job.record(event)
                self._publish(job)
        except Exception as error:  # bad data, a full disk: the job says so, the server lives
            if isinstance(error, Interrupted):      # a cluster's worker died mid-run
                job.set_status("interrupted", f"{error}; resume it from its last checkpoint")
            else:
                job.set_status("error", f"{type(error).__name__}: {error}")
        if job.status in ("running", "paused"):          # the loop ended without an end event
            job.set_status("error", "training ended unexpectedly")
        self._publish(job)

    def _events(self, job: Job):
        """The job's training, as events: here, or on a cluster worker."""
        if self.client is not None:
            from . import cluster
            return cluster.train(self.client, job.id, job.spec, job.folder.path, self.sources,
                                 job.control)
        source = self.sources.load(job.spec.data, seed=job.spec.seed)
        return train.Trainer(
            job.spec.config, source, job.folder.path, steps=job.spec.steps,
            seed=job.spec.seed,
            checkpoint_every=job.spec.checkpoint_every, sample_every=job.spec.sample_every,
            quality_every=job.spec.quality_every, resume=job.spec.resume,
            control=job.control).run()

    def _load_past_runs(self):
        for run in runfolder.jobs_under(self.runs):
            try:
                saved = run.read_job()
                job = Job(saved["id"], saved["owner"], JobSpec.from_dict(saved["spec"]), run.path)
                job.created, job.message = saved["created"], saved.get("message", "")
                if saved.get("steps_per_epoch"):
                    job.info = {"steps_per_epoch": saved["steps_per_epoch"]}
                # A job that was going when the server stopped is not going any more.
                job.status = saved["status"] if saved["status"] not in ACTIVE else "stopped"
                # the grid a server before this one published, if its picture is still there
                grid = saved.get("grid")
                job.grid = grid if isinstance(grid, dict) and \
                    (self.live_dir / f"{job.id}.png").exists() else None
                self._jobs[job.id] = job
            except (OSError, ValueError, KeyError, TypeError):
                continue                               # a damaged job.json hides one run
