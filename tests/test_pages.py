"""Every page renders without an exception in both languages; the Toy GAN page's controls."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/home.py", "pages/toy_gan.py", "pages/dcgan_training.py",
         "pages/latent_explorer.py"]


def open_app(page=None, lang="en", **query):
    """The app in `lang`, switched to `page` with `query` in its URL."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["lang"] = lang
    at.run()
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("lang", ["en", "id"])
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception(page, lang):
    at = open_app(page, lang)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title, "every page has a title"


def test_language_switch_changes_the_words():
    at = open_app("pages/toy_gan.py", "en")
    assert at.title[0].value.startswith("Toy GAN")
    at.sidebar.selectbox(key="lang").set_value("id").run()
    assert at.title[0].value.startswith("GAN Mainan")
    assert at.button(key="toy_play").label == "Putar"


def toy_state(at):
    return at.session_state["toy_page"]


def test_toy_play_pause_step_reset():
    at = open_app("pages/toy_gan.py")
    state = toy_state(at)
    assert state.run.steps == 0 and not state.playing
    at.button(key="toy_play").click().run()           # play: the fragment trains a chunk
    state = toy_state(at)
    assert state.playing and state.run.steps == 20 * 5
    assert at.button(key="toy_play").label == "Pause"
    at.button(key="toy_play").click().run()           # pause: nothing more trains
    steps, chunk = toy_state(at).run.steps, toy_state(at).chunk
    # the player is sent where the run is (it had a chunk still to play): no frames, a jump
    assert chunk["jump"] and chunk["start"] == steps and chunk["frames"] == []
    at.run()
    assert not toy_state(at).playing and toy_state(at).run.steps == steps
    at.button(key="toy_step").click().run()           # one frame of steps
    assert toy_state(at).run.steps == steps + 5
    assert at.slider(key="toy_seek").max == steps + 5  # the timeline reaches the newest step
    at.button(key="toy_reset").click().run()
    assert toy_state(at).run.steps == 0
    assert not at.exception


def test_timeline_shows_an_earlier_step():
    at = open_app("pages/toy_gan.py")
    for _ in range(3):
        at.button(key="toy_step").click().run()
    at.slider(key="toy_seek").set_value(5).run()
    state = toy_state(at)
    assert state.shown_step == 5 and state.chunk["jump"]
    assert state.chunk["base"]["layout"]["title"]["text"].startswith("Step 5 ·")
    assert state.run.steps == 15  # looking back does not undo training


def test_learning_rate_changes_live_and_model_changes_reset():
    at = open_app("pages/toy_gan.py")
    at.button(key="toy_step").click().run()
    run = toy_state(at).run
    at.sidebar.number_input(key="toy_lr_g").set_value(0.02).run()
    assert toy_state(at).run is run and run.steps == 5 and run.cfg.lr_g == 0.02
    at.sidebar.selectbox(key="toy_d_kind").set_value("mlp").run()
    assert toy_state(at).run is not run and toy_state(at).run.steps == 0
    assert toy_state(at).run.cfg.d_kind == "mlp"


def test_course_preset_fills_the_settings_and_reports_its_kept_step():
    at = open_app("pages/toy_gan.py")
    at.sidebar.selectbox(key="toy_preset").set_value("course").run()
    assert at.sidebar.number_input(key="toy_lr_g").value == 0.5
    assert at.sidebar.number_input(key="toy_sigma_z").value == 10.0
    for _ in range(4):
        at.button(key="toy_step").click().run()
    text = " ".join(m.value for m in at.markdown)
    assert f"step {toy_state(at).run.best_step()}" in text
    assert not at.exception


def test_a_diverging_run_stops_with_a_message_not_a_traceback():
    at = open_app("pages/toy_gan.py")
    at.sidebar.selectbox(key="toy_optimizer").set_value("sgd").run()
    at.sidebar.number_input(key="toy_lr_g").set_value(10.0).run()
    at.sidebar.number_input(key="toy_lr_d").set_value(10.0).run()
    at.sidebar.number_input(key="toy_data_mean").set_value(100.0).run()
    at.slider(key="toy_speed").set_value(50).run()
    for _ in range(10):
        at.button(key="toy_step").click().run()
        if toy_state(at).error:
            break
    assert toy_state(at).error and at.error and "diverged" in at.error[0].value
    assert not at.exception


def test_the_server_caps_malloc_arenas_where_there_is_glibc():
    """app.py caps glibc's arenas (see system.limit_malloc_arenas); elsewhere it is a no-op."""
    import platform

    from gan_core import system

    assert system.limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
