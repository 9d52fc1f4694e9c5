"""DCGAN training: choose data and a preset, start a job, watch it learn.

Training runs in the server (gan_core.jobs), never in this script: a widget touch reruns the
script, a reload starts a new session, and neither may stop a run. The page finds its run again
from the URL (?job=...&owner=...). A small component draws the run live: it polls the run's
state file twice a second for the step, the numbers and the next point of each curve, and
loads each new sample grid.
"""

import dataclasses
import json
import secrets
from pathlib import Path

import numpy as np
import streamlit as st

from gan_core import data, dcgan, faces, figures, images, jobs, presets, settings, system, train
from pages import ui

t = ui.translator()
SETTINGS = settings.Settings.from_env()
PRESETS = list(presets.PRESETS)
# The form starts from a learner's first run (jobs.first_run_spec), measured to show faces
# forming within minutes; tests/perf/first_run.py submits exactly that.
FIRST = jobs.first_run_spec()


def main():
    try:
        jm()
    except ValueError as error:       # GAN_STUDIO_CLUSTER names a cluster that cannot be reached
        st.title(t("train.title"))
        st.error(t("train.no_cluster", error=error))
        return
    owner = session_owner()
    job = watched_job(owner)
    st.title(t("train.title"))
    st.markdown(t("train.intro"))
    with st.expander(t("train.explain")):
        st.markdown(t("train.explain_body"))
    if job is None:
        new_run_form(owner)                  # data | model and its untrained preview, Start
    else:
        run_view(job, owner)                 # controls, live view, timeline, checkpoints
    st.header(t("train.all") if SETTINGS.watch_others else t("train.mine"))
    # Every 5 s on the form; every 15 s under a watched run, whose own view is live: each
    # re-run redraws the list in the browser, on the trainer's cores when they are shared.
    st.fragment(run_every=5.0 if job is None else 15.0)(all_runs)(owner)


@st.cache_resource(show_spinner=False)
def manager(runs: str, data_root: str, cluster: str | None) -> jobs.JobManager:
    """One per server: every session sees the same jobs and the same queue."""
    return jobs.JobManager(Path(runs), Path(data_root), cluster=cluster)


@st.cache_resource(show_spinner=False)
def device() -> dict:
    return system.device_info()


@st.cache_data(show_spinner=False, max_entries=32)
def untrained(config_json: str, seed: int):
    """The layer tables and what the untrained generator makes from noise (as the course
    shows before training), as plain and contrast-stretched grids."""
    preview = dcgan.untrained_preview(presets.GANConfig.from_json(config_json), seed)
    return {**preview, "grid": images.png_bytes(images.grid(preview["images"], 8), scale=2),
            "stretched_grid": images.png_bytes(images.grid(preview["stretched"], 8), scale=2)}


@st.cache_data(show_spinner=False, max_entries=16)
def real_strip(spec: str):
    """The course's first-five-images view, and what was skipped and why."""
    source = None if data.is_builtin(spec) else jm().sources.load(spec)
    if source is None:
        imgs = faces.sample(5, 0)[0]
        return images.png_bytes(images.grid(imgs, 5), scale=2), [], None
    return (images.png_bytes(images.grid(np.asarray(source.images[:5]), 5), scale=2),
            list(source.skipped), len(source))


def jm() -> jobs.JobManager:
    return manager(str(SETTINGS.runs), str(SETTINGS.data_root), SETTINGS.cluster)


# --- Who is this, and which run are they watching? ---------------------------------------------
# The owner token and the job id live in the URL, so a reload or a reopened link finds the run.

def session_owner() -> str:
    if "owner" not in st.query_params:
        st.query_params["owner"] = secrets.token_urlsafe(12)
    return st.query_params["owner"]


def watched_job(owner: str) -> jobs.Job | None:
    job = jm().get(st.query_params.get("job", ""))
    if job is not None and job.owner != owner and not SETTINGS.watch_others:
        st.warning(t("train.not_yours"))
        return None
    return job


def watch(job_id):
    st.query_params["job"] = job_id


