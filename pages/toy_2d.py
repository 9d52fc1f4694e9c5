"""The Toy GAN page's 2-D mode: mode collapse happening, and cured (gan_core.toy2d).

Built as the 1-D mode is: while playing, a fragment trains one chunk a second (FRAMES_PER_CHUNK
frames) and hands it to the same player component, which animates the frames in the browser.
The set-up lives in the URL (?toy=2d&story=...&setup=...), so a teacher can share an exact run.
Not a page of its own: pages/toy_gan.py shows it when the 2-D switch is on.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from gan_core import figures, noise, toy2d
from pages import ui

# This module is imported once per server, not run per script run as a page is: a translator
# bound here would speak the first session's language to every later one. Each call asks
# the session (ui.t); a format_func, which Streamlit may call after the run, binds its run's.
t = ui.t
FPS = 15
FRAMES_PER_CHUNK = 15      # one chunk a second at FPS
MIN_DRAWN = 10
FIELDS = [f.name for f in dataclasses.fields(toy2d.Toy2DConfig)]


@dataclasses.dataclass
class Page2D(ui.Player):
    """One browser session's 2-D toy: the runs (A, and B when comparing), what plays."""
    runs: list = dataclasses.field(default_factory=list)
    drawn: list = dataclasses.field(default_factory=list)
    trained: list = dataclasses.field(default_factory=list)    # (config, drawn) of each run
    drawn_with: tuple = ()          # the layers and language the shown chunk was drawn with
    from_url: bool = False

    def show(self, start, frame_steps, jump):
        self.hand(lambda n: figures.toy2d_chunk(self.runs, start, frame_steps, labels(), f"2d-{n}",
                                                shown_layers(), ui.lang()),
                  start, frame_steps, jump)


def main():
    state: Page2D = st.session_state.setdefault("toy2d_page", Page2D())
    if not state.from_url:
        read_url()
        state.from_url = True
    cfgs = settings()                        # the sidebar: story, data, networks, cure, A/B
    if cfgs:
        write_url(cfgs[0])                   # first: the link is right before the runs rebuild
    st.title(t("toy2d.title"))
    st.markdown(t("toy2d.intro"))
    if st.session_state.toy2d_data == "drawn":
        draw_data(state)
    if cfgs and apply(state, cfgs):
        player(state)                        # play, steps, reset, speed; the plane; timeline
        st.subheader(t("toy2d.explain_header"))
        left, right = st.columns(2, gap="large")
        for k, key in enumerate(("plane", "modes", "quality", "divergence", "losses")):
            (left if k in (0, 4) else right).markdown(t(f"toy2d.explain.{key}"))
    st.caption(t("toy2d.link"))


def labels() -> dict:
    return ui.i18n.section("toy2d.fig.", ui.lang())


def shown_layers() -> tuple:
    return tuple(k for k in figures.LAYERS if st.session_state.get(f"toy2d_layer_{k}", True))


# --- The set-up: sidebar widgets, mirrored in the URL -----------------------------------------

def story_config(name: str) -> toy2d.Toy2DConfig:
    return toy2d.PRESETS[name].config


def apply_story():
    cfg = story_config(st.session_state.toy2d_story)
    for name in FIELDS:
        st.session_state[f"toy2d_{name}"] = getattr(cfg, name)


def setting_label(field: str) -> str:
    """A setting's name on this page (gan_core names its fields)."""
    if field[:2] in ("g_", "d_") and field[2:] in ("layers", "units"):
        what = t("toy2d.layers_n" if field.endswith("layers") else "toy2d.units")
        return f"{what} ({t(f'toy2d.{field[0]}_net')})"
    return t(f"toy2d.{field}") if f"toy2d.{field}" in ui.i18n.catalog(ui.lang()) else field


def read_url():
    """The set-up a shared link names (once per session); a bad one is said and skipped."""
    q = st.query_params
    story = q.get("story") if q.get("story") in toy2d.PRESETS else "vanilla-8"
    st.session_state.toy2d_story = story
    try:
        cfg = toy2d.decode_setup(q.get("setup", ""), story_config(story))
    except ValueError as error:
        st.warning(t("toy2d.bad_link", error=ui.said(error, setting_label)))
        cfg = story_config(story)
    for name in FIELDS:
        st.session_state[f"toy2d_{name}"] = getattr(cfg, name)
    if q.get("b") in toy2d.CURES:
        st.session_state.toy2d_compare, st.session_state.toy2d_b_cure = True, q["b"]


def write_url(cfg: toy2d.Toy2DConfig):
    st.query_params.update({"toy": "2d", "story": st.session_state.toy2d_story,
                            "setup": toy2d.encode_setup(cfg, story_config(
                                st.session_state.toy2d_story))})
    if st.session_state.get("toy2d_compare"):
        st.query_params["b"] = st.session_state.toy2d_b_cure
    elif "b" in st.query_params:
        del st.query_params["b"]


