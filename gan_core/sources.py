"""Where a server's training data may come from, and the uploads it keeps.

A data choice is a spec string, as `data.load` takes it: `builtin[:N]`, `kaggle`, a folder
inside the server's data root, or an uploaded .zip. Nothing typed into a page reaches outside
the data root and the uploads folder. Uploads (image zips for training, generator files for
the explorer) are kept once each, named by their content.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from . import data, files

# An upload's first decode: 200 MB of ordinary 64 px faces takes well under a minute here.
UPLOAD_DECODE_S = 120.0


def keep(folder: Path, content: bytes, suffix: str) -> tuple[Path, bool]:
    """Store an upload by its content (the same file uploaded twice, or by two students, is
    kept once); returns (its path, whether it was already there)."""
    path = Path(folder) / f"{hashlib.sha256(content).hexdigest()[:24]}{suffix}"
    kept = path.exists()
    if not kept:
        files.write_bytes(path, content)
    return path, kept


def check_size(name: str, content: bytes, max_bytes: int):
    if len(content) > max_bytes:
        raise ValueError(f"{name} is {len(content) / 2**20:.0f} MB; the limit is "
                         f"{max_bytes / 2**20:.0f} MB")


def keep_model(folder: Path, name: str, content: bytes, max_bytes: int) -> Path:
    """Keep an uploaded generator file (.keras) for the explorer."""
    check_size(name, content, max_bytes)
    return keep(folder, content, ".keras")[0]


class Sources:
    def __init__(self, data_root: Path, uploads: Path, cache_dir: Path | None = None,
                 upload_decode_s: float = UPLOAD_DECODE_S):
        self.data_root, self.uploads = Path(data_root), Path(uploads)
        self.cache_dir, self.upload_decode_s = cache_dir, upload_decode_s

    def folders(self) -> list[str]:
        """The folders a page may offer: the data root's subfolders."""
        if not self.data_root.is_dir():
            return []
        root = self.data_root.resolve()
        return sorted(p.name for p in self.data_root.iterdir()   # a link out of it is not
                      if p.is_dir() and not p.name.startswith(".")
                      and p.resolve().is_relative_to(root))

    def resolve(self, spec: str) -> str:
        """A data choice as data.load takes it; ValueError for one outside the allowed
        folders or missing."""
        if data.is_builtin(spec) or spec == "kaggle":
            return spec
        path = Path(spec).resolve()
        if not any(path.is_relative_to(root.resolve()) for root in (self.data_root, self.uploads)):
            raise ValueError("data must come from the data folder or an upload")
        if not path.exists():
            raise ValueError(f"{path.name} does not exist")
        return str(path)

    def is_upload(self, spec: str) -> bool:
        return Path(spec).resolve().parent == self.uploads.resolve()

    def load(self, spec: str, seed: int = 0) -> data.ImageSet:
        """A data choice, opened. An upload's first decode has a time budget: a zip of small
        files that decode huge must not hold the server's CPU for minutes."""
        source = self.resolve(spec)
        return data.load(source, cache_dir=self.cache_dir, seed=seed,
                         decode_budget_s=self.upload_decode_s if self.is_upload(source) else None)

    def count(self, spec: str) -> int | None:
        """How many images a choice holds, for checks before training (None: not known
        without downloading it, or unreadable: the job then says why)."""
        source = self.resolve(spec)
        if source == "kaggle":
            return None
        if data.is_builtin(source):
            return data.builtin_count(source)
        try:
            return len(self.load(source))
        except (ValueError, OSError):
            return None

    def store_zip(self, name: str, content: bytes, max_bytes: int, max_files: int) -> str:
        """Keep an uploaded .zip of images (checked: size, entries, zip-slip, unpacked size);
        returns its data spec."""
        check_size(name, content, max_bytes)
        path, kept = keep(self.uploads, content, ".zip")   # an earlier one: checked again
        try:
            with zipfile.ZipFile(path) as archive:
                data.check_zip(archive)
                count = sum(1 for i in archive.infolist() if not i.is_dir())
                if count > max_files:
                    raise ValueError(f"{name} holds {count:,} files; the limit is {max_files:,}")
        except (zipfile.BadZipFile, ValueError) as error:
            if not kept:
                path.unlink()
            if isinstance(error, zipfile.BadZipFile):
                raise ValueError(f"{name} is not a zip archive") from None
            raise
        return str(path)

    def discard(self, spec: str):
        """Delete an upload (the job manager first checks that no run uses it)."""
        if self.is_upload(spec):
            Path(spec).resolve().unlink(missing_ok=True)
