"""Soak test of the training page: what watching costs the trainer, and the server's memory.

    python tests/perf/training_soak.py --minutes 10

1. Headless: the trainer alone (train.Trainer, the CLI's loop) for --steps steps; its img/s.
2. Served: the same run started from the DCGAN training page in headless Chromium, watched
   for --minutes (the page polls once a second); the job's img/s and the server's memory
   (RSS, sampled every 10 s) over the run.
Prints one JSON line: headless and served img/s, the slowdown, and RSS first/last/max in MB.
Talks to nothing but the app on a loopback port.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from app_server import open_in_chromium, serve_app  # noqa: E402

from gan_core import data, dcgan, train  # noqa: E402

SETTINGS = {"How many faces": "2048", "Batch": "64", "Steps": "100000"}


def steady_rate(rows, skip=20):
    """Mean img/s of the logged steps, leaving out the warm-up."""
    rates = [r["img_per_s"] for r in rows[skip:]]
    return float(np.mean(rates)) if rates else float("nan")


def headless(steps):
    config = dcgan.preset("dcgan", batch_size=64)
    with tempfile.TemporaryDirectory() as out:
        trainer = train.Trainer(config, data.load("builtin:2048"), out, steps=steps,
                                sample_every=20, checkpoint_every=100)
        rows = [e.data for e in trainer.run() if e.kind == "metrics"]
    return steady_rate(rows)


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def served(minutes, runs, screenshot=None):
    import os

    os.environ["GAN_STUDIO_RUNS"] = str(runs)
    memory = []
    with serve_app() as (url, proc), sync_playwright() as p:
        browser, page = open_in_chromium(p, url, "DCGAN training")
        page.get_by_role("button", name="Start training").wait_for(timeout=120_000)
        for label, value in SETTINGS.items():
            field = page.locator(f"input[aria-label='{label}']")
            field.fill(value)
            field.press("Enter")
            page.wait_for_timeout(500)
        page.get_by_role("button", name="Start training").click()
        page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=120_000)
        end = time.time() + minutes * 60
        while time.time() < end:
            memory.append(rss_mb(proc.pid))
            time.sleep(10)
        if screenshot:
            page.screenshot(path=screenshot, full_page=False)
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("Stopped").first.wait_for(timeout=120_000)
        browser.close()
    rows = train.read_jsonl(next(Path(runs).glob("*/metrics.jsonl")))
    return steady_rate(rows), len(rows), memory


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--screenshot", help="save the page as it looks at the end")
    args = parser.parse_args()
    alone = headless(args.steps)
    with tempfile.TemporaryDirectory() as runs:
        watched, steps, memory = served(args.minutes, runs, args.screenshot)
    print(json.dumps({
        "headless_img_per_s": round(alone, 1), "served_img_per_s": round(watched, 1),
        "slowdown_pct": round(100 * (1 - watched / alone), 1), "served_steps": steps,
        "minutes": args.minutes, "rss_first_mb": round(memory[0]),
        "rss_last_mb": round(memory[-1]), "rss_max_mb": round(max(memory)),
        "rss_growth_after_first_minute_mb": round(memory[-1] - memory[min(6, len(memory) - 1)])}))
