"""Avatars for a file of player ids, any number of them: `generate --ids`.

The ids are read as a stream and made in chunks of CHUNK, so memory stays bounded whatever
the file's length. A chunk is the unit of work everywhere:

    job = Job.plan(model, out)                  # what to make, and where
    for part in job.chunks(read_ids(path)):     # (index of the first id, ids)
        result = make_chunk(job, part)          # here, or on a cluster's worker

`run(job, ids)` makes the chunks in this process; `gan_core.cluster.run` makes the same chunks
on a Dask cluster's workers. Into a folder, the chunk writes its own files (each atomic), so a
folder is resumable: a re-run skips the ids whose file is there. Into a .zip or .npy, the
chunk returns its bytes and the driver writes them in id order, so the output is the same
bytes wherever the chunks ran.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import files, noise
from .presets import IMAGE_SHAPE

CHUNK = 1024                 # ids per unit of work: about a second of one core
MANIFEST = ".gan-studio-avatars.json"   # a folder's namespace: whose faces are in it


# -- the ids ------------------------------------------------------------------------------------

def read_ids(path, shard: str | None = None):
    """The ids of a file, one a line (blank lines skipped), streamed; with shard "K/N", every
    N-th id from the K-th, so N machines split one file with no coordination. A file that is
    not UTF-8 text, or an id the API could never serve, is refused with the line's number."""
    k, n = parse_shard(shard) if shard else (1, 1)
    count = 0
    try:
        with open(path, "rb") as f:
            for line_no, raw in enumerate(f, 1):
                if len(raw) > 4 * noise.MAX_ID_BYTES:     # never decode a huge line whole
                    raise files.DamagedFile(f"{path}, line {line_no}: an id is at most "
                                     f"{noise.MAX_ID_BYTES} bytes of UTF-8")
                try:
                    text = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    raise files.DamagedFile(f"{path} is not UTF-8 text (one id a line); line "
                                     f"{line_no} is not") from None
                if not text:
                    continue
                try:
                    noise.check_id(text)
                except ValueError as error:
                    raise files.DamagedFile(f"{path}, line {line_no}: {error}") from None
                if count % n == k - 1:
                    yield text
                count += 1
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a file of ids") from None
    if count == 0:
        raise ValueError(f"{path} has no ids")


