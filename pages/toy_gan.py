"""Toy GAN: the course's 1-D GAN, trained live.

While playing, a fragment trains one chunk a second (FRAMES_PER_CHUNK frames) and hands it to
the player component, which animates the frames in the browser. Controls live outside the
fragment: touching one reruns the page once, and the fragment picks up the new state.
"""

import dataclasses

import streamlit as st

from gan_core import figures, noise, toy
from pages import toy_2d, ui

t = ui.translator()
FPS = 20
FRAMES_PER_CHUNK = 20  # one chunk a second at FPS
FIELDS = [f.name for f in dataclasses.fields(toy.ToyConfig)]


def main():
    if dimension() == "2d":
        toy_2d.main()                     # GAN Lab's ground: mode collapse and its cures
        return
    state: PageState = st.session_state.setdefault("toy_page", PageState())
    settings(state)                       # the sidebar: presets and every setting
    run = apply_settings(state)           # a setting that changes the model starts anew
    st.title(t("toy.title"))
    target = run.cfg if run else toy.PRESETS["default"]
    st.markdown(t("toy.intro", mean=f"{target.data_mean:g}", std=f"{target.data_std:g}"))
    chart_col, explain_col = st.columns([3, 1])
    with chart_col:
        if run is not None:
            player(state)                 # play, step, reset, speed; the charts; timeline, CSV
    with explain_col:
        st.subheader(t("toy.explain_header"))
        for key in ("distribution", "linear", "wb", "losses", "scores", "distances"):
            st.markdown(t(f"toy.explain.{key}"))
    if run is not None and run.steps > 0:
        course_result(run)
    with st.expander(t("toy.warmup_header")):
        st.markdown(t("toy.warmup"))
        x, x_hat = toy.implicit_model(seed=0)
        st.plotly_chart(figures.warmup_figure(x, x_hat, figure_labels()), key="toy_warmup")


@dataclasses.dataclass
class PageState(ui.Player):
    """One browser session's Toy GAN: the run, whether it plays, and what the player shows."""
    run: toy.ToyRun | None = None
    chunk_lang: str = ""

    def show(self, run, start, frame_steps, jump):
        self.hand(lambda n: figures.toy_chunk(run, start, frame_steps, figure_labels(), n,
                                              ui.lang()),
                  start, frame_steps, jump)
        self.chunk_lang = ui.lang()


def dimension() -> str:
    """The switch between the course's 1-D toy and the 2-D one; a link's ?toy=2d opens 2-D."""
    if "toy_dim" not in st.session_state:
        st.session_state.toy_dim = "2d" if st.query_params.get("toy") == "2d" else "1d"
    dim = st.segmented_control(t("toy.dim"), ["1d", "2d"], key="toy_dim", required=True,
                               format_func=lambda d: t(f"toy.dim.{d}"),
                               label_visibility="collapsed")
    if dim == "1d":
        for name in ("toy", "story", "setup", "b"):
            if name in st.query_params:
                del st.query_params[name]
    return dim


def figure_labels() -> dict:
    labels = ui.i18n.section("toy.fig.", ui.lang())
    if st.session_state.get("toy_preset") == "course":
        labels["mark_best"] = t("toy.course_mark")
    return labels


# --- Settings (sidebar) -------------------------------------------------------------------------
# Widget values live in session_state under toy_<field>. They start from the current run's
# config, so leaving the page and coming back keeps them (Streamlit forgets unrendered widgets).

def apply_preset():
    preset = toy.PRESETS[st.session_state.toy_preset]
    for name in FIELDS:
        st.session_state[f"toy_{name}"] = getattr(preset, name)


def set_sigma_z(value):
    st.session_state.toy_sigma_z = value


