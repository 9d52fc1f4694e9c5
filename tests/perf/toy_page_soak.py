"""Soak the Toy GAN page in real headless Chromium: press Play, then sample the frames the
browser drew and the Streamlit server's resident memory every few seconds.

    .venv/bin/python tests/perf/toy_page_soak.py --minutes 10 [--mode 2d] [--compare]
        [--story unrolled-8]

Prints one JSON object: visible frames per second (mean and the slowest interval), the
browser's mean Plotly draw time, and the server's RSS at the start, end and peak (MB).
Talks only to 127.0.0.1. Not collected by pytest: targets live here, not in timed tests.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app_server import CHROMIUM, CHROMIUM_FLAGS, go_to, serve_app  # noqa: E402
from procfs import cpu_seconds, rss_mb  # noqa: E402  (beside this script)


CORES = len(os.sched_getaffinity(0))      # the machine's, before --pin narrows this script's


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=10, help="seconds between samples")
    parser.add_argument("--mode", choices=["1d", "2d"], default="1d")
    parser.add_argument("--compare", action="store_true", help="2-D: train B beside A")
    parser.add_argument("--story", help="2-D: play this story (default: the page's own)")
    parser.add_argument("--pin", action="store_true",
                        help="the server on the first core, the browser on the others, as in a "
                             "classroom where each learner's browser runs on the learner's "
                             "machine (on shared cores the browser's work inflates the server's)")
    args = parser.parse_args()

    with serve_app() as (url, server), sync_playwright() as p:
        if args.pin:
            pin(server.pid)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        go_to(page, url, "Toy GAN")
        if args.mode == "2d":
            if args.story:
                page.goto(f"{url}/toy-gan?toy=2d&story={args.story}")
            else:
                page.get_by_text("2-D: shapes and mixtures").click()
            page.get_by_role("button", name="Step D only").wait_for(timeout=90_000)
            if args.compare:
                page.get_by_text("Compare: train B beside A").click()
                page.wait_for_timeout(3000)
        page.get_by_role("button", name="Play", exact=True).click()
        stats = page.frame_locator("iframe[title*='toy_player']").locator("#stats")
        time.sleep(5)  # warm up: first chunks, JIT
        def sample():
            return (time.time(), int(stats.get_attribute("data-frames")), rss_mb(server.pid),
                    float(stats.get_attribute("data-draw-ms")), cpu_seconds(server.pid))

        # One at the start and one at the end, whatever --every: on a busy machine a short
        # run's readings can take longer than its interval.
        samples, end = [sample()], time.time() + args.minutes * 60
        while time.time() < end:
            time.sleep(max(0.0, min(args.every, end - time.time())))
            samples.append(sample())
        title = stats.get_attribute("data-title")
        browser.close()

    rates = [(f1 - f0) / (t1 - t0) for (t0, f0, *_), (t1, f1, *_) in zip(samples, samples[1:])]
    rss = [s[2] for s in samples]
    # The server's CPU per second of one learner's play (the browser's own is not counted):
    # how many learners a server's cores hold, each at the fps measured here.
    server_cores = (samples[-1][4] - samples[0][4]) / (samples[-1][0] - samples[0][0])
    print(json.dumps({
        "mode": args.mode, "story": args.story, "compare": args.compare,
        "minutes": args.minutes,
        "last_title": title,
        "fps_mean": round((samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0]), 1),
        "fps_slowest_interval": round(min(rates), 1),
        "draw_ms_mean": round(sum(s[3] for s in samples) / len(samples), 1),
        "rss_start_mb": round(rss[0], 1), "rss_end_mb": round(rss[-1], 1),
        "rss_peak_mb": round(max(rss), 1), "rss_growth_mb": round(rss[-1] - rss[0], 1),
        "server_cores_per_session": round(server_cores, 3),
        "pinned": args.pin,
        "learners_per_server": int(CORES / max(server_cores, 1e-6)),
    }))


def pin(server_pid: int):
    """Every thread of the server on the first core; this script, and so the browser it
    starts, on the rest."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--pin needs two cores or more")
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cores[0]})
    os.sched_setaffinity(0, set(cores[1:]))


if __name__ == "__main__":
    main()
