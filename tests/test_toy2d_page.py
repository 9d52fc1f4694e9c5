"""The Toy GAN page's 2-D mode, through Streamlit's AppTest: the switch, play, each half of the
game, A/B, the link's set-up, a drawn distribution, in English and Bahasa Indonesia."""

import numpy as np
import pytest

from gan_core import i18n, toy2d
from test_pages import open_app


def state(at):
    return at.session_state["toy2d_page"]


def open_2d(lang="en", **query):
    at = open_app("pages/toy_gan.py", lang=lang, **query)
    at.segmented_control(key="toy_dim").set_value("2d").run()
    assert not at.exception
    return at


@pytest.mark.parametrize("lang", ["en", "id"])
def test_the_2d_switch_play_and_each_half_of_the_game(lang):
    at = open_2d(lang)
    page = state(at)
    title = {"en": "mode collapse", "id": "mode collapse"}[lang]
    assert title in at.title[0].value
    assert page.runs[0].cfg == toy2d.PRESETS["vanilla-8"].config and page.runs[0].steps == 0
    assert at.query_params["toy"] == "2d" and at.query_params["story"] == "vanilla-8"
    at.button(key="toy2d_play").click().run()              # a chunk: 15 frames of 5 steps
    page = state(at)
    assert page.playing and page.runs[0].steps == 75 and len(page.chunk["frames"]) == 15
    heat = page.chunk["frames"][-1]["set"]["0"]["z"]
    assert heat != page.chunk["base"]["data"][0]["z"]        # D's belief moved
    at.button(key="toy2d_play").click().run()              # pause: the screen goes to the run
    steps, d_before = state(at).runs[0].steps, [p.copy() for p in state(at).runs[0].gan.d]
    chunk = state(at).chunk
    assert chunk["jump"] and chunk["start"] == steps == 75 and chunk["frames"] == []
    g_before = [p.copy() for p in state(at).runs[0].gan.g]
    at.button(key="toy2d_step_d").click().run()             # D moves, G stays, no step counted
    run = state(at).runs[0]
    assert run.steps == steps and run.d_only == 1
    assert all(np.array_equal(a, b) for a, b in zip(g_before, run.gan.g))
    assert not all(np.array_equal(a, b) for a, b in zip(d_before, run.gan.d))
    d_now = [p.copy() for p in run.gan.d]
    at.button(key="toy2d_step_g").click().run()             # G moves, D stays
    run = state(at).runs[0]
    assert run.steps == steps + 1
    assert all(np.array_equal(a, b) for a, b in zip(d_now, run.gan.d))
    assert len(at.get("download_button")) == 1           # the history as CSV
    assert not at.exception and not at.error


def test_a_story_a_cure_and_a_and_b_share_data_seed_and_charts():
    at = open_2d()
    at.selectbox(key="toy2d_story").set_value("wgan-gp-8").run()
    assert state(at).runs[0].cfg.cure == "wgan_gp"
    at.toggle(key="toy2d_compare").set_value(True).run()
    at.selectbox(key="toy2d_b_cure").set_value("none").run()
    a, b = state(at).runs
    assert (a.cfg.cure, b.cfg.cure) == ("wgan_gp", "none")
    assert toy2d.replace(a.cfg, cure="none") == b.cfg           # one switch apart
    np.testing.assert_array_equal(a.real_shown, b.real_shown)   # the same data
    base, side = state(at).chunk["base"], state(at).chunk["side"]
    planes = [trace for trace in base["data"] if trace["type"] == "heatmap"]
    assert len(planes) == 2
    assert base["layout"]["xaxis"]["range"] == base["layout"]["xaxis2"]["range"]
    # the series: one axis per panel, A's line and B's (dashed) on each
    dashes = {trace["line"]["dash"] for trace in side["data"]}
    assert dashes == {"solid", "dash"} and len(side["data"]) == 12
    assert at.query_params["b"] == "none"
    at.button(key="toy2d_play").click().run()
    assert state(at).runs[0].steps == state(at).runs[1].steps == 75


def test_a_shared_link_opens_its_exact_setup_and_a_bad_one_is_said():
    at = open_app("pages/toy_gan.py", toy="2d", story="spectral-norm-8",
                  setup="data:grid25,seed:3,d_units:16")
    cfg = state(at).runs[0].cfg
    assert (cfg.data, cfg.seed, cfg.d_units, cfg.cure) == ("grid25", 3, 16, "spectral_norm")
    assert "Modes covered" in str(state(at).chunk["side"]["layout"])
    bad = open_app("pages/toy_gan.py", toy="2d", setup="lr_g:fast")
    assert "could not be read" in bad.warning[0].value and not bad.exception
    assert state(bad).runs[0].cfg == toy2d.PRESETS["vanilla-8"].config


def test_a_drawn_distribution_becomes_the_data():
    at = open_2d()
    at.selectbox(key="toy2d_data").set_value("drawn").run()
    assert "at least" in at.info[0].value                   # nothing drawn yet: said, no run
    points = [[1.0 + 0.01 * i, -1.0] for i in range(30)]
    state(at).drawn = points            # what the pad sends when a stroke ends
    at.run()
    run = state(at).runs[0]
    assert run.cfg.data == "drawn"
    assert np.abs(run.real_shown - [1.15, -1.0]).max() < 0.5  # the real points are the drawing


def test_each_session_speaks_its_own_language_whichever_came_first():
    # pages/toy_2d.py is imported once per server: its words must not be the first session's.
    need = {}
    for lang in ("id", "en", "id"):
        at = open_2d(lang)
        at.selectbox(key="toy2d_data").set_value("drawn").run()
        need.setdefault(lang, set()).add(at.info[0].value)
    words = {lang: i18n.t("toy2d.draw_need", lang, n=10) for lang in need}
    assert words["id"] != words["en"]
    assert need == {lang: {words[lang]} for lang in need}


def test_back_to_1d_leaves_the_2d_link_behind():
    at = open_2d()
    at.segmented_control(key="toy_dim").set_value("1d").run()
    assert not at.exception and "bell curve" in at.title[0].value
    assert "toy" not in at.query_params and "setup" not in at.query_params
    assert at.session_state["toy_page"].run is not None        # the 1-D toy is there again
