"""Latent explorer: a face from z, and every way to move z.

The face and its controls live in a fragment, so moving a slider reruns only that part. The
state of the face (seed, component edits, direction strengths) is small, lives in the session
(latent.Explorer, whose methods are the edits), and is mirrored in the URL, so a link
reproduces the face. The generator is loaded once per server (st.cache_resource) and called
behind its lock.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from gan_core import (data, encoder, exercises, faces, figures, files, generate, i18n, images,
                      latent, noise, project, runfolder, settings, sources)
from pages import ui

t = ui.translator()
GROUP = 5               # sliders per group of components (fewer to redraw on a move)
N_DIRECTIONS = 5        # direction sliders shown
FACE_SCALE = 6          # 64 px -> 384 px, nearest neighbour: crisp, not blurred
SETTINGS = settings.Settings.from_env()


def main():
    st.title(t("explorer.title"))
    st.markdown(t("explorer.intro"))
    v = open_model(pick_model())            # the sidebar: which generator
    if v is None:
        return
    editor(v, *panel_header(v))             # the face and one panel of sliders
    controls(v)                             # undo, redo, reset, seed, snap, keep
    meter_explanation(v)
    st.divider()
    tools(v)                                # exercises, sheet, interpolation, ids, favourites


# --- The model: loaded once per server --------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=8)
def load_model(path: str, mtime: float):
    """(Generator, namespace for player ids, SeFa directions) for a model file."""
    gen = generate.Generator.load(path)
    return gen, noise.namespace(path), latent.sefa(gen.model, k=N_DIRECTIONS)


@st.cache_resource(show_spinner=False, max_entries=4)
def projector(path: str, mtime: float) -> project.Projector:
    """Projection for a model: its encoder (if one lies beside it) and compiled gradient."""
    gen, _, _ = load_model(path, mtime)
    return project.Projector(gen, encoder.load(path, gen.latent_dim))


@st.cache_resource(show_spinner=False, max_entries=8)
def ganspace_directions(path: str, mtime: float):
    gen, _, _ = load_model(path, mtime)
    return latent.ganspace(gen, k=N_DIRECTIONS, n=1000, seed=0)


def model_choices() -> dict[str, Path]:
    choices = {}
    if settings.SHIPPED_GENERATOR.exists():
        choices[t("explorer.model.shipped")] = settings.SHIPPED_GENERATOR
    for run in runfolder.exported(SETTINGS.runs):
        choices[t("explorer.model.run", run=run.id)] = run.generator_path
    return choices


def pick_model() -> Path | None:
    """The sidebar's model choice, or an uploaded generator when uploads are allowed."""
    choices = model_choices()
    with st.sidebar:
        st.header(t("explorer.model"))
        # ?model=<run id> (the training page's "open in the explorer") preselects that run.
        wanted = [k for k, p in choices.items() if p.parent.name == st.query_params.get("model")]
        if wanted and st.session_state.get("explorer_model_from") != wanted[0]:
            st.session_state.explorer_model = st.session_state.explorer_model_from = wanted[0]
        picked = st.selectbox(t("explorer.model.pick"), list(choices), key="explorer_model") \
            if choices else None
        uploaded = None
        if SETTINGS.allow_model_upload:
            uploaded = ui.uploader(t("explorer.model.upload"), ["keras"], "explorer_model_upload")
        else:
            st.caption(t("explorer.model.upload_off"))
    if uploaded is not None:    # kept by content, so the per-server cache holds each once
        try:
            return sources.keep_model(SETTINGS.uploads, uploaded.name, uploaded.getvalue(),
                                      SETTINGS.max_upload_mb * 2**20)
        except ValueError:
            st.error(t("explorer.model.too_big", mb=SETTINGS.max_upload_mb))
    return choices.get(picked) if picked else None