def settings() -> list | None:
    """The sidebar; returns the configurations to train (A, and B when comparing)."""
    s, t_run = st.session_state, ui.translator()
    with st.sidebar:
        st.header(t("toy2d.settings"))
        st.selectbox(t("toy2d.story"), list(toy2d.PRESETS), key="toy2d_story",
                     on_change=apply_story, format_func=lambda k: t_run(f"toy2d.story.{k}"),
                     help=t("toy2d.story_help"))
        st.selectbox(t("toy2d.data"), toy2d.DATASETS, key="toy2d_data",
                     format_func=lambda k: t_run(f"toy2d.data.{k}"))
        st.selectbox(t("toy2d.cure"), toy2d.CURES, key="toy2d_cure",
                     format_func=lambda k: t_run(f"toy2d.cure.{k}"))
        if s.toy2d_cure == "unrolled":
            st.number_input(t("toy2d.unroll"), 1, 20, key="toy2d_unroll")
        if s.toy2d_cure == "wgan_gp":
            st.number_input(t("toy2d.gp_weight"), 0.0, 100.0, step=0.05, format="%.2f",
                            key="toy2d_gp_weight")
        for net in ("g", "d"):
            st.caption(t(f"toy2d.{net}_net"))
            a, b = st.columns(2)
            a.number_input(t("toy2d.layers_n"), 1, toy2d.MAX_LAYERS, key=f"toy2d_{net}_layers")
            b.number_input(t("toy2d.units"), 1, toy2d.MAX_UNITS, key=f"toy2d_{net}_units")
        st.selectbox(t("toy2d.activation"), toy2d.ACTIVATIONS, key="toy2d_activation")
        a, b = st.columns(2)
        a.number_input(t("toy2d.lr_g"), 1e-5, 10.0, step=1e-4, format="%.4f", key="toy2d_lr_g")
        b.number_input(t("toy2d.lr_d"), 1e-5, 10.0, step=1e-4, format="%.4f", key="toy2d_lr_d")
        st.selectbox(t("toy2d.optimizer"), toy2d.OPTIMIZERS, key="toy2d_optimizer",
                     format_func={"adam": "Adam", "sgd": "SGD"}.get)
        st.selectbox(t("toy2d.loss"), toy2d.LOSSES, key="toy2d_loss",
                     format_func=lambda k: t_run(f"toy2d.loss.{k}"))
        a, b = st.columns(2)
        a.number_input(t("toy2d.d_steps"), 1, 20, key="toy2d_d_steps")
        b.number_input(t("toy2d.batch"), 2, toy2d.MAX_BATCH, step=64, key="toy2d_batch")
        a, b = st.columns(2)
        a.number_input(t("toy2d.noise_dim"), 1, 16, key="toy2d_noise_dim")
        b.selectbox(t("toy2d.noise"), toy2d.NOISES, key="toy2d_noise",
                    format_func=lambda k: t_run(f"toy2d.noise.{k}"))
        st.number_input(t("toy2d.seed"), 0, noise.MAX_SEED, key="toy2d_seed")
        st.caption(t("toy2d.note"))
        st.subheader(t("toy2d.show"))
        for layer in figures.LAYERS:
            st.checkbox(t(f"toy2d.layer.{layer}"), value=True, key=f"toy2d_layer_{layer}")
        st.toggle(t("toy2d.compare"), key="toy2d_compare", help=t("toy2d.compare_help"))
        if s.toy2d_compare:
            s.setdefault("toy2d_b_cure", "spectral_norm")
            st.selectbox(t("toy2d.b_cure"), toy2d.CURES, key="toy2d_b_cure",
                         format_func=lambda k: t_run(f"toy2d.cure.{k}"))
    try:
        cfg = toy2d.Toy2DConfig(**{name: s[f"toy2d_{name}"] for name in FIELDS})
    except (ValueError, TypeError) as error:
        st.error(t("toy2d.bad_settings", error=ui.said(error, setting_label)))
        return None
    return [cfg] + ([toy2d.replace(cfg, cure=s.toy2d_b_cure)] if s.toy2d_compare else [])


# --- The runs ---------------------------------------------------------------------------------

def apply(state: Page2D, cfgs: list) -> bool:
    """Runs for these configurations (new ones when anything changed); False when the
    drawn data is not there yet."""
    drawn = state.drawn if cfgs[0].data == "drawn" else None
    if drawn is not None and len(drawn) < MIN_DRAWN:
        st.info(t("toy2d.draw_need", n=MIN_DRAWN))
        return False
    wanted = [(cfg, None if drawn is None else tuple(map(tuple, drawn))) for cfg in cfgs]
    if state.trained != wanted or state.chunk is None:
        state.runs = [toy2d.Toy2DRun(cfg, drawn) for cfg in cfgs]
        state.trained, state.playing, state.error = wanted, False, ""
        st.session_state.pop("toy2d_seek", None)
        state.show(0, [], jump=True)
    elif state.drawn_with != (shown_layers(), ui.lang()):
        state.show(state.shown_step, [], jump=True)
    state.drawn_with = (shown_layers(), ui.lang())
    return True


