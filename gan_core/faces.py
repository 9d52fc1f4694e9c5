"""The built-in dataset: anime-style faces drawn with NumPy, so training works offline.

Every face is a handful of labelled factors (hair colour, bangs, eye colour, mouth, ...) plus a
small jitter of position and size. The factors are drawn once from a seeded generator; the image
is pure arithmetic on them, so the same seed gives the same faces on every machine, and any
face can be re-drawn from its index alone. Labels make it possible to measure what a GAN learned:
which hair colours it makes, and which it dropped (mode collapse made visible).

Drawing is vectorised over a batch: every shape is a signed distance in pixels, turned into
antialiased coverage, then painted over the batch at once. Small features (eyes, mouth) are
painted only on the band of rows they can occupy, which is most of the speed.
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import presets

SIZE = presets.IMAGE_SIZE
CHUNK = 64  # faces are drawn this many at a time

# The labelled factors: name -> the names of its values. Order matters: it is the label order.
FACTORS: dict[str, tuple[str, ...]] = {
    "skin": ("porcelain", "fair", "light", "tan", "brown"),
    "face_shape": ("round", "oval", "pointed"),
    "hair_colour": ("black", "dark brown", "brown", "blonde", "platinum", "red", "orange",
                    "pink", "purple", "blue", "teal", "green"),
    "hair_length": ("short", "medium", "long"),
    "bangs": ("blunt", "strands", "parted", "swept"),
    "side_locks": ("none", "short", "long"),
    "eye_colour": ("brown", "dark", "blue", "sky", "green", "red", "violet", "gold", "pink",
                   "teal"),
    "eye_size": ("small", "medium", "large"),
    "eye_spacing": ("narrow", "medium", "wide"),
    "eyebrows": ("level", "raised", "frowning"),
    "mouth": ("closed", "smile", "open"),
    "blush": ("no", "yes"),
    "glasses": ("no", "yes"),
    "ribbon": ("no", "yes"),
    "background": ("white", "cream", "peach", "pink", "lavender", "sky", "mint", "grey",
                   "navy", "charcoal"),
}
# Accessories are rarer than the other values; every other factor is uniform.
PROBABILITIES = {"glasses": (0.7, 0.3), "ribbon": (0.7, 0.3)}


def combinations() -> int:
    """How many distinct factor combinations there are (before jitter)."""
    return int(np.prod([len(v) for v in FACTORS.values()], dtype=np.int64))


def _rgb(*colours):
    return np.array(colours, dtype=np.float32) / 255.0


SKIN = _rgb((255, 236, 224), (252, 222, 200), (244, 204, 172), (222, 172, 132), (176, 122, 88))
HAIR = _rgb((42, 38, 52), (88, 56, 42), (146, 94, 58), (242, 212, 118), (236, 232, 222),
            (196, 52, 48), (238, 128, 56), (246, 152, 192), (146, 92, 196), (68, 110, 214),
            (52, 170, 170), (86, 164, 82))
EYES = _rgb((128, 78, 40), (52, 40, 48), (50, 96, 214), (90, 170, 236), (50, 150, 80),
            (206, 44, 52), (136, 70, 200), (222, 164, 40), (236, 96, 160), (32, 160, 150))
BACKGROUND = _rgb((250, 250, 250), (250, 240, 214), (252, 214, 190), (250, 206, 222),
                  (222, 210, 246), (196, 226, 250), (204, 240, 218), (200, 200, 204),
                  (40, 48, 86), (52, 52, 58))
RIBBONS = _rgb((220, 40, 60), (250, 120, 170), (60, 90, 210), (250, 250, 250))
CLOTHES = _rgb((40, 44, 70), (230, 230, 236), (170, 40, 50), (60, 110, 80), (90, 70, 140))
LINE = _rgb((60, 36, 40))[0]
WHITE = _rgb((255, 255, 255))[0]


# ---------------------------------------------------------------------------------------------
# Factors: drawn once per dataset, in order, so face i is the same whatever the batch size
# ---------------------------------------------------------------------------------------------

def sample_labels(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Factors and jitter of faces 0..n-1 of the dataset with this seed."""
    rng = np.random.default_rng(seed)
    labels = {name: rng.choice(len(values), n, p=PROBABILITIES.get(name)).astype(np.int8)
              for name, values in FACTORS.items()}
    labels["dx"] = rng.uniform(-2.0, 2.0, n).astype(np.float32)
    labels["dy"] = rng.uniform(-2.0, 2.0, n).astype(np.float32)
    labels["scale"] = rng.uniform(0.93, 1.07, n).astype(np.float32)
    labels["ribbon_colour"] = rng.integers(0, len(RIBBONS), n).astype(np.int8)
    labels["clothes"] = rng.integers(0, len(CLOTHES), n).astype(np.int8)
    return labels