@dataclass
class View:
    """The open model and this session's explorer: what every part of the page draws from."""
    gen: generate.Generator
    namespace: str            # for player ids and saved faces
    path: Path
    sefa: list
    state: latent.Explorer

    @property
    def latent_dim(self) -> int:
        return self.gen.latent_dim

    def directions(self, method=None):
        if (method or self.state.face.method) == "ganspace":
            with st.spinner(t("explorer.dir.computing")):   # ~3 s, once per model and server
                return ganspace_directions(str(self.path), self.path.stat().st_mtime)
        return self.sefa

    def z(self):
        return self.state.face.z(self.latent_dim, self.directions())

    def render(self, z) -> np.ndarray:
        return self.gen(np.asarray(z, np.float32).reshape(-1, self.latent_dim))

    def go_to(self, z):
        self.state.go_to(z, self.latent_dim)

    def keep(self, z, name=None):
        self.state.keep(z, name or t("explorer.fav.name", n=len(self.state.favourites) + 1))


def open_model(model_path: Path | None) -> View | None:
    """The model loaded (or a message why not), and the session's explorer on it."""
    if model_path is None:
        st.warning(t("explorer.no_model"))
        return None
    try:
        with st.spinner(t("explorer.loading")):
            gen, namespace, sefa = load_model(str(model_path), model_path.stat().st_mtime)
    except (ValueError, OSError) as error:
        st.error(t("explorer.model.bad", error=error))
        return None
    state: latent.Explorer = st.session_state.setdefault("explorer", latent.Explorer())
    if state.model != str(model_path):      # a new model: start from the link's face
        state.model = str(model_path)
        state.face = face_from_url(gen.latent_dim)
        state.undo.clear()
        state.redo.clear()
    return View(gen, namespace, model_path, sefa, state)


# --- The state of one face --------------------------------------------------------------------

def face_from_url(latent_dim) -> latent.Face:
    q = st.query_params
    try:
        return latent.Face(seed=latent.parse_seed(q.get("seed", 0)),
                    edits=tuple(latent.decode_edits(q.get("z", ""), latent_dim).items()),
                    strengths=tuple(latent.decode_edits(q.get("d", ""), N_DIRECTIONS,
                                                        "direction").items()),
                    method=q.get("m", "sefa") if q.get("m") in ("sefa", "ganspace") else "sefa",
                    psi=latent.parse_truncation(q.get("t", "1")))
    except ValueError as error:
        st.warning(t("explorer.bad_link", error=ui.said(error)))
        return latent.Face()


def face_to_url(face: latent.Face):
    st.query_params.update({"seed": str(face.seed), "z": latent.encode_edits(dict(face.edits)),
                            "d": latent.encode_edits(dict(face.strengths)), "m": face.method,
                            "t": f"{face.psi:g}"})


# --- The face and its sliders ------------------------------------------------------------------

def controls(v: View):
    """Undo, redo, reset, seed, snap, keep: outside the fragment, so a slider move does not
    redraw them (each widget redrawn costs the browser a few ms of a move's 100 ms budget)."""
    state = v.state

    def on_seed():
        state.new_seed(st.session_state.explorer_seed)

    def randomise():
        st.session_state.explorer_seed = int(np.random.default_rng().integers(0, 10**6))
        on_seed()

    b = st.columns([1.4, 1.4, 2, 2, 1.6, 2, 2], vertical_alignment="bottom")
    # Always enabled: a slider move reruns only the fragment, so a disabled state drawn here
    # would go stale. With nothing to undo, undo does nothing.
    # Words beside the icons: an icon alone is read out as "undo icon" by a screen reader.
    b[0].button(t("explorer.undo_short"), on_click=state.back, key="explorer_undo",
                icon=":material/undo:", help=t("explorer.undo"), width="stretch")
    b[1].button(t("explorer.redo_short"), on_click=state.forward, key="explorer_redo",
                icon=":material/redo:", help=t("explorer.redo"), width="stretch")
    b[2].button(t("explorer.reset"), on_click=state.reset, key="explorer_reset",
                icon=":material/restart_alt:", width="stretch")
    st.session_state.explorer_seed = state.face.seed
    b[3].number_input(t("explorer.seed"), 0, noise.MAX_SEED, key="explorer_seed",
                      on_change=on_seed)
    b[4].button(t("explorer.randomise_short"), on_click=randomise, key="explorer_random",
                icon=":material/casino:", help=t("explorer.randomise"), width="stretch")
    b[5].button(t("explorer.snap"), on_click=lambda: state.snap(v.latent_dim, v.directions()),
                key="explorer_snap", help=t("explorer.snap_help"), width="stretch")
    b[6].button(t("explorer.fav.add"), key="explorer_fav", icon=":material/favorite:",
                type="primary", width="stretch", on_click=lambda: v.keep(v.z()))
    st.session_state.explorer_psi = state.face.psi
    st.slider(t("explorer.truncation"), 0.0, 1.0, step=0.05, key="explorer_psi",
              help=t("explorer.truncation_help"),
              on_change=lambda: state.set_truncation(st.session_state.explorer_psi))