def settings(state: PageState):
    current = state.run.cfg if state.run else toy.PRESETS["default"]
    for name in FIELDS:
        st.session_state.setdefault(f"toy_{name}", getattr(current, name))
    st.session_state.setdefault("toy_preset", st.session_state.get("toy_preset_kept", "default"))
    with st.sidebar:
        st.header(t("toy.settings"))
        st.selectbox(t("toy.preset"), list(toy.PRESETS), key="toy_preset", on_change=apply_preset,
                     format_func=lambda p: t(f"toy.preset.{p}"), help=t("toy.preset_help"))
        st.session_state.toy_preset_kept = st.session_state.toy_preset
        st.number_input(t("toy.lr_g"), 0.0, 10.0, step=0.001, format="%.4f", key="toy_lr_g",
                        help=t("toy.lr_help"))
        st.number_input(t("toy.lr_d"), 0.0, 10.0, step=0.001, format="%.4f", key="toy_lr_d",
                        help=t("toy.lr_help"))
        st.selectbox(t("toy.optimizer"), toy.OPTIMIZERS, key="toy_optimizer",
                     format_func={"adam": "Adam", "sgd": "SGD"}.get)
        b1, b2 = st.columns(2)
        b1.number_input(t("toy.beta_1"), 0.0, 0.9999, step=0.05, format="%.3f", key="toy_beta_1",
                        disabled=st.session_state.toy_optimizer != "adam")
        b2.number_input(t("toy.beta_2"), 0.0, 0.9999, step=0.01, format="%.3f", key="toy_beta_2",
                        disabled=st.session_state.toy_optimizer != "adam")
        st.number_input(t("toy.batch"), 1, 100_000, step=500, key="toy_batch")
        st.number_input(t("toy.sigma_z"), 0.01, 100.0, step=0.5, key="toy_sigma_z",
                        help=t("toy.sigma_z_help"))
        st.button(t("toy.sigma_z_code"), on_click=set_sigma_z, args=(toy.COURSE_SIGMA_Z_CODE,),
                  width="stretch")
        st.button(t("toy.sigma_z_prose"), on_click=set_sigma_z, args=(toy.COURSE_SIGMA_Z_PROSE,),
                  width="stretch")
        m1, m2 = st.columns(2)
        m1.number_input(t("toy.data_mean"), -100.0, 100.0, step=1.0, key="toy_data_mean")
        m2.number_input(t("toy.data_std"), 0.05, 20.0, step=0.1, key="toy_data_std")
        st.selectbox(t("toy.scheme"), toy.SCHEMES, key="toy_scheme",
                     format_func=lambda s: t(f"toy.scheme.{s}"))
        st.number_input(t("toy.k_d"), 1, 20, key="toy_k_d",
                        disabled=st.session_state.toy_scheme != "alternating")
        st.selectbox(t("toy.g_loss"), toy.G_LOSSES, key="toy_g_loss",
                     format_func=lambda s: t(f"toy.g_loss.{s}"))
        st.selectbox(t("toy.d_kind"), toy.D_KINDS, key="toy_d_kind",
                     format_func=lambda s: t(f"toy.d_kind.{s}"))
        st.number_input(t("toy.seed"), 0, noise.MAX_SEED, key="toy_seed")
        st.caption(t("toy.model_note"))


# --- Apply the settings ---------------------------------------------------------------------------

def apply_settings(state: PageState) -> toy.ToyRun | None:
    try:
        cfg = toy.ToyConfig(**{name: st.session_state[f"toy_{name}"] for name in FIELDS})
    except (ValueError, TypeError) as error:
        cfg = None
        st.error(t("toy.bad_settings", error=error))
    if cfg is not None:
        if state.run is None:
            state.run = toy.ToyRun(cfg)
            state.show(state.run, 0, [], jump=True)
        elif state.run.cfg.resets_model(cfg):
            state.run, state.playing, state.error = toy.ToyRun(cfg), False, ""
            state.show(state.run, 0, [], jump=True)
            st.toast(t("toy.was_reset"))
        elif state.run.cfg != cfg:
            state.run.update_config(cfg)
    if state.chunk_lang != ui.lang() and state.run is not None:
        state.show(state.run, state.shown_step, [], jump=True)
    return state.run