# ---------------------------------------------------------------------------------------------
# Shapes: signed distances in pixels (negative inside), then coverage with a 1-pixel soft edge
# ---------------------------------------------------------------------------------------------

def _col(v):
    return np.asarray(v, dtype=np.float32)[:, None, None]


def _ellipse(X, Y, cx, cy, rx, ry):
    d = np.sqrt(np.square((X - cx) / rx) + np.square((Y - cy) / ry))
    return (d - 1.0) * np.minimum(rx, ry)


def _cover(sd):
    c = 0.5 - sd
    np.maximum(c, 0.0, out=c)
    return np.minimum(c, 1.0, out=c)


def _line(sd, width):
    """Coverage of a stroke of this width along the outline of a shape."""
    return np.clip(width / 2 + 0.5 - np.abs(sd), 0.0, 1.0)


def _paint(img, cover, colour, alpha=1.0):
    """img (3,B,h,W) <- colour over img with this coverage; colour (B,3), (3,) or per pixel.

    Channel planes, not channels-last: NumPy broadcasts over a trailing axis of 3 several
    times slower.
    """
    colour = np.asarray(colour, np.float32)
    if alpha != 1.0:
        cover = cover * np.float32(alpha)
    for ch in range(3):
        plane = img[ch]
        c = colour[..., ch]
        if c.ndim == 1:
            c = c[:, None, None]
        d = c - plane
        d *= cover
        plane += d


class _Canvas:
    """A batch of images and the pixel grid, with row bands for small features."""

    def __init__(self, n):
        self.img = np.empty((3, n, SIZE, SIZE), np.float32)
        self.X = np.arange(SIZE, dtype=np.float32)[None, None, :] + 0.5
        self.Y = np.arange(SIZE, dtype=np.float32)[None, :, None] + 0.5

    def band(self, top, bottom):
        """(view of img rows, Y) for rows [top, bottom)."""
        return self.img[:, :, top:bottom], self.Y[:, top:bottom]

    @contextlib.contextmanager
    def only(self, mask, top, bottom):
        """Paint rows [top, bottom) of the faces where mask is true: yields (img, Y, index)."""
        k = np.flatnonzero(mask)
        part = self.img[:, k, top:bottom]
        yield part, self.Y[:, top:bottom], k
        self.img[:, k, top:bottom] = part


# ---------------------------------------------------------------------------------------------
# Drawing, back to front
# ---------------------------------------------------------------------------------------------

def render(labels: dict[str, np.ndarray]) -> np.ndarray:
    """uint8 images (n, 64, 64, 3) of the faces these labels describe."""
    n = len(labels["skin"])
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for start in range(0, n, CHUNK):
        part = {k: v[start:start + CHUNK] for k, v in labels.items()}
        out[start:start + CHUNK] = _render_chunk(part)
    return out