@st.fragment
def editor(v: View, view, group):
    """The face, its meter and the sliders of one panel: a slider move reruns only this.
    Widget callbacks run before the rerun, so the face drawn is already the new one."""
    state, face, z = v.state, v.state.face, v.z()
    # The face first, the URL last: the browser gets the new face before any other message
    # of this run (each message it handles delays the next, and the generator shares the CPU).
    image = v.render(z)[0]
    left, right = st.columns([2, 3], gap="large")
    with left:
        # The 64 px face is sent as it is and upscaled by the browser without smoothing
        # (image-rendering: pixelated): a move sends a few KB, not a 384 px PNG. It travels
        # inside the message (a data URI), not as a media URL the browser must then fetch:
        # 12 ms off the median move, 23 ms off the p95 (tests/perf/explorer_latency.py).
        png = base64.b64encode(images.png_bytes(image)).decode()
        st.html(f'<img class="gan-face" src="data:image/png;base64,{png}" '
                f'width="{64 * FACE_SCALE}" style="image-rendering: pixelated" alt="face">')
        meter = latent.typicality(z)
        st.progress(min(meter["norm"] / (2 * meter["mean"]), 1.0),
                    text=t("explorer.meter", norm=meter["norm"], mean=meter["mean"],
                           pct=i18n.percentile(meter["percentile"], ui.lang())))

    with right:
        if view == "components":
            for i in range(group * GROUP, min(v.latent_dim, (group + 1) * GROUP)):
                st.session_state[f"z_{i}"] = float(np.clip(round(float(z[i]), 2), -4, 4))
                st.slider(f"z[{i}]", -4.0, 4.0, step=0.01, key=f"z_{i}",
                          on_change=lambda i=i: state.set_component(
                              i, st.session_state[f"z_{i}"], v.latent_dim, v.directions()))
        elif view == "directions":
            strengths = dict(face.strengths)
            names = state.names.get(face.method, {})
            for k, d in enumerate(v.directions()):
                st.session_state[f"dir_{k}"] = float(strengths.get(k, 0.0))
                st.slider(f"{names.get(k) or d.name} (σ)", -3.0, 3.0, step=0.1, key=f"dir_{k}",
                          on_change=lambda k=k: state.set_strength(k, st.session_state[f"dir_{k}"]))
        else:
            zs, labels = latent.neighbours(z, v.directions(), state.step,
                                           state.names.get(face.method), ui.lang())
            tiles = v.render(zs)
            for row in range(3):
                cols = st.columns(3)
                for k in range(row * 3, row * 3 + 3):
                    cols[k % 3].image(images.png_bytes(tiles[k], scale=2), caption=labels[k],
                                      output_format="PNG")
                    if k != 4:
                        cols[k % 3].button(t("explorer.near.go"), key=f"near_{k}",
                                           on_click=lambda z=zs[k]: (v.go_to(z),
                                                                     state.shrink_step()))
            st.caption(t("explorer.near.step", step=ui.number(state.step)))
    face_to_url(face)


def panel_header(v: View):
    """Which panel the sliders show, and its settings: outside the fragment (a change here
    redraws the page once; a slider move must not redraw these)."""
    state = v.state
    # One panel at a time (tabs would compute all three on every move).
    view = st.segmented_control(t("explorer.view"), ["components", "directions", "neighbours"],
                                format_func=lambda name: t(f"explorer.tab.{name}"),
                                default="components", required=True, key="explorer_view",
                                label_visibility="collapsed")
    group = 0
    if view == "components":
        d = v.latent_dim
        groups = [f"{g + 1}–{min(g + GROUP, d)}" for g in range(0, d, GROUP)]
        group = st.select_slider(t("explorer.group"), range(len(groups)),
                                 format_func=groups.__getitem__, key="explorer_group")
        st.caption(t("explorer.components_help"))
    elif view == "directions":
        st.session_state.dir_method = state.face.method
        st.radio(t("explorer.dir.method"), ["sefa", "ganspace"], horizontal=True,
                 key="dir_method", format_func=lambda m: t(f"explorer.dir.{m}"),
                 on_change=lambda: state.set_method(st.session_state.dir_method, v.latent_dim,
                                                    v.directions()))
        st.caption(t(f"explorer.dir.{state.face.method}_help"))
        names = state.names.setdefault(state.face.method, {})
        with st.popover(t("explorer.dir.rename")):
            for k, d in enumerate(v.directions()):
                key = f"dir_name_{state.face.method}_{k}"
                st.session_state[key] = names.get(k, "")
                st.text_input(d.name, key=key, max_chars=40, on_change=lambda k=k, key=key:
                              names.__setitem__(k, st.session_state[key].strip()))
    else:
        st.caption(t("explorer.near.help"))
    return view, group