# --- A new run: data | model and its untrained preview, then Start ---------------------------

def new_run_form(owner: str):
    st.header(t("train.new"))
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader(t("train.data"))
        kind, spec, found = data_choice()
    with right:
        st.subheader(t("train.model"))
        choice = model_choice(real_faces=kind != "builtin")
        if choice.config is None:
            spec = None           # Start stays off: never start with other values than shown
        elif spec and found and not size_fits(found, choice):
            spec = None
        if choice.config is not None:
            untrained_preview(choice.config, choice.seed)
    start_button(owner, spec, choice)


@dataclasses.dataclass
class Choice:
    """What the model column chose: the config (None while a field is out of range or the
    settings are refused, each said on screen) and the run's own numbers."""
    config: presets.GANConfig | None
    steps: int
    seed: int
    quality_every: int


# --- The data column --------------------------------------------------------------------------

def data_choice() -> tuple[str, str | None, int | None]:
    """(kind, spec, images found): the kind of data, the spec a job trains on (None until
    there is a usable one), and how many images it holds (None until known)."""
    kind = st.radio(t("train.data"), ["builtin", "folder", "upload", "kaggle"],
                    format_func=lambda k: t(f"train.data.{k}"), horizontal=True,
                    key="train_data_kind", label_visibility="collapsed")
    upload, found = None, None
    if kind == "builtin":
        spec, found = builtin_faces()
    elif kind == "folder":
        spec = data_folder()
    elif kind == "upload":
        upload = ui.uploader(t("train.data.zip", mb=SETTINGS.max_upload_mb), ["zip"],
                             "train_upload", SETTINGS.max_upload_mb)
        spec = stored_zip(upload) if upload is not None else None
    else:
        st.caption(t("train.data.kaggle_help"))
        spec = "kaggle"
    if spec:
        spec, count = first_five(spec, upload)
        found = count if count is not None else found
    return kind, spec, found


def builtin_faces() -> tuple[str | None, int]:
    n = st.number_input(t("train.data.count"), value=jobs.FIRST_RUN_FACES, step=256,
                        key="train_builtin_n")
    spec = f"builtin:{int(n)}"
    problem = out_of_range(t("train.data.count"), "builtin_faces", n)
    if problem:
        st.error(problem)
        spec = None
    st.caption(t("dcgan.builtin.body", factors=len(faces.FACTORS),
                 combinations=f"{faces.combinations():,}"))
    return spec, int(n)


def data_folder() -> str | None:
    folders = jm().sources.folders()
    if not folders:
        st.info(t("train.data.no_folders", root=SETTINGS.data_root))
        return None
    name = st.selectbox(t("train.data.folder"), folders, key="train_folder")
    return str(SETTINGS.data_root / name)


def stored_zip(upload) -> str | None:
    """The uploaded zip, unpacked once per upload (the session remembers where)."""
    stored = st.session_state.get("train_upload_stored")
    if stored and stored[0] == upload.file_id:
        return stored[1]
    try:
        spec = jm().sources.store_zip(upload.name, upload.getvalue(),
                                      SETTINGS.max_upload_mb * 2**20, SETTINGS.max_upload_files)
    except ValueError as error:
        st.error(t("train.data.bad", error=error))
        return None
    st.session_state.train_upload_stored = (upload.file_id, spec)
    return spec


def first_five(spec: str, upload) -> tuple[str | None, int | None]:
    """Show the data's first five images and what was skipped; (spec, images found), or
    (None, None) with the reason on screen when the data cannot be used."""
    try:
        with st.spinner(t("train.data.loading")):
            strip, skipped, count = real_strip(spec)
    except (ValueError, OSError, RuntimeError) as error:
        message = str(error)
        if spec == "kaggle":        # the CLI's advice (--data) is no use here
            message = t("train.data.kaggle_failed", root=SETTINGS.data_root,
                        url=f"https://www.kaggle.com/datasets/{data.KAGGLE_DATASET}")
        if upload is not None:      # the user's name for the file, not ours
            message = message.replace(Path(spec).name, upload.name)
            jm().discard_upload(spec)
            st.session_state.pop("train_upload_stored", None)
        st.error(t("train.data.bad", error=message))
        return None, None
    st.image(strip, caption=t("train.data.first5"), output_format="PNG")
    if count is not None:
        st.caption(t("train.data.count_found", n=f"{count:,}"))
    if skipped:
        with st.expander(t("train.data.skipped", n=len(skipped))):
            st.table({t("train.table.file"): [s[0] for s in skipped[:200]],
                      t("train.table.why"): [s[1] for s in skipped[:200]]})
    return spec, count


