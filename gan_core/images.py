"""Image helpers shared by the trainer, the CLI and the pages: grids and PNG bytes."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
    """Generator output in [-1, 1] -> uint8 [0, 255]."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def grid(images: np.ndarray, cols: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """uint8 (n, h, w, 3) -> one uint8 image with the n images in rows of `cols`."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), fill, np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h,
            pad + k * (w + pad):pad + k * (w + pad) + w] = img
    return out


def labelled_grid(images: np.ndarray, labels, cols: int | None = None,
                  scale: int = 2) -> np.ndarray:
    """grid() with a line of text under each image (D's score under each face), the images
    enlarged `scale` times with no smoothing so the text is drawn sharp at the final size."""
    from PIL import ImageDraw, ImageFont

    n, h, w, _ = images.shape
    strip = 12 * scale
    font = ImageFont.load_default(size=10 * scale)
    cells = np.full((n, h * scale + strip, w * scale, 3), 255, np.uint8)
    cells[:, :h * scale] = images.repeat(scale, axis=1).repeat(scale, axis=2)
    for cell, label in zip(cells, labels):
        picture = Image.fromarray(cell)
        ImageDraw.Draw(picture).text((w * scale / 2, h * scale + strip / 2), str(label),
                                     fill=(50, 50, 50), font=font, anchor="mm")
        cell[:] = np.asarray(picture)
    return grid(cells, cols, pad=2 * scale)


def png_bytes(image: np.ndarray, scale: int = 1, text: dict | None = None) -> bytes:
    """uint8 (h, w, 3) -> PNG bytes, upscaled crisply by `scale`, with optional text chunks.

    Written here rather than by Pillow: a 64x64 face is mostly Pillow's per-call overhead
    (2.5 times slower), and bulk generation encodes thousands a second. Each row is stored
    with PNG's "Sub" filter (the difference from the pixel to the left), which turns the
    flat runs of an upscaled face into zeros for zlib."""
    image = np.asarray(image, np.uint8)
    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w, _ = image.shape
    rows = np.empty((h, 1 + 3 * w), np.uint8)
    rows[:, 0] = 1                                               # filter type: Sub
    flat = image.reshape(h, 3 * w)
    rows[:, 1:4] = flat[:, :3]
    np.subtract(flat[:, 3:], flat[:, :-3], out=rows[:, 4:])     # wraps modulo 256, as PNG wants
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0"
                             + str(value).encode("utf-8")))
    chunks += [_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def gif_bytes(frames: np.ndarray, scale: int = 1, fps: float = 8, bounce: bool = True) -> bytes:
    """uint8 (n, h, w, 3) -> an animated GIF that loops (there and back when `bounce`)."""
    frames = list(frames) + (list(frames[-2:0:-1]) if bounce else [])
    pictures = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale),
                                          Image.NEAREST) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=int(1000 / fps), loop=0)
    return buffer.getvalue()