def meter_explanation(v: View):
    """Why the length of z matters; the chart costs a plotly figure, so only when asked."""
    if st.toggle(t("explorer.meter_why"), key="explorer_meter_why"):
        st.markdown(t("explorer.meter_body"))
        st.plotly_chart(figures.typicality_figure(
            latent.typicality(v.z())["norm"], v.latent_dim,
            ui.i18n.section("explorer.fig.", ui.lang())),
            key="explorer_meter_fig")


# --- Tools below the face: one at a time -----------------------------------------------------

def tools(v: View):
    """One tool at a time: the page stays short, so the browser redraws less on every slider
    move (a shorter page takes ~10 ms off a move's p95), and a rerun computes only the tool
    in view."""
    tool = st.segmented_control(t("explorer.tools"), list(TOOLS), default="exercises",
                                required=True, key="explorer_tool",
                                format_func=lambda k: t(f"explorer.tool.{k}",
                                                        n=len(v.state.favourites)))
    TOOLS[tool](v)


def course_exercises(v: View):
    """The course's exercises, as code that builds z, to run or edit."""
    st.header(t("explorer.exercises"))
    st.markdown(t("explorer.exercises_intro"))
    exercise = st.selectbox(t("explorer.exercise"), list(exercises.EXERCISES),
                            key="exercise_pick", format_func=lambda r: t(f"explorer.exercise.{r}"))
    if st.session_state.get("exercise_shown") != (exercise, ui.lang()):
        # the exercise's first line is its comment: in the page's language
        body = exercises.EXERCISES[exercise].split("\n", 1)[1]
        st.session_state.exercise_code = f"# {t(f'explorer.exercise.comment.{exercise}')}\n{body}"
        st.session_state.exercise_shown = (exercise, ui.lang())
    st.html("<style>.st-key-exercise_code textarea {font-family: 'Source Code Pro', "
            "ui-monospace, monospace}</style>")      # code reads better in a code font
    code = st.text_area(t("explorer.exercise.code"), key="exercise_code", height=170)
    rc = st.columns([1, 1, 4])
    exercise_seed = rc[0].number_input(t("explorer.seed"), 0, noise.MAX_SEED, 0,
                                       key="exercise_seed")
    if rc[1].button(t("explorer.exercise.run"), key="exercise_run", type="primary"):
        try:
            zs = exercises.run(code, v.latent_dim, seed=int(exercise_seed))
            st.session_state.exercise_result = (zs, exercise)
        except exercises.ExerciseError as error:
            st.session_state.exercise_result = None
            st.error(t("explorer.exercise.error", error=error))
    if st.session_state.get("exercise_result"):
        zs, ran = st.session_state.exercise_result
        st.image(images.png_bytes(images.grid(v.render(zs), min(len(zs), 10)), scale=2),
                 output_format="PNG")
        st.markdown(t(f"explorer.exercise.{ran}.why"))
        for k, zk in enumerate(zs[:10]):
            meter = latent.typicality(zk)
            st.caption(t("explorer.exercise.row", k=k + 1, norm=meter["norm"],
                         pct=i18n.percentile(meter["percentile"], ui.lang())))
        pick = st.selectbox(t("explorer.exercise.open"), range(1, len(zs) + 1),
                            key="exercise_open")
        st.button(t("explorer.exercise.open_button"), key="exercise_open_go",
                  on_click=lambda: v.go_to(zs[pick - 1]))