# --- The player -----------------------------------------------------------------------------------

@ui.one_at_a_time
def set_playing(state: PageState, playing: bool):
    """Play or Pause, as the button said when it was drawn: a click whose callback runs twice
    (a full rerun cut short by the fragment's timer is run again) cannot undo itself."""
    state.playing = playing and not state.run.full
    state.error = ""
    st.session_state.pop("toy_seek", None)
    if not state.playing:       # the player skips what it still had to play: see ui.toy_player
        state.show(state.run, state.run.steps, [], jump=True)


@ui.one_at_a_time
def single_step(state: PageState, clicks: int):
    if not ui.first_call(state, clicks):
        return
    run = state.run
    state.playing = False
    st.session_state.pop("toy_seek", None)
    start = run.steps
    try:
        run.advance(st.session_state.toy_speed)
    except FloatingPointError as error:
        state.error = str(error)
    if run.steps > start:
        state.show(run, start, [run.steps], jump=True)


@ui.one_at_a_time
def reset(state: PageState):
    state.run, state.playing, state.error = toy.ToyRun(state.run.cfg), False, ""
    st.session_state.pop("toy_seek", None)
    state.show(state.run, 0, [], jump=True)


def player(state: PageState):
    run = state.run
    c1, c2, c3, c4 = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
    c1.button(t("toy.pause") if state.playing else t("toy.play"), on_click=set_playing,
              args=(state, not state.playing),
              icon=":material/pause:" if state.playing else ":material/play_arrow:",
              type="primary", width="stretch", key="toy_play")
    c2.button(t("toy.step"), on_click=single_step, args=(state, state.clicks),
              icon=":material/skip_next:", width="stretch", key="toy_step")
    c3.button(t("toy.reset"), on_click=reset, args=(state,), icon=":material/restart_alt:",
              width="stretch", key="toy_reset")
    c4.slider(t("toy.speed"), 1, 50, 5, key="toy_speed", help=t("toy.speed_help"))
    st.fragment(run_every=FRAMES_PER_CHUNK / FPS if state.playing else None)(frames)(state)
    if state.error:
        st.error(t("toy.diverged", error=state.error))
    if run.full:
        st.warning(t("toy.full", max=f"{toy.MAX_STEPS:,}"))
    if not state.playing and run.steps > 0:
        seek = st.slider(t("toy.timeline"), 0, run.steps, run.steps, key="toy_seek",
                         help=t("toy.timeline_help"))
        if seek != state.shown_step:
            state.show(run, seek, [], jump=True)
            st.rerun()
        ui.history_csv(state, run.steps, run.to_csv, t("toy.download_csv"), "toy_gan.csv",
                       "toy_csv")


@ui.one_at_a_time
def frames(state: PageState):
    """A fragment: while playing, trains one chunk a second and hands it to the player."""
    run = state.run
    if state.playing:
        spf, start = st.session_state.toy_speed, run.steps
        frame_steps = []
        try:
            for _ in range(FRAMES_PER_CHUNK):
                if run.advance(spf) == 0:
                    break
                frame_steps.append(run.steps)
        except FloatingPointError as error:
            state.error = str(error)
        if frame_steps:
            state.show(run, start, frame_steps, jump=False)
        if state.error or run.full:
            state.playing = False
            st.rerun()  # the whole page: stop the timer, update the buttons
    ui.toy_player(state.chunk, FPS, state.playing, key="toy_player")


def course_result(run: toy.ToyRun):
    with st.expander(t("toy.course_header"), expanded=st.session_state.toy_preset == "course"):
        real, fake = run.gan.count_above_half()
        st.markdown(t("toy.course_result", best=run.best_step(), real=f"{real:,}",
                      fake=f"{fake:,}"))
        st.caption(t("toy.course_note"))


main()
