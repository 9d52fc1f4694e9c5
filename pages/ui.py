"""What every page shares: the language, translated strings, the error guard, and the two
components (the Toy GAN player, the training page's live view). Pages import this; it is not
a page itself (app.py lists the pages)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import plotly
import streamlit as st
import streamlit.components.v1 as components
from streamlit.runtime.scriptrunner import script_runner

from gan_core import figures, files, i18n
from gan_core.checks import FieldError

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("gan_studio")


# --- Keras must keep its state between script runs --------------------------------------------
# After every script run (every slider move) Streamlit calls keras.backend.clear_session(),
# a workaround for TF1 graphs. In Keras 3 that is a full gc.collect() (measured: ~0.5 s of
# held GIL per slider move) and it resets Keras' global state under a training job that runs
# in another thread. Our models are cached objects that need none of it; matplotlib figures
# are still closed as before.
def _close_figures_only():
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


script_runner._clean_problem_modules = _close_figures_only


# --- Language ---------------------------------------------------------------------------------

def lang() -> str:
    if "lang" not in st.session_state:
        wanted = st.query_params.get("lang") or (st.context.locale or "")[:2]
        st.session_state.lang = wanted if wanted in i18n.LANGUAGES else i18n.DEFAULT
    return st.session_state.lang


def t(key: str, **fmt) -> str:
    return i18n.t(key, lang(), **fmt)


def said(error, label=None) -> str:
    """A refusal from gan_core in the page's words: a sentence of the catalogs where it has
    one (gan_core.checks.Said), a setting named by `label(field)`, the page's name for it
    (gan_core.checks.FieldError); its English words otherwise."""
    key = getattr(error, "key", None)
    if key and f"error.{key}" in i18n.catalog(lang()):
        return t(f"error.{key}", **error.fmt)
    if label is not None and isinstance(error, FieldError):
        return error.named(f"“{label(error.field)}”")
    return str(error)


def translator():
    """t() bound to this script run's language: a format_func that Streamlit (or AppTest)
    calls after the run still speaks the language the page was drawn in."""
    code = lang()
    return lambda key, **fmt: i18n.t(key, code, **fmt)


def uploader(label: str, types: list[str], key: str, max_mb: int | None = None):
    """st.file_uploader, its own words in the page's language. Streamlit draws "Upload" and
    "200MB per file • ZIP" in English whatever the page says (no parameter changes them), so
    the page's words are laid over them with CSS, scoped to this uploader's key."""
    mb = max_mb or st.get_option("server.maxUploadSize")
    words = {"button": t("ui.upload.button"),
             "limit": t("ui.upload.limit", mb=number(mb), types=", ".join(types).upper())}
    # a CSS string is a JSON string, kept in UTF-8 (CSS reads no \u escapes)
    quoted = {k: json.dumps(v, ensure_ascii=False) for k, v in words.items()}
    box = f".st-key-{key} [data-testid='stFileUploaderDropzone']"
    st.html(f"<style>{box} button p {{font-size: 0}}"
            f"{box} button p::after {{content: {quoted['button']}; font-size: 0.875rem}}"
            f"{box} [data-testid='stFileUploaderDropzoneInstructions'] span {{font-size: 0}}"
            f"{box} [data-testid='stFileUploaderDropzoneInstructions'] span::after "
            f"{{content: {quoted['limit']}; font-size: 0.75rem}}</style>")
    return st.file_uploader(label, type=types, key=key)


def number(value) -> str:
    """A number formatted for the page's language (i18n.number)."""
    return i18n.number(value, lang())


def language_picker():
    codes = list(i18n.LANGUAGES)
    lang()
    st.sidebar.selectbox(t("app.language"), codes, key="lang",
                         format_func=i18n.LANGUAGES.get)


# --- Errors: a message, never a traceback -----------------------------------------------------

def run_guarded(page):
    """Run a page; an unexpected error becomes a message and a log line. Streamlit's own
    rerun/stop signals are BaseExceptions and pass through."""
    # Keep the language in the URL so a shared link opens in it. Written only once the page
    # is known: a query-param write before st.navigation resolves it reads as "page not found".
    st.query_params["lang"] = lang()
    try:
        page.run()
    except Exception as error:  # noqa: BLE001 - the last line of defence for the UI
        log.exception("page %s failed", getattr(page, "title", page))
        st.error(t("app.error", error=f"{type(error).__name__}: {error}"))