def sheet(v: View):
    """Contact sheet."""
    st.header(t("explorer.sheet"))
    st.markdown(t("explorer.sheet_intro"))
    if st.button(t("explorer.sheet.make"), key="sheet_make"):
        picture, rows = latent.contact_sheet(v.gen, v.directions()[:4])
        st.session_state.sheet = (images.png_bytes(picture, scale=2), rows)
    if st.session_state.get("sheet"):
        png, rows = st.session_state.sheet
        st.image(png, caption=" · ".join(rows[::3]), output_format="PNG")


def interpolation(v: View):
    """Interpolation."""
    st.header(t("explorer.interp"))
    endpoints = {t("explorer.interp.current"): v.z()}
    endpoints.update({name: z for name, z in v.state.favourites})
    for seed in (1, 2, 3):
        endpoints.setdefault(t("explorer.interp.seed", seed=seed),
                             noise.for_seed(seed, v.latent_dim))
    ic = st.columns(4)
    a_name = ic[0].selectbox("A", list(endpoints), index=0, key="interp_a")
    b_name = ic[1].selectbox("B", list(endpoints), index=min(1, len(endpoints) - 1),
                             key="interp_b")
    how = ic[2].radio(t("explorer.interp.how"), ["slerp", "lerp"], key="interp_how",
                      format_func=lambda m: t(f"explorer.interp.{m}"))
    frames = ic[3].slider(t("explorer.interp.frames"), 3, 24, 10, key="interp_n")
    path = (latent.slerp if how == "slerp" else latent.lerp)(endpoints[a_name],
                                                              endpoints[b_name], frames)
    strip = v.render(path)
    st.image(images.png_bytes(images.grid(strip, frames), scale=2), output_format="PNG")
    # A GIF takes a while to encode: only on request, and for the path it was made from.
    path_id = (a_name, b_name, how, frames, v.state.face)
    if st.button(t("explorer.interp.make_gif"), key="interp_make_gif"):
        # Not under the download button's own key: a widget's key is read-only state.
        st.session_state.interp_gif_made = (path_id, images.gif_bytes(strip, scale=4))
    gif = st.session_state.get("interp_gif_made")
    if gif and gif[0] == path_id:
        st.download_button(t("explorer.interp.gif"), gif[1], "interpolation.gif", "image/gif",
                           key="interp_gif", icon=":material/download:")
    st.caption(t("explorer.interp.why"))


def player_ids(v: View):
    """An avatar for each player."""
    st.header(t("explorer.ids"))
    st.markdown(t("explorer.ids_intro"))
    player = st.text_input(t("explorer.ids.input"), key="player_id", max_chars=200)
    if player.strip():
        zp = noise.for_id(player, v.latent_dim, v.namespace)
        pc = st.columns([1, 3])
        pc[0].image(images.png_bytes(v.render(zp)[0], scale=3), output_format="PNG")
        pc[1].code(f"namespace = {v.namespace!r}\nid = {player!r}", language="python")
        pc[1].button(t("explorer.ids.use"), key="player_use", on_click=lambda: v.go_to(zp))
        pc[1].caption(t("explorer.ids.cli"))


def favourites(v: View):
    """Favourites."""
    st.header(t("explorer.fav"))
    kept = v.state.favourites
    if not kept:
        st.caption(t("explorer.fav.empty"))
    else:
        faces = v.render(np.stack([z for _, z in kept]))
        archive, pngs = latent.favourites_zip(kept, faces, v.namespace)
        cols = st.columns(6)
        for k, ((name, z), img, png) in enumerate(zip(kept, faces, pngs)):
            with cols[k % 6]:
                st.image(images.png_bytes(img, scale=2), caption=name, output_format="PNG")
                st.download_button("PNG", png, f"{files.safe_name(name)}.png", "image/png",
                                   key=f"fav_png_{k}", icon=":material/download:")
                st.button(t("explorer.fav.open"), key=f"fav_open_{k}",
                          on_click=lambda z=z: v.go_to(z))
        st.download_button(t("explorer.fav.zip"), archive, "favourites.zip",
                           "application/zip", key="fav_zip")
    restore = ui.uploader(t("explorer.fav.restore"), ["png"], "fav_restore")
    if restore is not None and st.session_state.get("fav_restored") != restore.file_id:
        try:
            z, model = latent.read_face_png(restore.getvalue(), restore.name)
            if len(z) != v.latent_dim:
                raise ValueError(t("explorer.fav.wrong_size", n=len(z), d=v.latent_dim))
            if model and model != v.namespace:
                st.info(t("explorer.fav.other_model"))
            st.session_state.fav_restored = restore.file_id
            v.keep(z, Path(restore.name).stem)
            v.go_to(z)
            st.rerun()
        except ValueError as error:
            st.warning(t("explorer.fav.bad", error=ui.said(error)))


