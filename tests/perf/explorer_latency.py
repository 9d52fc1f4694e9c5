"""Latency of one slider move in the latent explorer, in real headless Chromium.

    python tests/perf/explorer_latency.py --moves 100

Opens the explorer, focuses the first slider, and for each move presses the right arrow and
times until the new face is on screen. Two clocks:
- page: inside the page, from the key press (a keydown listener) to the first animation frame
  in which the face's <img> holds the new, fully loaded picture: what the user sees;
- driver: the same, timed from Python, so it adds Playwright's round trips to the browser.
Prints one JSON line (p50, p95, max in ms of each). On one machine the browser and the server
share the CPU, as they would not in a classroom.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app_server import open_in_chromium, serve_app  # noqa: E402

FACE = "img.gan-face"
NEW_FACE = ("(s) => { const i = document.querySelector(\"" + FACE + "\");"
            " return i && i.getAttribute('src') !== s && i.complete; }")
# Every key press starts a clock that stops at the first frame showing a new, loaded face.
PAGE_CLOCK = """(sel) => {
  window.__latency = [];
  document.addEventListener('keydown', () => {
    const old = document.querySelector(sel), before = old && old.getAttribute('src');
    const t0 = performance.now();
    const check = () => {
      const i = document.querySelector(sel);
      if (i && i.getAttribute('src') !== before && i.complete && i.naturalWidth > 0) {
        window.__latency.push(performance.now() - t0);
      } else {
        requestAnimationFrame(check);
      }
    };
    requestAnimationFrame(check);
  }, true);
}"""


def summary(ms):
    ms = np.array(ms)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1)}


def main(moves):
    latencies = []
    with serve_app() as (url, _), sync_playwright() as p:
        browser, page = open_in_chromium(p, url, "Latent explorer")
        slider = page.get_by_role("slider", name="z[0]")
        slider.wait_for(timeout=120_000)
        time.sleep(3)
        face = page.locator(FACE).first
        page.evaluate(PAGE_CLOCK, FACE)
        for n in range(moves):
            before = face.get_attribute("src")
            slider.focus()
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(NEW_FACE, arg=before, timeout=30_000)
            latencies.append((time.perf_counter() - start) * 1000)
            page.wait_for_function(f"() => window.__latency.length > {n}", timeout=30_000)
            time.sleep(0.5)
        in_page = page.evaluate("() => window.__latency")
        browser.close()
    return {"moves": moves, "page": summary(in_page), "driver": summary(latencies)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    print(json.dumps(main(parser.parse_args().moves)))