def _render_chunk(L):
    n = len(L["skin"])
    c = _Canvas(n)
    X = c.X
    s = _col(L["scale"])
    cx, cy = _col(32 + L["dx"]), _col(35 + L["dy"])
    hair = HAIR[L["hair_colour"]]
    hair_dark, hair_light = hair * 0.62, hair + (1 - hair) * 0.45
    skin = SKIN[L["skin"]]
    shape = L["face_shape"]
    head_cy, head_r = cy - 4 * s, 19.5 * s
    ey = cy + 1.5 * s
    erx = _col(np.array([3.6, 4.3, 5.0], np.float32)[L["eye_size"]]) * s
    ery = erx * 1.3
    gap = _col(np.array([7.2, 8.2, 9.2], np.float32)[L["eye_spacing"]]) * s

    # Background: the colour, a little lighter at the top.
    bg = BACKGROUND[L["background"]]
    c.img[:] = bg.T[:, :, None, None] * (0.9 + 0.1 * (1 - c.Y / SIZE))

    # Shoulders and neck.
    img, Y = c.band(40, 64)
    _paint(img, _cover(_ellipse(X, Y, cx, cy + 36 * s, 26 * s, 12 * s)), CLOTHES[L["clothes"]])
    neck = np.maximum(np.abs(X - cx) - 5 * s, Y - (cy + 26 * s))
    _paint(img, _cover(np.maximum(neck, cy + 10 - Y)), skin * 0.86)

    # Hair behind the head, widening a little downwards: medium reaches the chin, long runs off
    # the bottom. A rounded box, so the ends are soft.
    img, Y = c.band(28, 64)
    length = _col(L["hair_length"])
    half = head_r + 1.0 + 0.12 * np.maximum(Y - head_cy, 0.0) * (length == 2)
    bottom = np.where(length == 2, 90.0, 58.0) + _col(L["dy"])
    qx, qy = np.abs(X - cx) - half + 4.0, Y - bottom + 4.0
    back = np.sqrt(np.square(np.maximum(qx, 0)) + np.square(np.maximum(qy, 0))) \
        + np.minimum(np.maximum(qx, qy), 0) - 4.0
    _paint(img, _cover(back) * (length > 0), hair_dark * 1.1)

    # The face: an ellipse whose lower half narrows to a chin.
    img, Y = c.band(14, 60)
    rx = 15.0 * s * _col(np.array([1.04, 0.97, 0.94], np.float32)[shape])
    ry = 17.5 * s
    chin = _col(np.array([0.22, 0.38, 0.55], np.float32)[shape])
    narrow = 1.0 - chin * np.clip((Y - cy) / ry, 0.0, 1.0)
    face = _ellipse(X, Y, cx, cy, rx * narrow, ry)
    _paint(img, _cover(face), skin)
    _paint(img, _line(face, 0.9), LINE, 0.7)

    # Eyes: lash line, white, iris with a darker top, pupil, two highlights.
    iris = EYES[L["eye_colour"]]
    img, Y = c.band(26, 48)
    for side in (-1.0, 1.0):
        ex = cx + side * gap
        lash = _ellipse(X, Y, ex, ey - 0.6, erx + 1.2, ery + 0.6)
        _paint(img, _cover(np.maximum(lash, Y - ey + 0.2 * ery)), LINE)
        inside = _cover(_ellipse(X, Y, ex, ey + 0.6, erx, ery))
        _paint(img, inside, WHITE)
        irx, iry = erx * 0.78, ery * 0.86
        iris_cover = _cover(_ellipse(X, Y, ex, ey + 1.0, irx, iry)) * inside
        shade = np.clip(0.45 + 0.7 * (Y - (ey - iry)) / (2 * iry), 0.45, 1.0)[..., None]
        _paint(img, iris_cover, iris[:, None, None, :] * shade)
        _paint(img, _cover(_ellipse(X, Y, ex, ey + 1.3, irx * 0.45, iry * 0.5)) * inside,
               iris * 0.25)
        _paint(img, _cover(_ellipse(X, Y, ex - 0.35 * irx, ey - 0.35 * iry, 1.3 * s, 1.5 * s)),
               WHITE)
        _paint(img, _cover(_ellipse(X, Y, ex + 0.35 * irx, ey + 0.55 * iry, 0.7 * s, 0.7 * s)),
               WHITE, 0.85)

    # A nose and the mouth; blush under the eyes.
    img, Y = c.band(38, 56)
    _paint(img, _cover(_ellipse(X, Y, cx, ey + ery + 1.5, 0.5, 0.7)), skin * 0.7)
    my = cy + 11.0 * s
    mouth = _col(L["mouth"])
    closed = _ellipse(X, Y, cx, my, 2.4 * s, 0.55)
    smile = np.maximum(np.abs(_ellipse(X, Y, cx, my - 2.6 * s, 3.4 * s, 2.8 * s)) - 0.45,
                       my - 1.0 * s - Y)
    opened = _ellipse(X, Y, cx, my, 2.6 * s, 2.1 * s)
    sd = np.where(mouth == 0, closed, np.where(mouth == 1, smile, opened))
    _paint(img, _cover(sd), np.where((L["mouth"] == 2)[:, None], _rgb((150, 40, 50))[0], LINE))
    tongue = np.maximum(opened, my + 0.3 - Y)
    _paint(img, _cover(tongue) * (mouth == 2), _rgb((238, 120, 130))[0])
    with c.only(L["blush"] == 1, 38, 52) as (img, Y, k):
        for side in (-1.0, 1.0):
            blush = _ellipse(X, Y, cx[k] + side * (gap[k] + 0.5), ey[k] + ery[k] + 3.0,
                             3.4 * s[k], 1.4 * s[k])
            _paint(img, _cover(blush), _rgb((246, 110, 130))[0], 0.45)

    # Front hair: a cap over the head, cut by a hairline that depends on the bangs.
    img, Y = c.band(7, 60)
    bangs = _col(L["bangs"])
    base = ey - ery - 2.5 * s
    zig = 2.2 * np.abs(((X - cx) / (3.6 * s)) % 2.0 - 1.0)           # points between strands
    part = 7.0 * np.clip(1.0 - np.abs(X - cx) / (9.0 * s), 0.0, 1.0)  # open forehead at the part
    hairline = np.where(bangs == 0, base - 0.5,
                        np.where(bangs == 1, base + 1.2 - zig,
                                 np.where(bangs == 2, base - part + 0.5 - 0.6 * zig,
                                          base - 0.28 * (X - cx) - 0.6 * zig)))
    front = np.maximum(_ellipse(X, Y, cx, head_cy, head_r + 0.5, head_r), Y - hairline)
    # Side locks: strips beside the cheeks, tapering to a point.
    locks = _col(L["side_locks"])
    lock_end = cy + np.where(locks == 2, 20.0, 8.0) * s
    taper = (lock_end - Y) * 0.35
    lock = np.maximum(np.abs(np.abs(X - cx) - (rx + 0.5)) - np.minimum(3.2 * s, taper),
                      np.maximum(head_cy - Y, Y - lock_end))
    hair_sd = np.where(locks > 0, np.minimum(front, lock), front)
    hair_cover = _cover(hair_sd)
    _paint(img, hair_cover, hair)
    # Strands, an anime shine band, and an outline.
    strands = _cover(np.abs(((X - cx) / (3.6 * s) + 0.5) % 1.0 - 0.5) * 3.6 * s - 0.35)
    _paint(img, hair_cover * strands * (Y > head_cy - 6) * np.clip((Y - hairline + 9) / 6, 0, 1),
           hair_dark, 0.55)
    shine = np.maximum(np.abs(_ellipse(X, Y, cx, head_cy, head_r * 0.68, head_r * 0.68)) - 1.0,
                       np.maximum(Y - head_cy + 2, hair_sd + 1.0))
    _paint(img, _cover(shine), hair_light, 0.8)
    _paint(img, _line(hair_sd, 0.8), hair_dark * 0.6, 0.8)

    # Eyebrows, drawn over the bangs as anime does: level, raised, or frowning.
    tilt = _col(np.array([0.0, 0.25, -0.35], np.float32)[L["eyebrows"]])
    raised = 1.2 * _col(L["eyebrows"] == 1)
    img, Y = c.band(18, 35)
    for side in (-1.0, 1.0):
        bx = cx + side * gap
        by = ey - ery - 3.2 * s - raised
        brow = np.maximum(np.abs(Y - by - tilt * side * (X - bx)) - 0.55,
                          np.abs(X - bx) - erx * 0.9)
        _paint(img, _cover(brow), hair_dark * 0.8, 0.9)

    # Accessories: round glasses, a ribbon on the head. Drawn only on the faces that wear them.
    frame = _rgb((70, 40, 40))[0]
    with c.only(L["glasses"] == 1, 24, 50) as (img, Y, k):
        for side in (-1.0, 1.0):
            rim = _ellipse(X, Y, cx[k] + side * gap[k], ey[k] + 0.8, erx[k] + 2.0, ery[k] + 1.2)
            _paint(img, _cover(rim), WHITE, 0.12)
            _paint(img, _line(rim, 0.9), frame)
        bridge = np.maximum(np.abs(Y - ey[k] + 0.6) - 0.45,
                            np.abs(X - cx[k]) - (gap[k] - erx[k] - 2.0))
        _paint(img, _cover(bridge), frame)
    with c.only(L["ribbon"] == 1, 5, 27) as (img, Y, k):
        bx, by = cx[k] + 11.0 * s[k], head_cy[k] - 13.0 * s[k]
        wing = np.maximum(np.abs(Y - by) - np.abs(X - bx) * 0.75, np.abs(X - bx) - 6.0 * s[k])
        bow = np.minimum(wing, _ellipse(X, Y, bx, by, 1.8, 1.8))
        ribbon = RIBBONS[L["ribbon_colour"][k]]
        _paint(img, _cover(bow), ribbon)
        _paint(img, _line(bow, 0.7), ribbon * 0.55)

    img = c.img
    img *= 255.0
    img += 0.5
    return np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 3, 0)


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------

