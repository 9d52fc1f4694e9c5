"""Latency of one slider move in the latent explorer, in real headless Chromium.

    python tests/perf/explorer_latency.py --moves 20

Opens the explorer, focuses the first slider, and for each move presses the right arrow and
times until the new face is loaded in the page. Prints one JSON line (p50, p95, max in ms).
On one machine the browser and the server share the CPU, as they would not in a classroom.
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

NEW_FACE = ("(s) => { const i = document.querySelector(\"[data-testid='stImage'] img\");"
            " return i && i.getAttribute('src') !== s && i.complete; }")


def main(moves):
    latencies = []
    with serve_app() as (url, _), sync_playwright() as p:
        browser, page = open_in_chromium(p, url, "Latent explorer")
        slider = page.get_by_role("slider").first
        slider.wait_for(timeout=120_000)
        time.sleep(3)
        face = page.locator("[data-testid='stImage'] img").first
        for _ in range(moves):
            before = face.get_attribute("src")
            slider.focus()
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(NEW_FACE, arg=before, timeout=30_000)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.5)
        browser.close()
    lat = np.array(latencies)
    return {"moves": moves, "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1), "max_ms": round(float(lat.max()), 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20)
    print(json.dumps(main(parser.parse_args().moves)))
