"""What a newcomer tripped over (issue 20), each checked where it can fail: the Toy GAN after a
diverged run, the explorer's GIF, the DCGAN form's numbers, ordinals, local number formats,
and pages that show English the catalogs do not hold while in Bahasa Indonesia."""

import json
import re

import pytest

from gan_core import i18n, jobs
from test_pages import PAGES, open_app


def toy_state(at):
    return at.session_state["toy_page"]


def test_a_diverged_toy_run_sends_no_number_json_cannot_carry_and_reset_starts_clean():
    at = open_app("pages/toy_gan.py")
    at.sidebar.selectbox(key="toy_optimizer").set_value("sgd").run()
    at.sidebar.number_input(key="toy_lr_g").set_value(10.0).run()
    at.sidebar.number_input(key="toy_lr_d").set_value(10.0).run()
    at.slider(key="toy_speed").set_value(50).run()
    for _ in range(10):
        at.button(key="toy_step").click().run()
        if toy_state(at).error:
            break
    state = toy_state(at)
    assert state.error and "diverged" in at.error[0].value
    json.dumps(state.chunk, allow_nan=False)       # what the browser's JSON.parse must read
    caption = " ".join(c.value for c in at.caption)
    assert not re.search(r"\d{12,}", caption), caption       # no 300-digit numbers
    at.button(key="toy_reset").click().run()
    assert not toy_state(at).error and toy_state(at).run.steps == 0 and not at.error
    at.sidebar.number_input(key="toy_lr_g").set_value(0.001).run()
    at.sidebar.number_input(key="toy_lr_d").set_value(0.001).run()
    at.button(key="toy_step").click().run()
    assert toy_state(at).run.steps > 0 and not at.exception


def test_the_interpolation_gif_is_made_in_a_fresh_session():
    at = open_app("pages/latent_explorer.py")
    at.session_state["explorer_tool"] = "interpolation"
    at.run()
    assert not at.exception, at.exception
    at.button(key="interp_make_gif").click().run()
    assert not at.exception, at.exception
    assert at.session_state["interp_gif_made"][1][:6] == b"GIF89a"


@pytest.mark.parametrize("lang, words", [("en", "must be between"), ("id", "harus di antara")])
def test_out_of_range_numbers_are_said_in_the_page_language_and_start_stays_off(lang, words):
    at = open_app("pages/dcgan_training.py", lang)
    at.number_input(key=f"train_batch_{jobs.FIRST_RUN_PRESET}").set_value(100000).run()
    errors = [e.value for e in at.error]
    assert any(words in e and ("100,000" if lang == "en" else "100.000") in e for e in errors), \
        errors
    assert at.button(key="train_start").disabled
    at.number_input(key=f"train_batch_{jobs.FIRST_RUN_PRESET}").set_value(64).run()
    assert not at.error and not at.button(key="train_start").disabled


def test_a_learning_rate_of_one_in_a_million_is_shown_and_accepted():
    at = open_app("pages/dcgan_training.py")
    at.number_input(key=f"train_glr_{jobs.FIRST_RUN_PRESET}").set_value(1e-6).run()
    assert not at.error and not at.button(key="train_start").disabled
    at.number_input(key=f"train_glr_{jobs.FIRST_RUN_PRESET}").set_value(0.0).run()
    assert any("G lr" in e.value for e in at.error)


@pytest.mark.parametrize("value, en, id_", [(1, "1st", "1"), (2, "2nd", "2"), (3, "3rd", "3"),
                                            (11, "11th", "11"), (12.4, "12th", "12"),
                                            (33, "33rd", "33"), (51, "51st", "51"),
                                            (52, "52nd", "52"), (0.2, "1st", "1"),
                                            (99.9, "99th", "99")])
def test_percentiles_read_as_ordinals(value, en, id_):
    assert i18n.percentile(value, "en") == en and i18n.percentile(value, "id") == id_


def test_numbers_follow_the_language():
    assert i18n.number(419_904_000, "en") == "419,904,000"
    assert i18n.number(419_904_000, "id") == "419.904.000"
    assert i18n.number(10.5, "id") == "10,5" and i18n.number(0.0002, "en") == "0.0002"


MARK = "\u27e6"          # every Indonesian catalog string starts with this in the test below


def visible_texts(at):
    """The words a page shows that come from its own code: titles, headers, Markdown,
    captions, alerts, widget labels. Data (tables, code, images) is left out."""
    texts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                 "error", "success"):
        texts += [getattr(e, "value", "") for e in getattr(at, kind)]
    for kind in ("button", "selectbox", "slider", "number_input", "text_input", "text_area",
                 "toggle", "checkbox", "radio"):
        texts += [getattr(e, "label", "") for e in getattr(at, kind)]
    return [t for t in texts if isinstance(t, str)]


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_english_that_the_catalog_does_not_hold(page, monkeypatch):
    """Mark every Indonesian catalog string, render the page in Indonesian, and require each
    visible text with words in it to carry the mark: text without it was written in the code
    (English, unseen by the catalog)."""
    marked = {k: MARK + v for k, v in i18n.catalog("id").items()}
    monkeypatch.setattr(i18n, "catalog", lambda lang: marked if lang == "id" else
                        i18n.catalog.__wrapped__("en"))
    at = open_app(page, "id")
    assert not at.exception, at.exception
    # Names, symbols and numbers are the same in both languages; words of 3+ letters are not.
    stray = [t for t in visible_texts(at)
             if MARK not in t and re.search(r"[A-Za-z]{3,}", re.sub(r"`[^`]*`", "", t))
             and t not in ALLOWED]
    assert not stray, stray


# Texts that are the same in both languages: names and symbols, not sentences.
ALLOWED = {"G lr", "D lr", "GAN Studio", "English", "Bahasa Indonesia", "SeFa", "GANSpace"}