# --- The model column -------------------------------------------------------------------------

def model_choice(real_faces: bool) -> Choice:
    # The built-in faces start from the learner's first run; real faces from `studio`,
    # the recipe the sweep chose for them (docs/sweep.md). One choice per kind of data.
    name = st.selectbox(t("train.preset"), PRESETS,
                        index=PRESETS.index("studio" if real_faces else jobs.FIRST_RUN_PRESET),
                        key=f"train_preset_{'real' if real_faces else 'builtin'}",
                        help=t("train.preset_help"))
    base = presets.PRESETS[name]
    # No min/max on the fields themselves: Streamlit would keep the last valid value and
    # show the reason only on hover, in English. What is typed is what is checked, here,
    # in the page's words, and Start stays off until every field is in range.
    c = st.columns(3)
    steps = c[0].number_input(t("train.steps"), value=FIRST.steps, step=100, key="train_steps")
    batch = c[1].number_input(t("train.batch"), value=min(base.batch_size, 64), step=8,
                              key=f"train_batch_{name}")
    seed = c[2].number_input(t("train.seed"), value=0, step=1, key="train_seed")
    c = st.columns(3)
    g_lr = c[0].number_input("G lr", value=base.g_lr, step=1e-4, format="%g",
                             key=f"train_glr_{name}")
    d_lr = c[1].number_input("D lr", value=base.d_lr, step=1e-4, format="%g",
                             key=f"train_dlr_{name}")
    latent = c[2].number_input(t("train.latent"), value=base.latent_dim, step=1,
                               key=f"train_latent_{name}")
    c = st.columns(3)
    precision = c[0].selectbox(t("train.precision"), presets.PRECISIONS, key="train_precision")
    smoothing = c[1].number_input(t("train.smoothing"), value=base.label_smoothing, step=0.05,
                                  format="%g", key=f"train_smooth_{name}")
    quality_every = c[2].number_input(t("train.quality_every"), value=FIRST.quality_every,
                                      step=100, key="train_quality", help=t("train.quality_help"))
    choice = Choice(None, int(steps), int(seed), int(quality_every))
    numbers = {"steps": (t("train.steps"), steps), "batch_size": (t("train.batch"), batch),
               "seed": (t("train.seed"), seed), "g_lr": ("G lr", g_lr),
               "d_lr": ("D lr", d_lr), "latent_dim": (t("train.latent"), latent),
               "label_smoothing": (t("train.smoothing"), smoothing),
               "quality_every": (t("train.quality_every"), quality_every)}
    problems = [p for key, (label, value) in numbers.items()
                if (p := out_of_range(label, key, value))]
    for problem in problems:
        st.error(problem)
    if problems:
        return choice
    try:
        choice.config = presets.preset(name, batch_size=int(batch), g_lr=float(g_lr),
                                       d_lr=float(d_lr), latent_dim=int(latent),
                                       precision=precision, label_smoothing=float(smoothing))
    except ValueError as error:
        st.error(t("train.bad_settings", error=error))
    return choice


def out_of_range(label: str, key: str, value) -> str | None:
    """presets.LIMITS[key]'s refusal of `value` in the page's words, or None within it."""
    low, high = presets.LIMITS[key]
    if low <= value <= high:
        return None
    return t("train.out_of_range", field=label, low=ui.number(low), high=ui.number(high),
             value=ui.number(value))


