"""The latent space of a generator: what the latent explorer computes (the course's exercises,
which build z from code, are `exercises`).

- Typicality: where ‖z‖ falls in the chi distribution of a standard normal z.
- Directions: SeFa (closed form, from the first layer's weights) and GANSpace (PCA of an early
  activation, regressed back to z), in units of sigma.
- Moves: interpolation (linear, spherical) and the neighbours of a face.
- Faces as files: a PNG that carries its z and its model, and the explorer's URL state.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import zipfile
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from . import files, i18n, images, noise
from .checks import Said

# ---------------------------------------------------------------------------------------------
# Typicality: a random z ~ N(0, I_d) has ‖z‖ close to sqrt(d); z = -0.4·ones has ‖z‖ = 4.
# ---------------------------------------------------------------------------------------------


def chi_mean(d: int) -> float:
    """E‖z‖ for z ~ N(0, I_d): sqrt(2) Γ((d+1)/2) / Γ(d/2); 9.95 for d = 100."""
    return math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))


def chi_pdf(r, d: int) -> np.ndarray:
    """The density of ‖z‖ for z ~ N(0, I_d), computed in log space so large d does not
    overflow."""
    r = np.maximum(np.asarray(r, np.float64), 1e-9)
    return np.exp((d - 1) * np.log(r) - r * r / 2 - (d / 2 - 1) * math.log(2)
                  - math.lgamma(d / 2))


def chi_cdf(r: float, d: int) -> float:
    """P(‖z‖ <= r), by integrating the chi density."""
    if r <= 0:
        return 0.0
    top = max(r, chi_mean(d) + 12.0)
    x = np.linspace(1e-9, top, 20001)
    pdf = chi_pdf(x, d)
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(x))])
    return float(np.clip(np.interp(r, x, cdf), 0.0, 1.0))


def typicality(z) -> dict:
    """‖z‖, the chi mean for its size, and the share of random z with a smaller norm."""
    z = np.asarray(z, np.float64).ravel()
    norm = float(np.linalg.norm(z))
    return {"norm": norm, "mean": chi_mean(z.size), "percentile": 100 * chi_cdf(norm, z.size)}


def snap_to_typical(z) -> np.ndarray:
    """The same direction, at the typical length (an all-zero z becomes ones, scaled)."""
    z = np.asarray(z, np.float32)
    norm = float(np.linalg.norm(z))
    if norm == 0:
        z, norm = np.ones_like(z), math.sqrt(z.size)
    return (z * (chi_mean(z.size) / norm)).astype(np.float32)


MAX_EDIT = 10.0     # sliders reach 4 (components) and 3 (directions); more is a broken link

# ---------------------------------------------------------------------------------------------
# Directions: unit vectors u in z space. Moving z by a·u shifts z's component along u by a
# standard deviations, so strengths are in sigma.
# ---------------------------------------------------------------------------------------------

@dataclass
class Direction:
    name: str
    vector: np.ndarray      # unit float32 (latent_dim,)


def _first_kernel(model):
    """The z -> features weights of the first layer, as a matrix A (features, latent)."""
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        w = np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel, np.float64)
        kind = type(layer).__name__
        if kind == "Dense":                    # (latent, features)
            return w.T
        if kind == "Conv2DTranspose":          # (kh, kw, filters, latent)
            return w.reshape(-1, w.shape[-1])
        raise ValueError(f"SeFa needs a Dense or Conv2DTranspose first layer, not {kind}")
    raise ValueError("the model has no layer with weights")


def sefa(model, k: int = 8) -> list[Direction]:
    """SeFa (Shen & Zhou 2021): the directions the first layer stretches most are the top
    right singular vectors of its weight matrix. No sampling, no training."""
    _, _, vt = np.linalg.svd(_first_kernel(model), full_matrices=False)
    return [Direction(f"SeFa {i + 1}", vt[i].astype(np.float32)) for i in range(min(k, len(vt)))]


def ganspace(generator, k: int = 8, n: int = 1000, seed: int = 0,
             layer: str | None = None) -> list[Direction]:
    """GANSpace (Härkönen et al. 2020): PCA of an early activation over n random z, each
    principal component regressed back to a direction in z. `generator` is a Generator;
    `layer` defaults to the output of the first block (after its activation)."""
    import keras

    model = generator.model
    if layer is None:
        layer = next(l.name for l in model.layers if type(l).__name__ in ("ReLU", "LeakyReLU"))
    features = keras.Model(model.inputs[0], model.get_layer(layer).output)
    z = noise.for_seed(seed, generator.latent_dim, n)
    with generator._lock:
        acts = keras.ops.convert_to_numpy(features(z, training=False)).reshape(n, -1)
    acts = acts.astype(np.float64) - acts.mean(0)
    _, _, vt = np.linalg.svd(acts, full_matrices=False)
    coords = acts @ vt[:k].T                                   # (n, k)
    coords /= coords.std(0)
    weights, *_ = np.linalg.lstsq(coords, z.astype(np.float64), rcond=None)   # (k, latent)
    return [Direction(f"GANSpace {i + 1}", (w / np.linalg.norm(w)).astype(np.float32))
            for i, w in enumerate(weights)]


def move(z, directions: list[Direction], strengths) -> np.ndarray:
    """z plus each direction times its strength (in sigma)."""
    z = np.asarray(z, np.float32).copy()
    for d, s in zip(directions, strengths):
        z += np.float32(s) * d.vector
    return z


def contact_sheet(generator, directions, strengths=(-3, -1.5, 0, 1.5, 3), seeds=(0, 1, 2)):
    """What each direction does, how consistently: rows are (direction, seed), columns the
    strengths. Returns the uint8 grid and the row labels."""
    zs, labels = [], []
    for d in directions:
        for seed in seeds:
            base = noise.for_seed(seed, generator.latent_dim)
            zs += [move(base, [d], [s]) for s in strengths]
            labels.append(f"{d.name} · seed {seed}")
    faces = generator(np.stack(zs))
    return images.grid(faces, len(strengths)), labels


def neighbours(z, directions: list[Direction], step: float, names: dict | None = None,
               lang: str = "en"):
    """A 3x3 grid around z: z in the middle, and ±step along the first four directions,
    labelled with the names a user gave them (`names`: index -> name). Returns (9 z's,
    9 labels)."""
    z = np.asarray(z, np.float32)
    moves = [(k, d, s) for k, d in enumerate(directions[:4]) for s in (-step, step)]
    zs = [move(z, [d], [s]) for _, d, s in moves]
    labels = [f"{(names or {}).get(k) or d.name} {'+' if s > 0 else '-'}"
              f"{i18n.number(round(abs(s), 2), lang)}σ" for k, d, s in moves]
    zs.insert(4, z)
    labels.insert(4, "●")
    return np.stack(zs), labels


# ---------------------------------------------------------------------------------------------
# Interpolation
# ---------------------------------------------------------------------------------------------

def lerp(a, b, n: int) -> np.ndarray:
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    return (1 - t) * np.asarray(a, np.float32) + t * np.asarray(b, np.float32)


def slerp(a, b, n: int) -> np.ndarray:
    """Along the great circle, with the norm interpolated linearly: midpoints keep a typical
    length, where a straight line between two random z passes through atypically short ones."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    omega = math.acos(float(np.clip(ua @ ub, -1, 1)))
    t = np.linspace(0, 1, n)[:, None]
    if omega < 1e-6:
        unit = ua * np.ones_like(t)
    else:
        unit = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / math.sin(omega)
    return (unit * ((1 - t) * na + t * nb)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The explorer's state: one face as (seed, edits, direction moves), and its history
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Face:
    """A face as the explorer holds it: the seed's z, components set by hand, and moves along
    directions. Small, hashable, and all of it fits in a URL."""
    seed: int = 0
    edits: tuple = ()          # ((component, value), ...): values set by hand
    strengths: tuple = ()      # ((direction index, sigma), ...)
    method: str = "sefa"
    # Truncation (BigGAN, StyleGAN): the seed's z scaled towards the mean of z (0) by psi:
    # more typical, cleaner faces, less variety. Edits are absolute, so it leaves them be.
    psi: float = 1.0

    def __post_init__(self):   # a face from a shared link is checked before it is drawn
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed <= noise.MAX_SEED:
            raise bad_seed()
        if isinstance(self.psi, bool) or not isinstance(self.psi, (int, float)) \
                or not 0.0 <= self.psi <= 1.0:
            raise bad_truncation()

    def base(self, latent_dim):
        return noise.for_seed(self.seed, latent_dim) * np.float32(self.psi)

    def z(self, latent_dim, directions):
        z = self.base(latent_dim)
        for i, v in self.edits:
            z[i] = v
        moves = dict(self.strengths)
        return move(z, [directions[i] for i in moves], list(moves.values()))

    def with_z(self, z, latent_dim):
        """This face set to z (to the sliders' 0.01), direction moves folded into the edits:
        only components that differ from the seed's are stored, so links stay short."""
        base = self.base(latent_dim)
        z = np.asarray(z, np.float64)
        return dataclasses.replace(self, strengths=(), edits=tuple(
            (i, round(float(v), 2)) for i, v in enumerate(z) if abs(v - base[i]) >= 0.005))


@dataclass
class Explorer:
    """One session's explorer: the face, its undo/redo history, favourites, names given to
    directions, and the neighbours' step."""
    face: Face = Face()
    undo: list = field(default_factory=list)
    redo: list = field(default_factory=list)
    favourites: list = field(default_factory=list)   # (name, z)
    step: float = 2.0          # the neighbours' step, in sigma: at 1 the faces look alike
    names: dict = field(default_factory=dict)   # method -> {index: a user's name}
    model: str = ""

    def set(self, face: Face):
        if face != self.face:
            self.undo.append(self.face)
            del self.undo[:-100]
            self.redo.clear()
            self.face = face

    def back(self):
        if self.undo:
            self.redo.append(self.face)
            self.face = self.undo.pop()

    def forward(self):
        if self.redo:
            self.undo.append(self.face)
            self.face = self.redo.pop()

    # The edits a page's widgets make. `directions` are those of the face's method.

    def set_component(self, i: int, value: float, latent_dim: int, directions):
        z = self.face.z(latent_dim, directions)
        z[i] = value
        self.set(self.face.with_z(z, latent_dim))

    def set_strength(self, k: int, sigma: float):
        strengths = dict(self.face.strengths)
        strengths[k] = round(float(sigma), 2)
        strengths = {i: s for i, s in strengths.items() if s}
        self.set(dataclasses.replace(self.face, strengths=tuple(sorted(strengths.items()))))

    def set_method(self, method: str, latent_dim: int, directions):
        """Other directions: the moves along the old ones are kept as component edits."""
        z = self.face.z(latent_dim, directions)
        self.set(dataclasses.replace(self.face.with_z(z, latent_dim), method=method))

    def new_seed(self, seed: int):
        self.set(Face(seed=int(seed), method=self.face.method, psi=self.face.psi))

    def reset(self):
        self.set(Face(seed=self.face.seed, method=self.face.method, psi=self.face.psi))

    def set_truncation(self, psi: float):
        self.set(dataclasses.replace(self.face, psi=round(float(psi), 2)))

    def snap(self, latent_dim: int, directions):
        self.set(self.face.with_z(snap_to_typical(self.face.z(latent_dim, directions)),
                                  latent_dim))

    def go_to(self, z, latent_dim: int):
        self.set(self.face.with_z(z, latent_dim))

    def keep(self, z, name: str):
        self.favourites.append((name, np.asarray(z, np.float32).copy()))

    def shrink_step(self):
        """Closer neighbours, after the user walked to one."""
        self.step = max(0.1, round(self.step * 0.7, 2))


def favourites_zip(favourites: list, faces: np.ndarray, model: str) -> tuple[bytes, list]:
    """The favourites as one ZIP of face PNGs (each carrying its z: face_png), and each one's
    PNG alone, in order."""
    pngs = [face_png(img, z, model) for (_, z), img in zip(favourites, faces)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, ((name, _), png) in enumerate(zip(favourites, pngs)):
            archive.writestr(f"{k + 1:02d}-{files.safe_name(name)}.png", png)
    return buffer.getvalue(), pngs


# ---------------------------------------------------------------------------------------------
# Faces as files, and as URLs
# ---------------------------------------------------------------------------------------------

PNG_Z, PNG_MODEL = "gan-studio-z", "gan-studio-model"


def face_png(image: np.ndarray, z, model: str, scale: int = 4) -> bytes:
    """A PNG of the face that carries its z and its model, so it can be made again."""
    z = [float(v) for v in np.asarray(z, np.float32).ravel()]
    return images.png_bytes(image, scale=scale, text={PNG_Z: json.dumps(z), PNG_MODEL: model})


def read_face_png(data: bytes, name: str = "this file") -> tuple[np.ndarray, str]:
    """(z, model) back from a PNG that `face_png` wrote; files.DamagedFile naming the file
    for anything else, whatever the parsers threw."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            text = dict(getattr(img, "text", {}))
    except Exception:  # PIL raises many kinds for a file that is not an image
        raise files.DamagedFile(f"{name} is not a PNG image", "not_png", name=name) from None
    if PNG_Z not in text:
        raise files.DamagedFile(f"{name} holds no z: only faces saved by GAN Studio can be "
                                "restored", "no_z", name=name)
    damaged = files.DamagedFile(f"{name}'s z is damaged", "damaged_z", name=name)
    try:
        z = np.array(json.loads(text[PNG_Z]), np.float64)
    except files.PARSER_ERRORS:
        raise damaged from None
    if z.ndim != 1 or not 1 <= len(z) <= noise.MAX_LATENT or not np.isfinite(z).all():
        raise damaged
    if np.abs(z).max() > MAX_EDIT:    # finite in float32, yet G would make NaN of it
        raise files.DamagedFile(f"{name}'s z is out of the explorer's range (each component "
                                f"from -{MAX_EDIT:g} to {MAX_EDIT:g})", "z_range", name=name,
                                max=f"{MAX_EDIT:g}")
    return z.astype(np.float32), text.get(PNG_MODEL, "")


def parse_seed(text) -> int:
    """A seed from a link: a whole number from 0 to noise.MAX_SEED, or a ValueError in the
    words the seed box uses."""
    text = str(text).strip()
    if not text.isdigit() or int(text) > noise.MAX_SEED:
        raise bad_seed()
    return int(text)


def parse_truncation(text) -> float:
    """Truncation psi from a link: a number from 0 to 1."""
    try:
        psi = float(str(text).strip())
    except ValueError:
        raise bad_truncation() from None
    if not 0.0 <= psi <= 1.0:          # nan fails this too
        raise bad_truncation()
    return psi


def bad_truncation() -> Said:
    return Said("the truncation must be a number from 0 to 1", "bad_truncation")


def bad_seed() -> Said:
    """The one refusal of a seed, in the words the seed box uses."""
    return Said(f"the seed must be a whole number from 0 to {noise.MAX_SEED:,}", "bad_seed",
                max=f"{noise.MAX_SEED:,}")


def encode_edits(edits: dict[int, float]) -> str:
    """The explorer's component edits for a URL: "3:0.5,17:-1.25"."""
    return ",".join(f"{i}:{v:g}" for i, v in sorted(edits.items()))


def decode_edits(text: str, latent_dim: int, what: str = "component") -> dict[int, float]:
    """The inverse of encode_edits; anything malformed is a ValueError that says which part
    (`what` names the index: a component of z, or a direction)."""
    edits = {}
    for part in filter(None, (text or "").split(",")):
        try:
            i, v = part.split(":")
            i, v = int(i), float(v)
        except ValueError:
            raise Said(f"{part[:40]!r} is not {what}:value", "malformed",
                       part=repr(part[:40])) from None
        if not 0 <= i < latent_dim:
            raise Said(f"{what} {i} does not exist (0–{latent_dim - 1})", f"no_{what}", i=i,
                       last=latent_dim - 1)
        if not math.isfinite(v) or abs(v) > MAX_EDIT:
            raise Said(f"{part[:40]!r} is out of range (values from -{MAX_EDIT:g} to "
                       f"{MAX_EDIT:g})", "out_of_range", part=repr(part[:40]),
                       max=f"{MAX_EDIT:g}")
        edits[i] = v
    return edits