def parse_shard(spec: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be K/N, like 2/8, not {spec!r}") from None
    if not 1 <= k <= n <= 100_000:
        raise ValueError(f"--shard {spec}: K must be between 1 and N (N at most 100,000)")
    return k, n


# -- the job ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """What every chunk needs to know; small, so it travels to a cluster's workers."""
    model: str            # the generator file (the same path on every worker)
    model_hash: str       # its hash: a worker with another file at that path is refused
    out: str
    form: str             # "folder", "zip" or "npy"
    precision: str = "float32"
    threads: int = 0      # the generator's CPU threads in a worker (0: the backend's default)
    chunk: int = CHUNK

    @classmethod
    def plan(cls, model, out, precision="float32", threads=0, chunk=CHUNK) -> Job:
        if not Path(model).is_file():
            raise FileNotFoundError(f"no such model file: {model}")
        suffix = Path(out).suffix
        form = {".zip": "zip", ".npy": "npy"}.get(suffix, "folder")
        return cls(str(Path(model).resolve()), noise.model_hash(model), str(out), form,
                   precision, threads, chunk)

    @property
    def namespace(self) -> str:
        return noise.namespace_of(self.model_hash)

    def chunks(self, ids):
        """(index of the chunk's first id, its ids) for a stream of ids."""
        ids = iter(ids)
        for index in itertools.count(0, self.chunk):
            part = list(itertools.islice(ids, self.chunk))
            if not part:
                return
            yield index, part

    def missing(self, ids):
        """Into a folder: only the ids whose file is not there yet (each file is written
        atomically, so one that is there is whole)."""
        out = Path(self.out)
        return (i for i in ids if not (out / f"{files.safe_name(i)}.png").exists())


def open_folder(job: Job) -> bool:
    """Claim a folder for this model's avatars; True when it already held some of them (a
    re-run, which then skips what is written). A folder of another model's avatars is refused:
    mixing two namespaces would give two players' faces from two generators."""
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    try:
        held = json.loads(manifest.read_text())["namespace"]
    except FileNotFoundError:
        held = None
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{manifest} is damaged; remove it to write avatars there") from None
    if held is not None and held != job.namespace:
        raise ValueError(f"{out} holds avatars of another generator ({held}); write these "
                         "into another folder")
    files.remove_stale_temporaries(out)         # what a killed writer left behind
    files.write_text(manifest, json.dumps({"namespace": job.namespace}))
    return held is not None


# -- one chunk (here or on a worker) -----------------------------------------------------------

_generators: dict = {}        # (model, precision) -> Generator, once per process


def generator(job: Job):
    from . import generate, system

    key = (job.model, job.precision)
    if key not in _generators:
        if not os.path.isfile(job.model):
            raise FileNotFoundError(f"{os.uname().nodename} has no model file {job.model}: "
                                    "every worker needs it at the same path")
        if noise.model_hash(job.model) != job.model_hash:
            raise ValueError(f"{os.uname().nodename}'s {job.model} is another file than the "
                             "driver's (its hash differs): every worker needs the same model")
        if job.threads and not _generators:
            system.limit_threads(job.threads)
        _generators[key] = generate.Generator.load(job.model, job.precision)
    return _generators[key]


def make_chunk(job: Job, part):
    """One chunk's avatars. Folder: written there, returns how many. Zip: returns each PNG's
    bytes. Npy: returns the uint8 pixels."""
    from . import generate

    index, ids = part
    gen = generator(job)
    z = np.stack([noise.for_id(i, gen.latent_dim, job.namespace) for i in ids])
    if job.form == "npy":
        return gen(z)
    if job.form == "zip":
        pngs = [b""] * len(ids)
        generate.encode(gen, z, pngs.__setitem__)
        return pngs
    return generate.write_pngs(gen, z, [files.safe_name(i) for i in ids], job.out)


# -- the driver ---------------------------------------------------------------------------------

def count(ids_path, shard=None) -> int:
    """How many ids the file holds (of this shard): the whole file checked, before any work."""
    return sum(1 for _ in read_ids(ids_path, shard))


def run(job: Job, ids_path, shard=None, make_all=None, total: int | None = None) -> dict:
    """Make the avatars of every id in the file (`total`: its `count`, when known). make_all
    (job, chunks) yields each chunk's result in order; the default makes them here, one after
    another (gan_core.cluster passes its own). Returns {"n", "skipped"}: avatars made, and
    already there (a re-run)."""
    make_all = make_all or (lambda job, chunks: (make_chunk(job, c) for c in chunks))
    total = count(ids_path, shard) if total is None else total
    ids = read_ids(ids_path, shard)
    if job.form == "folder":
        with files.folder_lock(job.out, ".avatars.lock"):
            again = open_folder(job)
            made = sum(make_all(job, job.chunks(job.missing(ids) if again else ids)))
            # a worker killed mid-chunk (on a cluster) left its temporary; its chunk was redone
            files.remove_stale_temporaries(job.out)
            return {"n": made, "skipped": total - made}
    # The driver writes in id order; each chunk is kept only until its result is back.
    chunks, parts = itertools.tee(job.chunks(ids))
    results = zip(parts, make_all(job, chunks))
    if job.form == "npy":
        with files.npy_sink(job.out, (total, *IMAGE_SHAPE)) as array:
            for (index, _), pixels in results:
                array[index:index + len(pixels)] = pixels
    else:
        with files.png_sink(job.out) as write:
            for (_, part), pngs in results:
                for player_id, data in zip(part, pngs):
                    write(files.safe_name(player_id), data)
    return {"n": total, "skipped": 0}
