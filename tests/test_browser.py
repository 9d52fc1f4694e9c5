"""End to end in real headless Chromium: open the app, go to Toy GAN, play, see the charts
change, pause, step, reset. Skips when Debian's chromium or Playwright is missing."""

import json
import os
import re
import time

import pytest

from app_server import CHROMIUM, CHROMIUM_FLAGS, button, go_to, serve_app

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """One server for the module (each start imports TensorFlow), its runs in a folder of
    its own; a tenth of the projection's default steps: the page is tested here, not the
    search."""
    env = {"GAN_STUDIO_PROJECT_STEPS": "20",
           "GAN_STUDIO_RUNS": str(tmp_path_factory.mktemp("runs"))}
    with serve_app(env=env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def read(stats, name):
    return stats.get_attribute(f"data-{name}")


def pause(page):
    """Press Pause and wait until the player shows where the run is: its title's step is the
    timeline's (the page sends the run's state as Pause's rerun ends; a loaded machine once
    took over 30 s to rerun). Returns the title."""
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_role("button", name="Play", exact=True).wait_for(timeout=90_000)
    page.wait_for_function(
        "() => { const f = document.querySelector(\"iframe[title*='toy_player']\");"
        " const s = f && f.contentDocument && f.contentDocument.querySelector('#stats');"
        " const t = document.querySelector(\"input[aria-label='Timeline: show step']\");"
        " const step = s && (s.dataset.title || '').match(/^step ([\\d,]+)/i);"
        " return step && t && step[1].replace(/,/g, '') === t.getAttribute('aria-valuetext')"
        ".replace(/,/g, ''); }", timeout=90_000)
    return page.frame_locator("iframe[title*='toy_player']").locator("#stats").get_attribute(
        "data-title")


def shown_step(title: str) -> int:
    return int(re.match(r"Step ([\d,]+) ·", title).group(1).replace(",", ""))


def losses_axis(page) -> list:
    """The x range the player's losses chart shows now, as plotly laid it out."""
    return page.evaluate(
        "() => document.querySelector(\"iframe[title*='toy_player']\")"
        ".contentDocument.getElementById('chart')._fullLayout.xaxis3.range")


def test_toy_gan_plays_pauses_steps_and_resets(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    go_to(page, app_url, "Toy GAN")
    # The first page this server draws: in a fresh clone's first run it once took over 30 s
    # (cold files on a 2-core machine); warm, the whole test takes 25 s.
    page.get_by_role("button", name="Play", exact=True).wait_for(timeout=90_000)
    player = page.frame_locator("iframe[title*='toy_player']")
    stats = player.locator("#stats")
    player.locator(".main-svg").first.wait_for(timeout=30_000)
    assert read(stats, "title").startswith("Step 0 · generated N(")

    page.get_by_role("button", name="Play", exact=True).click()
    page.get_by_role("button", name="Pause", exact=True).wait_for()
    page.wait_for_function(
        "() => { const f = document.querySelector(\"iframe[title*='toy_player']\");"
        " return f && Number(f.contentDocument.querySelector('#stats').dataset.frames) > 20; }",
        timeout=30_000)
    first = int(read(stats, "frames"))
    title_before = read(stats, "title")
    time.sleep(2)
    assert int(read(stats, "frames")) > first, "the charts keep changing while playing"
    assert read(stats, "title") != title_before
    page.screenshot(path=str(tmp_path / "playing.png"))

    step_paused = shown_step(pause(page))
    paused = int(read(stats, "frames"))
    time.sleep(1.5)
    assert int(read(stats, "frames")) == paused, "nothing moves while paused"
    assert shown_step(read(stats, "title")) == step_paused

    page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_timeout(1500)
    stepped = shown_step(read(stats, "title"))
    assert stepped == step_paused + 5
    assert losses_axis(page)[1] > stepped * 0.9        # the losses chart spans the run so far

    page.get_by_role("button", name="Reset", exact=True).click()
    page.wait_for_timeout(1500)
    assert read(stats, "title").startswith("Step 0 ·")
    assert losses_axis(page) == [0, 1], "a new run does not keep the old run's axes"
    page.screenshot(path=str(tmp_path / "reset.png"))
    assert page.locator("text=Traceback").count() == 0
    page.close()


FACE = "img.gan-face"                          # the explorer's face (inline, no media URL)
IMAGES = "[data-testid='stImage'] img"        # every other picture on a page


def face_src(page):
    return page.locator(FACE).first.get_attribute("src")


def wait_new_face(page, before, timeout=30_000):
    page.wait_for_function(
        "(s) => { const i = document.querySelector(\"" + FACE.replace('"', '\\"') + "\");"
        " return i && i.getAttribute('src') !== s && i.complete; }", arg=before, timeout=timeout)


def test_latent_explorer_slider_exercise_favourite_download(app_url, browser, tmp_path):
    from gan_core import latent, noise, settings

    if not settings.SHIPPED_GENERATOR.exists():
        pytest.skip("assets/generator/generator.keras is missing")
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    go_to(page, app_url, "Latent explorer")
    slider = page.get_by_role("slider", name="z[0]")
    slider.wait_for(timeout=60_000)
    before = face_src(page)
    slider.focus()
    page.keyboard.press("ArrowRight")
    wait_new_face(page, before)                               # the face follows the slider
    page.wait_for_function("() => location.search.includes('z=0%3A')")   # and the URL too
    page.screenshot(path=str(tmp_path / "explorer.png"))

    images_before = page.locator(IMAGES).count()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(f"() => document.querySelectorAll(\"{IMAGES}\").length > "
                           f"{images_before}", timeout=30_000)
    assert page.get_by_text("All components equal").count() == 1   # the exercise's explanation

    page.get_by_role("button", name="Keep").click()
    page.get_by_role("radio", name="Favourites (1)").click()      # the tool counts them
    button = page.get_by_role("button", name="PNG")
    button.wait_for(timeout=30_000)
    with page.expect_download() as download:
        button.click()
    z, model = latent.read_face_png(open(download.value.path(), "rb").read())
    assert z.shape == (100,) and model.startswith("gan-studio/v1/")
    assert z[0] == pytest.approx(noise.for_seed(0, 100)[0] + 0.01, abs=0.006)
    assert page.locator("text=Traceback").count() == 0
    page.close()


def test_training_page_streams_pauses_stops_and_exports(app_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    go_to(page, app_url, "DCGAN training")
    page.get_by_role("button", name="Start training").wait_for(timeout=60_000)
    for label, value in (("How many faces", "256"), ("Batch", "8"), ("Size of z", "16"),
                         ("Steps", "2000")):
        field = page.locator(f"input[aria-label='{label}']")
        field.fill(value)
        field.press("Enter")
        page.wait_for_timeout(500)
    page.get_by_role("button", name="Start training").click()
    live = page.frame_locator("iframe[title*='train_live']")
    progress = live.locator("#progress")
    live.locator("#progress:not([data-step='0']):not([data-step=''])").wait_for(
        timeout=90_000)                                 # the first step is in
    first = progress.inner_text()
    assert re.fullmatch(r"Step [\d,]+ of 2,000 · epoch \d+ · [\d,]+ images/s · about "
                        r"[\d.]+ min left", first), first
    assert "Training" in live.locator("#status").inner_text()
    deadline = time.time() + 30
    while progress.inner_text() == first:             # the step keeps moving
        assert time.time() < deadline, first
        time.sleep(0.2)
    # The loss curves grow point by point, and the sample grid changes.
    points = live.locator("#chart .scatterlayer .trace").first.locator("path.js-line")
    points.wait_for(timeout=60_000)
    curve = points.get_attribute("d")
    grid = live.locator("#grid")
    grid.wait_for(timeout=60_000)
    image = grid.get_attribute("src")
    deadline = time.time() + 60
    while points.get_attribute("d") == curve or grid.get_attribute("src") == image:
        assert time.time() < deadline, (curve, image)
        time.sleep(0.5)
    assert grid.evaluate("(img) => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(tmp_path / "training.png"))

    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for(timeout=30_000)
    assert "Paused" in live.locator("#status").inner_text()
    paused = progress.inner_text()
    page.wait_for_timeout(2500)
    assert progress.inner_text() == paused
    button(page, "Stop").click()
    # The live view sees the run stop and re-runs the page: the export appears.
    page.get_by_role("button", name="Download the generator").wait_for(timeout=60_000)
    # the live view's next poll (every 0.5 s) carries the end: the export can come first
    live.locator("#status", has_text="Stopped").wait_for(timeout=10_000)
    page.reload()                                       # the run is still there
    export = page.get_by_role("button", name="Download the generator")
    export.wait_for(timeout=60_000)
    with page.expect_download() as download:
        export.click()
    from gan_core import generate

    assert download.value.suggested_filename.endswith(".keras")
    download.value.save_as(tmp_path / "exported.keras")
    model = generate.load_generator(tmp_path / "exported.keras")
    assert model.output_shape == (None, 64, 64, 3)
    assert page.locator("text=Traceback").count() == 0
    page.close()


def plane(page, what):
    """The 2-D player's first plane: D's heat map ("heat") or the real points ("real")."""
    index = {"heat": 0, "real": 1}[what]
    return page.evaluate(
        "(i) => { const d = document.querySelector(\"iframe[title*='toy_player']\")"
        ".contentDocument.getElementById('chart').data[i];"
        " return i === 0 ? d.z : [d.x, d.y]; }", index)


def test_toy_gan_2d_plays_steps_d_only_and_learns_a_drawn_distribution(app_url, browser,
                                                                       tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    go_to(page, app_url, "Toy GAN")
    page.get_by_text("2-D: shapes and mixtures").click()
    page.get_by_role("button", name="Step D only").wait_for(timeout=90_000)
    stats = page.frame_locator("iframe[title*='toy_player']").locator("#stats")
    page.wait_for_function(
        "() => { const f = document.querySelector(\"iframe[title*='toy_player']\");"
        " const s = f && f.contentDocument && f.contentDocument.querySelector('#stats');"
        " return s && (s.dataset.title || '').startsWith('step 0'); }", timeout=60_000)
    before = plane(page, "heat")

    page.get_by_role("button", name="Play", exact=True).click()
    page.get_by_role("button", name="Pause", exact=True).wait_for()
    page.wait_for_function(        # (the iframe may be between mounts on a loaded machine)
        "() => { const f = document.querySelector(\"iframe[title*='toy_player']\");"
        " const s = f && f.contentDocument && f.contentDocument.querySelector('#stats');"
        " return s && Number(s.dataset.frames) > 24; }", timeout=30_000)
    assert plane(page, "heat") != before, "D's heat map changes while playing"
    page.screenshot(path=str(tmp_path / "playing_2d.png"))
    title, heat = pause(page), plane(page, "heat")

    page.get_by_role("button", name="Step D only").click()      # D learns, G's step stays
    page.wait_for_function(
        "(h) => { const f = document.querySelector(\"iframe[title*='toy_player']\");"
        " const c = f && f.contentDocument && f.contentDocument.getElementById('chart');"
        " return c && c.data && JSON.stringify(c.data[0].z) !== h; }", arg=json.dumps(heat),
        timeout=30_000)
    assert read(stats, "title").split(" · ")[0] == title.split(" · ")[0]

    page.get_by_label("Data").first.click()                       # the sidebar's data box
    page.get_by_role("option", name="drawn by you").click()
    pad = page.frame_locator("iframe[title*='toy_draw']").locator("#pad")
    pad.wait_for(timeout=30_000)
    box = pad.bounding_box()
    # a stroke across the pad's right half, at the height of y = 0 on [-3, 3]
    page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    for k in range(1, 31):
        page.mouse.move(box["x"] + (0.6 + 0.01 * k) * box["width"],
                        box["y"] + 0.5 * box["height"], steps=2)
    page.mouse.up()
    page.wait_for_function(
        "() => { const f = document.querySelector(\"iframe[title*='toy_player']\");"
        " const c = f && f.contentDocument && f.contentDocument.getElementById('chart');"
        " const d = c && c.data;"
        " return d && d[1].x.length && Math.min(...d[1].x) > 0.2; }", timeout=60_000)
    xs, ys = plane(page, "real")
    assert min(xs) > 0.2 and max(xs) < 2.7 and max(abs(y) for y in ys) < 0.4   # the stroke
    page.screenshot(path=str(tmp_path / "drawn.png"), full_page=True)
    assert page.locator("text=Traceback").count() == 0
    page.close()


def test_start_from_a_picture_refuses_a_bad_file_and_projects_a_good_one(app_url, browser,
                                                                         tmp_path):
    from PIL import Image

    from gan_core import generate, noise, settings

    if not settings.SHIPPED_GENERATOR.exists():
        pytest.skip("assets/generator/generator.keras is missing")
    gen = generate.Generator.load(settings.SHIPPED_GENERATOR)
    Image.fromarray(gen(noise.for_seed(21, gen.latent_dim))[0]).resize((300, 200)).save(
        tmp_path / "mine.png")
    (tmp_path / "broken.png").write_text("not a picture")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    go_to(page, app_url, "Latent explorer")
    page.get_by_text("Start from a picture").first.click()
    upload = page.locator(".st-key-pic_upload input[type=file]")
    upload.wait_for(state="attached", timeout=60_000)
    upload.set_input_files(str(tmp_path / "broken.png"))
    page.get_by_text("broken.png cannot be used: not an image").wait_for(timeout=30_000)
    upload.set_input_files(str(tmp_path / "mine.png"))
    page.get_by_role("button", name="Project").click()
    page.get_by_role("button", name="Back to the projection").wait_for(timeout=120_000)
    assert page.get_by_text("Traceback").count() == 0
    assert re.search(r"LPIPS \d\.\d{3}", page.inner_text("body"))
    page.screenshot(path=str(tmp_path / "projected.png"))