# --- The Toy GAN player -----------------------------------------------------------------------

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _player_dir() -> str:
    """The component's folder: our index.html beside the plotly.js that the plotly package
    ships, so the browser needs nothing from the internet. Built once per version, atomically."""
    html = (ROOT / "assets" / "toy_player" / "index.html").read_bytes()
    version = hashlib.sha256(html + plotly.__version__.encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / "gan-studio" / f"toy_player-{version}"
    if not (target / "plotly.min.js").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        (staging / "index.html").write_bytes(html)
        shutil.copy(PLOTLY_JS, staging)
        try:
            os.replace(staging, target)
        except OSError:  # another session built it first
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


_toy_player = components.declare_component("toy_player", path=_player_dir())


@dataclasses.dataclass
class Player:
    """What a toy page's player shows, and the state the helpers below keep for it; each toy
    page's own state adds its runs."""
    playing: bool = False
    chunk: dict | None = None
    shown_step: int = 0
    serial: int = 0
    error: str = ""
    csv: tuple = (-1, "")         # history_csv's (steps, text)
    clicks: int = 0               # Step clicks handled (first_call)
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock, repr=False,
                                              compare=False)      # (one_at_a_time)

    def hand(self, make_chunk, start: int, frame_steps: list, jump: bool):
        """Give the player the chunk that `make_chunk(chunk_id)` draws from `start` over
        `frame_steps` (a jump: shown at once, what was queued dropped)."""
        self.serial += 1
        self.chunk = {**make_chunk(str(self.serial)), "jump": jump}
        self.shown_step = frame_steps[-1] if frame_steps else start


def toy_player(chunk: dict, fps: int, playing: bool, height: int = figures.TOY_HEIGHT,
               key="toy_player"):
    """Show `chunk` (figures.toy_chunk): its base now, its frames at `fps`. The server trains
    a chunk ahead of the screen; paused, the player shows the newest state it was sent at
    once, so a page pauses where its run is (and Pause sends that state as a jump chunk)."""
    _toy_player(chunk=chunk, fps=fps, playing=playing, height=height, key=key)


def one_at_a_time(function):
    """Run a toy page's callback or fragment holding its Player's lock: when a click comes
    while the fragment trains a chunk, Streamlit may start the click's run on a new thread
    before the old one has finished, and a Pause must not land in the middle of a chunk that
    then goes on training."""
    @functools.wraps(function)
    def locked(state, *args):
        with state.lock:
            return function(state, *args)
    return locked


def first_call(state, clicks: int) -> bool:
    """Whether a toy page's Step callback, given `state.clicks` as it was when its button was
    drawn, is the click's first run: Streamlit runs a callback again when the fragment's timer
    cuts short the rerun the click started, and a learner who asked for one step gets one."""
    if clicks != state.clicks:
        return False
    state.clicks += 1
    return True


def history_csv(state, steps: int, make_csv, label: str, file_name: str, key: str):
    """The toy pages' "download the history" button. The CSV is made once per step count
    and kept in `state.csv` ((steps, text)), not on every script run."""
    if state.csv[0] != steps:
        state.csv = (steps, make_csv())
    st.download_button(label, state.csv[1], file_name=file_name, mime="text/csv", key=key)


_toy_draw = components.declare_component("toy_draw", path=str(ROOT / "assets" / "toy_draw"))


def toy_draw(points: list, words: dict, max_points: int, key="toy_draw") -> list | None:
    """The 2-D toy's drawing pad over [-3, 3]²: returns the points drawn (None before the
    first stroke)."""
    return _toy_draw(points=points, words=words, max=max_points, key=key, default=None)


# --- The training page's live view ------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _train_live(live_dir: str):
    """Served from the folder where the job manager publishes each run's live state and grid
    (gan_core.jobs), so the component reads a run's <id>.json and <id>.png with a plain
    fetch: no script re-runs while a run is watched. plotly.js goes beside them (the plotly
    package's own copy: nothing comes from the internet)."""
    folder = Path(live_dir)
    files.write_bytes(folder / "index.html",
                      (ROOT / "assets" / "train_live" / "index.html").read_bytes())
    if not (folder / "plotly.min.js").exists() or \
            (folder / "plotly.min.js").stat().st_size != PLOTLY_JS.stat().st_size:
        files.write_bytes(folder / "plotly.min.js", PLOTLY_JS.read_bytes())
    return components.declare_component("train_live", path=live_dir)


@st.cache_resource(show_spinner=False)
def _fonts() -> dict:
    """Streamlit's own fonts, by URL from the component's folder, so the live view reads
    like the page around it (the files' names carry a hash that changes with Streamlit)."""
    media = Path(st.__file__).parent / "static" / "static" / "media"
    found = {kind: next(media.glob(f"Source{kind}VF-Upright*.woff2"), None)
             for kind in ("Sans", "Code")}
    return {kind: f"../../static/media/{path.name}" for kind, path in found.items() if path}


def train_live(live_dir: Path, state: dict, figure: dict | None, words: dict, poll_ms: int,
               key: str):
    """Show a run's status, progress, newest losses, curves (`figure`:
    figures.training_figure as JSON) and newest grid (`state`: JobManager.live), and keep
    them current from <live_dir>/<id>.json every `poll_ms`. Returns the status the component
    last saw change, which re-runs the page once when it does."""
    return _train_live(str(live_dir))(
        src=f"{state['id']}.json", state=state, figure=figure, traces=figures.TRAINING_TRACES,
        history_points=figures.HISTORY_POINTS, words=words, poll_ms=poll_ms, fonts=_fonts(),
        key=key, default=None)