def size_fits(found: int, choice: Choice) -> bool:
    """The worker's size checks, here, in the page's words."""
    try:
        train.check_data_size(found, choice.config.batch_size, choice.quality_every)
        return True
    except train.DataSizeError as error:
        st.error(data_size_words(error))
        return False


def untrained_preview(config: presets.GANConfig, seed: int):
    preview = untrained(config.to_json(), seed)
    st.image(preview["grid"], caption=t("train.untrained"), output_format="PNG")
    st.image(preview["stretched_grid"], output_format="PNG",
             caption=t("train.untrained_stretched", spread=ui.number(
                 round(preview["spread"], 1))))
    with st.expander(t("train.layers", g=ui.number(preview["g_params"]),
                       d=ui.number(preview["d_params"]))):
        st.markdown("**G**")
        st.dataframe(layer_rows(preview["g_table"]), hide_index=True)
        st.markdown("**D**")
        st.dataframe(layer_rows(preview["d_table"]), hide_index=True)


def start_button(owner: str, spec: str | None, choice: Choice):
    if st.button(t("train.start"), type="primary", disabled=spec is None, key="train_start",
                 icon=":material/play_arrow:"):
        try:
            new = jm().submit(owner, jobs.JobSpec(
                data=spec, config=choice.config, steps=choice.steps, seed=choice.seed,
                quality_every=choice.quality_every))
            watch(new.id)
            st.rerun()
        except train.DataSizeError as error:
            st.error(data_size_words(error))
        except (ValueError, PermissionError) as error:
            st.error(t("train.bad_settings", error=error))


def data_size_words(error) -> str:
    """train.check_data_size's refusal in the page's language."""
    if error.need == "batch":
        return t("train.too_few.batch", train=ui.number(error.images - error.held_out),
                 batch=ui.number(error.batch_size))
    return t("train.too_few.holdout", min=ui.number(train.MIN_HELD_OUT),
             n=ui.number(error.images))


def layer_rows(table):
    """A layer table with its column names in the page's language."""
    return [{t(f"train.table.{key}"): value for key, value in row.items()} for row in table]


# --- The run, live ---------------------------------------------------------------------------

# The live view reads the run's state file itself, every 0.5 s: a trainer's event reaches the
# page within 1 s, and no script re-runs for it. Watching cost the trainer 14 % with a fragment
# polled every 0.6 s (a browser on the trainer's own 2 cores), 7-13 % with the curves and grid
# in a 3 s fragment, 0.5-8 % this way (README, "Measured").
POLL_MS = 500


def live_view(job: jobs.Job, state: dict, snap: dict):
    dev = device()
    lang = ui.lang()
    words = {"status": t("train.status", status="{status}", id=job.id, device=dev["device"],
                         backend=dev["backend"],
                         precision=job.spec.config.precision),
             "names": ui.i18n.section("train.status.", lang),
             "queued": t("train.queued"), "progress": t("train.progress"),
             "numbers": t("train.numbers"), "numbers_help": t("train.numbers_help"),
             "quality_now": t("train.quality_now"), "samples": t("train.samples"),
             "scores_head": t("train.scores_head"), "hair": t("train.hair"),
             "hair_all": t("train.hair_all"), "hair_names": ui.i18n.section("faces.hair.", lang),
             "minutes": t("train.minutes"), "locale": ui.i18n.BCP47[lang]}
    figure = None
    if snap["metrics"] or snap["status"] in ("running", "paused"):     # not while queued
        figure = json.loads(figures.training_figure(
            snap["metrics"], snap["quality"], ui.i18n.section("train.fig.", lang),
            with_quality=snap["spec"]["quality_every"] > 0).to_json())
    ui.train_live(jm().live_dir, state, figure, words, POLL_MS, key=f"train_live_{job.id}")


def controls(job: jobs.Job, status: str, owner: str):
    """Pause, resume and stop for the run's owner; a note for anyone else watching."""
    if job.owner != owner:
        st.caption(t("train.watching"))
        return
    buttons = {"running": [("pause", ":material/pause:")],
               "paused": [("resume", ":material/play_arrow:")]}.get(status, [])
    if status in jobs.ACTIVE:
        buttons.append(("stop", ":material/stop:"))
    # side by side from the left: a waiting run's Stop has no empty slot beside it
    for column, (action, icon) in zip(st.columns([1, 1, 1, 4]), buttons):
        column.button(t(f"train.{action}"), key=f"train_{action}", icon=icon,
                      on_click=jm().act, args=(job.id, owner, action))


