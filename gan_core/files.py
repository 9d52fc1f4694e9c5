"""Files written safely: atomically (beside the target, then renamed over it, so a crash never
leaves half a file; os.replace is atomic on one filesystem), into folders held by a lock, and
the three places avatars go (a folder, a .zip, a .npy)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from .checks import Said


class DamagedFile(Said):
    """A file from outside that cannot be read as what it should be: every reader of such a
    file (a PNG with z, a run's config.json, a checkpoint, an id list) raises this, with a
    sentence that names the file, whatever its parser threw. The CLI prints it with exit 2; a
    page shows it as a warning."""


PARSER_ERRORS = (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError,
                 RecursionError, OverflowError, EOFError, zipfile.BadZipFile)


def read_json(path, limit: int = 16 * 2**20):
    """A JSON file's value; DamagedFile naming the file when it is not JSON (too deep, too
    large, not UTF-8, cut short)."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise DamagedFile(f"{path} is over {limit // 2**20} MB, too large to be this file")
    try:
        return json.loads(raw)
    except PARSER_ERRORS:
        raise DamagedFile(f"{path} is not valid JSON") from None


_calls = itertools.count()     # next() on a count is atomic: safe across threads


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` (same suffix, for writers that check it);
    on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The process id and a per-process count make the name unique among live writers; this
    # is 3 times faster than mkstemp, which matters when generating thousands of PNGs.
    tmp = path.parent / f".{path.stem}.{os.getpid()}-{next(_calls)}.tmp{path.suffix}"
    try:
        yield str(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path, data: bytes):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path, text: str):
    write_bytes(path, text.encode("utf-8"))


def check_folder(path):
    """Refuse a folder that could not be made or written, without making it: an ancestor
    that is a file (NotADirectoryError) or the nearest existing one read-only
    (PermissionError). Long commands call it before their slow start."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(20, "is a file, not a folder", str(existing))
    if not os.access(existing, os.W_OK):
        raise PermissionError(13, "the folder is not writable", str(existing))


def safe_name(name: str) -> str:
    """Any text as a file name: names with other characters get a hash suffix, so none
    collide."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
    if safe != name or safe.startswith("."):
        safe = f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return safe


class FolderLocked(ValueError):
    """Another live process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder, name=".lock"):
    """Hold an exclusive `flock` on `folder/.lock` while writing a folder, so two writers never
    interleave. The kernel lets go of it when its process dies, however it dies, so a lock is
    never stale; the file keeps the holder's pid for the message. A file left by a holder
    that died holding it is taken, and that pid is yielded so the caller can say so (None
    when the last holder let go normally)."""
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / name
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderLocked(f"{folder} is in use by another trainer (pid {holder}); "
                               f"wait for it to finish or stop it first") from None
        # The last holder may have unlinked the file between our open and our flock: then
        # this lock is on a file nobody else opens. Start again on the file that is there.
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    left = os.read(fd, 32).decode(errors="replace").strip()
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    try:
        yield (int(left) if left.isdigit() else left) or None
    finally:
        lock.unlink(missing_ok=True)       # before letting go: a waiter then opens a new file
        os.close(fd)


def remove_stale_temporaries(folder) -> list[str]:
    """Delete what `atomic_path` leaves behind when a writer is killed mid-write (only call
    this while holding the folder's lock); returns the names removed."""
    removed = []
    for path in Path(folder).rglob(".*.tmp*"):
        if path.is_file() and re.fullmatch(r"\..+\.\d+-\d+\.tmp(\.\w+)?", path.name):
            path.unlink(missing_ok=True)
            removed.append(str(path.relative_to(folder)))
    return removed


@contextlib.contextmanager
def npy_sink(out, shape: tuple):
    """A uint8 memory map of this shape that becomes `out` when the block ends well."""
    with atomic_path(out) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        yield array
        array.flush()
        del array


@contextlib.contextmanager
def png_sink(out):
    """write(name, png) into a folder (name.png, each file atomic) or a .zip (the archive
    atomic as a whole). Zip entries carry a fixed date, so the same avatars give the same
    archive, byte for byte, whoever wrote it and when."""
    out = Path(out)
    if out.suffix == ".zip":
        with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            yield lambda name, data: archive.writestr(zip_entry(f"{name}.png"), data)
    else:
        out.mkdir(parents=True, exist_ok=True)
        yield lambda name, data: write_bytes(out / f"{name}.png", data)


def zip_entry(name: str) -> zipfile.ZipInfo:
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