def from_picture(v: View):
    """Start from a picture: the closest face this generator makes, then edit it."""
    st.header(t("explorer.pic"))
    st.markdown(t("explorer.pic_intro"))
    kind = st.radio(t("explorer.pic.source"), ["upload", "drawn", "generated"], horizontal=True,
                    key="pic_source", format_func=lambda k: t(f"explorer.pic.source.{k}"))
    target, name = None, ""
    if kind == "upload":
        picked = ui.uploader(t("explorer.pic.upload"), PICTURE_TYPES, "pic_upload")
        if picked is not None:
            try:
                target, name = data.decode(picked.getvalue()), picked.name
            except ValueError as error:
                st.warning(t("explorer.pic.bad", name=picked.name, error=ui.said(error)))
    elif kind == "drawn":
        drawn = faces.BuiltinFaces()                 # the training page's built-in faces
        k = st.number_input(t("explorer.pic.drawn_number"), 0, len(drawn) - 1, 0,
                            key="pic_drawn")
        target, name = drawn[int(k)], t("explorer.pic.drawn_name", k=k)
    else:
        seed = st.number_input(t("explorer.seed"), 0, noise.MAX_SEED, 7, key="pic_seed")
        target = v.render(noise.for_seed(int(seed), v.latent_dim))[0]
        name = t("explorer.pic.generated_name", seed=seed)
    if target is None:
        return
    left, right = st.columns(2)
    left.image(images.png_bytes(target, scale=3), caption=t("explorer.pic.crop"),
               output_format="PNG", width=PICTURE_PX)
    key = (str(v.path), hash(target.tobytes()))
    done = st.session_state.get("pic_result")
    if st.button(t("explorer.pic.go"), key="pic_go", type="primary",
                 icon=":material/center_focus_strong:"):
        bar, face = st.progress(0.0, text=t("explorer.pic.starting")), right.empty()
        with st.spinner(t("explorer.pic.preparing")):    # once per model and server
            p = projector(str(v.path), v.path.stat().st_mtime)
        for event in project.project(p, target, SETTINGS.project_steps or project.STEPS):
            if isinstance(event, project.Progress):
                bar.progress(event.step / event.steps, text=t(
                    "explorer.pic.step", step=event.step, steps=event.steps,
                    lpips=f"{event.lpips:.3f}"))
                if event.image is not None:
                    face.image(images.png_bytes(event.image, scale=3),
                               caption=t("explorer.pic.converging"), output_format="PNG",
                               width=PICTURE_PX)
        bar.empty()
        done = st.session_state.pic_result = (key, event, name)
        v.go_to(event.z)                  # the sliders, directions and favourites take it up
        st.rerun()
    if done and done[0] == key:
        result = done[1]
        right.image(images.png_bytes(result.image, scale=3), caption=t("explorer.pic.result"),
                    output_format="PNG", width=PICTURE_PX)
        st.markdown(t("explorer.pic.how_close", lpips=f"{result.lpips:.3f}",
                      psnr=ui.number(round(result.psnr, 1)), seconds=ui.number(
                          round(result.seconds, 1))))
        if result.far:
            st.warning(t("explorer.pic.far"))
        c = st.columns(2)
        c[0].button(t("explorer.pic.edit"), key="pic_edit", on_click=lambda: v.go_to(result.z),
                    icon=":material/tune:")
        c[1].button(t("explorer.fav.add"), key="pic_keep", icon=":material/favorite:",
                    on_click=lambda: v.keep(result.z, done[2] or None))


PICTURE_PX = 192        # the picture and its projection side by side, at the same size
PICTURE_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]
TOOLS = {"exercises": course_exercises, "picture": from_picture, "sheet": sheet,
         "interpolation": interpolation, "player_ids": player_ids, "favourites": favourites}

main()