def run_view(job: jobs.Job, owner: str):
    c = st.columns([4, 1])
    c[0].header(t("train.run", id=job.id))
    if c[1].button(t("train.new"), key="train_new_run", icon=":material/add:"):
        del st.query_params["job"]
        st.rerun()
    state = jm().live(job)     # first: the snapshot is then as new, its message included
    snap = job.snapshot()
    controls(job, snap["status"], owner)       # above the live view: it is tall, with its grid
    if snap["message"]:
        (st.error if snap["status"] in ("error", "diverged") else
         st.warning if snap["status"] == "interrupted" else st.info)(snap["message"])
    live_view(job, state, snap)

    st.subheader(t("train.timeline"))
    samples = snap["samples"]
    if samples:
        steps = [s for s, _ in samples]
        # Follow the newest grid, unless the user has scrubbed back.
        key = f"timeline_{job.id}"
        if st.session_state.get(key) in (None, st.session_state.get(key + "_newest")):
            st.session_state[key] = steps[-1]
        st.session_state[key + "_newest"] = steps[-1]
        picked = st.select_slider(t("train.timeline.step"), steps, key=key)
        path = dict(samples)[picked]
        st.image(path, output_format="PNG")
        if st.button(t("train.timeline.gif"), key="timeline_make_gif"):
            st.session_state.timeline_gif = (job.id, len(samples),
                                             job.timeline_gif(samples))
        gif = st.session_state.get("timeline_gif")
        if gif and gif[:2] == (job.id, len(samples)):
            st.download_button(t("train.timeline.download"), gif[2], f"{job.id}.gif",
                               "image/gif", key="timeline_gif_download",
                               icon=":material/download:")

    st.subheader(t("train.checkpoints"))
    checkpoints = job.checkpoints()
    if checkpoints:
        st.caption(", ".join(p.stem for p in checkpoints))
    c = st.columns(3)
    if job.generator_path is not None:
        c[0].download_button(t("train.export"), job.generator_path.read_bytes(),
                             f"generator-{job.id}.keras", key="train_export",
                             icon=":material/download:")
        if c[1].button(t("train.open_explorer"), key="train_open_explorer",
                       icon=":material/tune:"):
            st.switch_page("pages/latent_explorer.py", query_params={"model": job.id})
    if job.owner == owner and job.status not in jobs.ACTIVE and checkpoints:
        more = c[2].number_input(t("train.more_steps"), 1, 1_000_000, 200, key="train_more")
        if c[2].button(t("train.continue"), key="train_continue"):
            try:
                spec = dataclasses.replace(job.spec, steps=job.step + int(more))
                jm().submit(owner, spec, resume_id=job.id)
                st.rerun()
            except (ValueError, PermissionError) as error:
                st.error(t("train.bad_settings", error=error))


def all_runs(owner: str):
    """Every run's status and step (a fragment: refreshed on its own)."""
    everyone = jm().jobs()
    listed = [j for j in everyone if j.owner == owner or SETTINGS.watch_others]
    if not listed:
        st.caption(t("train.none"))
    if len(everyone) > len(listed):     # a new tab is a new session: say what it cannot see
        st.caption(t("train.others", n=ui.number(len(everyone) - len(listed))))
    for j in listed[:30]:
        c = st.columns([3, 2, 2, 1])
        c[0].markdown(f"`{j.id}`" + (" " + t("train.yours") if j.owner == owner else ""))
        c[1].markdown(t(f"train.status.{j.status}"))
        c[2].markdown(t("train.step_of", step=j.step, total=j.spec.steps))
        if c[3].button(t("train.watch"), key=f"watch_{j.id}"):
            watch(j.id)
            st.rerun()           # the whole page: the run view above changes too


main()
