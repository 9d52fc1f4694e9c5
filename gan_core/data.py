"""Training images: a folder, a .zip, a URL of a .zip, the Kaggle anime faces, or the built-in
faces. Every source becomes one uint8 array (N, 64, 64, 3), decoded once and cached on disk.

- Decode once: the array is written to the cache (keyed by the files' names, sizes and times)
  as a .npy file and memory-mapped, so a second run starts in seconds and 63,632 faces
  (780 MB as uint8) never become a float32 copy in memory. Scaling to [-1, 1] happens per batch.
- Bad files (corrupt, truncated, empty, not images, decompression bombs, huge) are skipped and
  reported by name; an empty or all-bad source is an error. Files are checked here, up front:
  a corrupt JPEG inside a plain `image_dataset_from_directory` pipeline crashes mid-epoch.
- Zip archives are read in place, never unpacked; an archive with entries that would escape a
  target folder, or that would unpack past a set size, is refused as a whole.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import time
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from . import files, presets

SIZE = presets.IMAGE_SIZE
MAX_FILE_BYTES = 50 * 2**20          # one image file
MAX_PIXELS = 16_000_000              # width x height (4000 x 4000); more is refused unread
# A small file that decodes to a huge image (a palette PNG of 6300 x 6300 from 5 KB) costs
# seconds of CPU: past this many pixels, a file must also hold one byte per this many pixels.
BIG_PIXELS, MAX_PIXELS_PER_BYTE = 4_000_000, 200
MAX_UNPACKED_BYTES = 4 * 2**30       # a whole zip archive, unpacked
KAGGLE_DATASET = "splcher/animefacedataset"
CACHE_VERSION = 1


@dataclass
class ImageSet:
    images: np.ndarray                 # uint8 (N, 64, 64, 3), often memory-mapped
    name: str
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, reason)
    cached: bool = False               # True when the decode came from the cache

    def __len__(self):
        return len(self.images)


def default_cache_dir() -> Path:
    return Path(os.environ.get("GAN_STUDIO_CACHE", Path.home() / ".cache" / "gan-studio"))


# ---------------------------------------------------------------------------------------------
# One image: bytes -> 64x64 RGB uint8, or the reason it was skipped
# ---------------------------------------------------------------------------------------------

def decode(raw: bytes) -> np.ndarray:
    """Bytes of an image file -> uint8 (64, 64, 3): center crop to a square, then resize.
    Raises ValueError with a short reason for anything that is not a usable image."""
    if not raw:
        raise ValueError("empty file")
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"file over {MAX_FILE_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ValueError(f"image too large ({w}x{h})")
                if w * h > BIG_PIXELS and w * h > MAX_PIXELS_PER_BYTE * len(raw):
                    raise ValueError(f"decompression bomb ({w}x{h} from {len(raw):,} bytes)")
                img.seek(0)                      # a GIF's first frame
                img.draft("RGB", (SIZE * 2, SIZE * 2))   # JPEG: decode at a reduced scale
                img = ImageOps.exif_transpose(img)       # a phone photo's orientation
                img = _to_rgb(img)
                w, h = img.size
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                img = img.crop((left, top, left + side, top + side))
                img = img.resize((SIZE, SIZE), Image.BICUBIC, reducing_gap=2.0)
                return np.asarray(img, dtype=np.uint8)
    except ValueError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("decompression bomb") from None
    except Image.UnidentifiedImageError:
        raise ValueError("not an image") from None
    except (OSError, SyntaxError, EOFError) as error:
        raise ValueError(f"corrupt or truncated ({error})") from None


def decode_file(path) -> np.ndarray:
    """`decode` of a file on disk, its size refused before it is read."""
    if Path(path).stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"file over {MAX_FILE_BYTES // 2**20} MB")
    return decode(Path(path).read_bytes())


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with 16- and 32-bit greyscale scaled to 8 bits by its range (PIL's own convert
    clips them, which turns a 16-bit PNG almost white)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or values.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(values.max()), 1e-12)
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return img.convert("RGB")


# ---------------------------------------------------------------------------------------------
# Sources: each lists (name, size, mtime, read) so the cache key and the decode share a path
# ---------------------------------------------------------------------------------------------

def _folder_entries(root: Path):
    """The folder's files, recursively, in a fixed order. What cannot be read (a dangling
    symlink or a loop, an unreadable subfolder) becomes an entry whose read fails, so it is
    listed among the skipped files by name and the rest still loads."""
    def refused(reason):
        def read():
            raise ValueError(reason)
        return read

    unreadable = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable.append):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError as error:
                reason = ("a symlink loop" if error.errno == errno.ELOOP else
                          "a dangling symlink" if path.is_symlink() else
                          f"unreadable ({error.strerror})")
                yield str(path.relative_to(root)), -1, 0, refused(reason)
                continue
            yield str(path.relative_to(root)), st.st_size, st.st_mtime_ns, path.read_bytes
    for error in unreadable:
        where = Path(error.filename) if error.filename else root
        name = str(where.relative_to(root)) if where != root and root in where.parents else \
            where.name
        yield f"{name}/", -1, 0, refused(f"folder not readable ({error.strerror})")


def check_zip(archive: zipfile.ZipFile, max_unpacked: int | None = None):
    """Refuse archives that could write outside a target folder or unpack past a size."""
    max_unpacked = max_unpacked or MAX_UNPACKED_BYTES
    total = 0
    for info in archive.infolist():
        name = info.filename.replace("\\", "/")
        parts = [p for p in name.split("/") if p]
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise ValueError(f"zip refused: entry {info.filename!r} would escape the folder")
        total += info.file_size
        if total > max_unpacked:
            raise ValueError(f"zip refused: it would unpack past {max_unpacked / 2**30:.1f} GB")


def _zip_entries(archive: zipfile.ZipFile, stamp: int):
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        if info.is_dir() or Path(info.filename).name.startswith((".", "__MACOSX")) \
                or "__MACOSX/" in info.filename:
            continue

        def read(info=info):
            if info.file_size > MAX_FILE_BYTES:
                raise ValueError(f"file over {MAX_FILE_BYTES // 2**20} MB")
            # Through a bounded stream: an entry whose header understates its size stops at
            # the limit instead of inflating into memory.
            try:
                with archive.open(info) as f:
                    raw = f.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                raise ValueError(f"damaged zip entry ({error})") from None
            except NotImplementedError as error:
                raise ValueError(f"unsupported zip entry ({error})") from None
            except RuntimeError as error:        # encrypted
                raise ValueError(f"unreadable zip entry ({error})") from None
            if len(raw) > MAX_FILE_BYTES:
                raise ValueError(f"file over {MAX_FILE_BYTES // 2**20} MB (its zip header "
                                 "said less)")
            return raw
        yield info.filename, info.file_size, stamp, read


def _kaggle_folder() -> Path:
    try:
        import kagglehub
    except ImportError:
        raise ValueError(
            "the Kaggle dataset needs the kagglehub package (pip install kagglehub), or download "
            f"https://www.kaggle.com/datasets/{KAGGLE_DATASET} by hand, unzip it and pass "
            "--data with its folder") from None
    try:
        return Path(kagglehub.dataset_download(KAGGLE_DATASET))
    except Exception as error:  # kagglehub raises many kinds when offline
        raise ValueError(
            f"could not download {KAGGLE_DATASET} ({error}). Offline? Download "
            f"https://www.kaggle.com/datasets/{KAGGLE_DATASET} by hand, unzip it and pass "
            "--data with its folder") from None


DOWNLOAD_DEADLINE_S = 600            # a whole download, however slowly the server drips


def _download(url: str, cache_dir: Path) -> Path:
    """A zip from a URL into the cache: its announced size checked first, the stream stopped
    at the size limit and at an overall deadline, and nothing kept unless it is a zip."""
    target = cache_dir / "downloads" / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".zip")
    if target.exists():
        return target
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    try:
        with urllib.request.urlopen(url, timeout=30) as response, \
                files.atomic_path(target) as tmp:
            announced = response.headers.get("Content-Length")
            if announced and announced.isdigit() and int(announced) > MAX_UNPACKED_BYTES:
                raise ValueError(f"it is {int(announced) / 2**30:.1f} GB, over the "
                                 f"{MAX_UNPACKED_BYTES / 2**30:.0f} GB limit")
            with open(tmp, "wb") as f:
                copied = 0
                while chunk := response.read1(2**20):   # what has arrived: the deadline holds
                    copied += len(chunk)
                    if copied > MAX_UNPACKED_BYTES:
                        raise ValueError("download larger than the size limit")
                    if time.monotonic() > deadline:
                        raise ValueError(f"it took longer than {DOWNLOAD_DEADLINE_S} s")
                    f.write(chunk)
            if not zipfile.is_zipfile(tmp):
                raise ValueError("it is not a zip archive")
    except (OSError, ValueError) as error:
        raise ValueError(f"could not download {url}: {error}") from None
    return target


# ---------------------------------------------------------------------------------------------
# Loading with the decode cache
# ---------------------------------------------------------------------------------------------

BUILTIN_DEFAULT = 20_000      # faces in plain 'builtin'


def is_builtin(spec: str) -> bool:
    """Whether a data choice names the built-in faces ('builtin' or 'builtin:N')."""
    return spec == "builtin" or spec.startswith("builtin:")


def builtin_count(spec: str) -> int:
    """How many faces 'builtin' or 'builtin:N' asks for; ValueError for another N."""
    if spec == "builtin":
        return BUILTIN_DEFAULT
    n = spec.split(":", 1)[1]
    if not n.isdigit():
        raise ValueError(f"{spec}: the built-in faces are 'builtin' or 'builtin:N', N a whole "
                         "number")
    presets.check("builtin_faces", int(n))
    return int(n)


def load(spec: str, cache_dir: Path | str | None = None, seed: int = 0, progress=None, decode_budget_s: float | None = None) -> ImageSet:
    """Open a source: 'builtin' or 'builtin:N', a folder, a .zip, an http(s) URL of a .zip,
    or 'kaggle'. `progress(done, total)` is called while decoding. With `decode_budget_s`,
    a source whose decoding takes longer is refused (what a shared server gives one upload)."""
    from . import faces

    spec = str(spec)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    if is_builtin(spec):
        n = builtin_count(spec)
        images = faces.BuiltinFaces(n, seed)[:]
        return ImageSet(images, f"built-in faces ({n:,}, seed {seed})")
    if spec == "kaggle":
        return _load_folder(_kaggle_folder(), cache_dir, progress, decode_budget_s)
    if spec.startswith(("http://", "https://")):
        return _load_zip(_download(spec, cache_dir), cache_dir, progress, decode_budget_s)
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such folder or file: {spec}")
    if path.is_dir():
        return _load_folder(path, cache_dir, progress, decode_budget_s)
    if zipfile.is_zipfile(path):
        return _load_zip(path, cache_dir, progress, decode_budget_s)
    raise ValueError(f"{spec} is neither a folder nor a .zip archive")


def _load_folder(root: Path, cache_dir, progress, budget_s):
    return _decode_all(list(_folder_entries(root)), str(root.resolve()), root.name,
                       cache_dir, progress, budget_s)


def _load_zip(path: Path, cache_dir, progress, budget_s):
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path.name} is not a readable zip archive ({error})") from None
    with archive:
        check_zip(archive)
        stamp = path.stat().st_mtime_ns
        return _decode_all(list(_zip_entries(archive, stamp)), str(path.resolve()), path.name,
                           cache_dir, progress, budget_s)


def _decode_all(entries, where, name, cache_dir, progress, budget_s):
    key = hashlib.sha256(json.dumps(
        [CACHE_VERSION, SIZE, where, [e[:3] for e in entries]]).encode()).hexdigest()[:24]
    npy, meta = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    cached = _open_cache(npy, meta, name)
    if cached:
        return cached
    if not entries:
        raise ValueError(f"{name} has no files")
    # One row per file; rows of skipped files stay unused at the end (meta has the count).
    with files.atomic_path(npy) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(len(entries), SIZE, SIZE, 3))
        kept, skipped = 0, []
        deadline = None if budget_s is None else time.monotonic() + budget_s
        for i, (entry, _, _, read) in enumerate(entries):
            # Checked between files: one file is already bounded by MAX_PIXELS.
            if deadline is not None and time.monotonic() > deadline:
                raise ValueError(f"{name} takes too long to decode: {i:,} of {len(entries):,} "
                                 f"files in {budget_s:g} s, the limit for one upload")
            try:
                out[kept] = decode(read())
                kept += 1
            except (ValueError, OSError) as error:
                skipped.append((entry, str(error)))
            if progress and (i % 256 == 0 or i == len(entries) - 1):
                progress(i + 1, len(entries))
        if kept == 0:
            raise ValueError(f"{name} has no usable images ({len(skipped)} files skipped, "
                             f"e.g. {skipped[0][0]}: {skipped[0][1]})")
        out.flush()
        del out
    files.write_text(meta, json.dumps({"source": where, "count": kept, "skipped": skipped}))
    return _open_cache(npy, meta, name, cached=False)


def _open_cache(npy: Path, meta: Path, name: str, cached: bool = True) -> ImageSet | None:
    """The decoded images, memory-mapped, or None when there is no readable cache entry."""
    try:
        info = json.loads(meta.read_text())
        images = np.load(npy, mmap_mode="r")[:info["count"]]
        return ImageSet(images, name, [tuple(s) for s in info["skipped"]], cached)
    except (OSError, ValueError, KeyError):
        return None   # missing or damaged: decode again


def split(n: int, holdout: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): a fixed random split of n images."""
    order = np.random.default_rng(seed).permutation(n)
    holdout = min(holdout, n // 2)
    return np.sort(order[holdout:]), np.sort(order[:holdout])