class BuiltinFaces:
    """n faces, drawn when asked for: `faces[idx]` is a uint8 array (k, 64, 64, 3).

    Costs no disk and no memory beyond the labels; `faces.labels` has every face's factors.
    """

    name = "builtin"

    def __init__(self, n: int = 20_000, seed: int = 0):
        if n < 1:
            raise ValueError("the built-in dataset needs at least one face")
        self.n, self.seed = int(n), int(seed)
        self.labels = sample_labels(self.n, self.seed)

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        idx = np.arange(self.n)[idx]
        if np.ndim(idx) == 0:
            return render({k: v[[idx]] for k, v in self.labels.items()})[0]
        return render({k: v[idx] for k, v in self.labels.items()})


def sample(n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The first n faces of the dataset with this seed, and their labels."""
    faces = BuiltinFaces(n, seed)
    return faces[:], faces.labels


# ---------------------------------------------------------------------------------------------
# Reading a factor back: what hair colours does a generator make, and which did it drop?
# ---------------------------------------------------------------------------------------------

def hair_colours(images: np.ndarray) -> np.ndarray:
    """The hair colour (an index into FACTORS["hair_colour"]) of each uint8 face, real or
    generated, read from the top of the head: in each of the middle columns, the first pixels
    that differ from the background (the corners) are the hair cap; each votes for its nearest
    hair colour. On drawn faces it reads the label back (tests/test_faces.py checks it)."""
    x = np.asarray(images, np.float32)
    corners = np.concatenate([x[:, :4, :4], x[:, :4, -4:]], axis=1).reshape(len(x), -1, 3)
    background = np.median(corners, axis=1)
    region = x[:, 2:30, 26:38]                                     # above and on the head
    foreground = np.linalg.norm(region - background[:, None, None], axis=-1) > 40
    first = np.where(foreground.any(1), foreground.argmax(1), region.shape[1] - 1)
    # Four pixels below each column's first one: inside the cap, past its outline.
    rows = np.clip(first[:, None, :] + np.arange(1, 5)[None, :, None], 0, region.shape[1] - 1)
    pixels = np.take_along_axis(region, rows[..., None], axis=1).reshape(len(x), -1, 3)
    nearest = np.linalg.norm(pixels[:, :, None] - HAIR[None, None] * 255, axis=-1).argmin(-1)
    votes = np.stack([(nearest == c).sum(1) for c in range(len(HAIR))], axis=1)
    return votes.argmax(1)


def hair_colour_shares(images: np.ndarray) -> dict[str, float]:
    """The share of each hair colour among the faces (the dataset has them in equal parts)."""
    counts = np.bincount(hair_colours(images), minlength=len(HAIR))
    return {name: round(float(c) / len(images), 4)
            for name, c in zip(FACTORS["hair_colour"], counts)}


def missing_hair_colours(shares: dict[str, float]) -> list[str]:
    """The colours a generator (next to) never makes: under 1 % of its faces, where the
    dataset has each in 1/12 of them."""
    return [name for name, share in shares.items() if share < 0.01]