def draw_data(state: Page2D):
    st.subheader(t("toy2d.draw"))
    st.caption(t("toy2d.draw_help"))
    points = ui.toy_draw(state.drawn, {"clear": t("toy2d.draw_clear"),
                                       "count": t("toy2d.draw_count", n="{n}")},
                         toy2d.MAX_DRAWN, key="toy2d_draw")
    if points is not None and points != state.drawn:
        state.drawn = [[float(x), float(y)] for x, y in points][:toy2d.MAX_DRAWN]


def advance(state: Page2D, steps: int, part: str = "both") -> bool:
    try:
        for run in state.runs:
            run.advance(steps, part)
        return True
    except FloatingPointError as error:
        state.error, state.playing = str(error), False
        return False


@ui.one_at_a_time
def set_playing(state: Page2D, playing: bool):
    """Play or Pause, as the button said when it was drawn (see the 1-D page's)."""
    state.playing, state.error = playing, ""
    st.session_state.pop("toy2d_seek", None)
    if not playing:
        state.show(state.runs[0].steps, [], jump=True)


@ui.one_at_a_time
def single_step(state: Page2D, part: str, clicks: int):
    if not ui.first_call(state, clicks):
        return
    state.playing = False
    st.session_state.pop("toy2d_seek", None)
    start = state.runs[0].steps
    steps = st.session_state.toy2d_speed if part == "both" else 1
    if advance(state, steps, part):
        state.show(start, [state.runs[0].steps], jump=True)


@ui.one_at_a_time
def reset(state: Page2D):
    state.chunk = None          # apply() starts new runs on the next script run


def player(state: Page2D):
    b = st.columns([1.1, 1.3, 1.4, 1.4, 1.1, 2.4], vertical_alignment="bottom")
    b[0].button(t("toy.pause") if state.playing else t("toy.play"), on_click=set_playing,
                args=(state, not state.playing), icon=":material/pause:" if state.playing
                else ":material/play_arrow:", type="primary", width="stretch", key="toy2d_play")
    b[1].button(t("toy.step"), on_click=single_step, args=(state, "both", state.clicks),
                icon=":material/skip_next:", width="stretch", key="toy2d_step")
    b[2].button(t("toy2d.step_d"), on_click=single_step, args=(state, "d", state.clicks),
                width="stretch", key="toy2d_step_d", help=t("toy2d.step_help"))
    b[3].button(t("toy2d.step_g"), on_click=single_step, args=(state, "g", state.clicks),
                width="stretch", key="toy2d_step_g", help=t("toy2d.step_help"))
    b[4].button(t("toy.reset"), on_click=reset, args=(state,), icon=":material/restart_alt:",
                width="stretch", key="toy2d_reset")
    # 5 steps a frame: 75 steps a second, which leaves the browser a core on a 2-core server
    b[5].slider(t("toy.speed"), 1, 50, 5, key="toy2d_speed", help=t("toy.speed_help"))
    st.caption(t("toy2d.key") + ("  \n" + t("toy2d.key_ab") if len(state.runs) > 1 else ""))
    st.fragment(run_every=FRAMES_PER_CHUNK / FPS if state.playing else None)(frames)(state)
    if state.error:
        st.error(t("toy2d.diverged", error=state.error))
    run = state.runs[0]
    if not state.playing and run.steps > 0:
        steps = run.timeline()
        st.session_state.setdefault("toy2d_seek", steps[-1])
        if st.session_state.toy2d_seek not in steps:
            st.session_state.toy2d_seek = steps[-1]
        seek = st.select_slider(t("toy2d.timeline"), steps, key="toy2d_seek")
        if seek != state.shown_step:
            state.show(seek, [], jump=True)
            st.rerun()
        ui.history_csv(state, run.steps, run.to_csv, t("toy2d.download_csv"), "toy_gan_2d.csv",
                       "toy2d_csv")


@ui.one_at_a_time
def frames(state: Page2D):
    """A fragment: while playing, trains one chunk a second and hands it to the player."""
    if state.playing:
        spf, start, frame_steps = st.session_state.toy2d_speed, state.runs[0].steps, []
        for _ in range(FRAMES_PER_CHUNK):
            if not advance(state, spf):
                break
            frame_steps.append(state.runs[0].steps)
        if frame_steps:
            state.show(start, frame_steps, jump=False)
        if state.error:
            st.rerun()          # the whole page: stop the timer, say why
    ui.toy_player(state.chunk, FPS, state.playing, height=figures.toy2d_height(len(state.runs)),
                  key="toy2d_player")
