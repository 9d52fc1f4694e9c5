"""Soak test of the training page: what watching costs the trainer, and the server's memory.

    python tests/perf/training_soak.py --minutes 10                       # Chromium watches
    python tests/perf/training_soak.py --minutes 10 --watchers 30 --client websocket

1. Headless: the trainer alone (train.Trainer, the CLI's loop) for --steps steps; its img/s.
   It runs before and again after the served run, and the baseline is their mean: a shared
   machine drifts by several per cent in an hour, and a baseline on one side only mixes
   that drift into the slowdown.
2. Served: the same run started from the DCGAN training page in headless Chromium, watched
   for --minutes (the live view reads the run's state file every 0.5 s, adds the new points
   to its curves and loads each new grid; only the list of runs re-runs, every 5 s); the
   job's img/s and the server's memory (RSS, sampled every 10 s) over the run.
   --client chromium: Chromium keeps watching. It renders on the same 2 cores as the trainer,
   which a classroom's browsers (on the students' machines) do not.
   --client websocket: Chromium starts the run and closes; then --watchers sessions speak
   Streamlit's websocket protocol as a browser does (every fragment's auto-reruns, the live
   view's state file fetched every 0.5 s and each new grid it names, every message read,
   every new image fetched)
   without rendering: the server's own cost.
Prints one JSON line: headless (before, after, mean) and served img/s, the slowdown, the CPU
cores used, and RSS first/last/max in MB (and its median over each 10 minutes); with
--client websocket, how many watchers lasted to the end and the fewest and most live-state
reads and fragment re-runs one of them made;
with --latency, how long each logged step took to appear on the page (p50, p95, max).
Talks to nothing but the app on a loopback port.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from app_server import (CHROMIUM, CHROMIUM_FLAGS, button, open_in_chromium,  # noqa: E402
                        serve_app, wait_until_idle)

from gan_core import system  # noqa: E402

system.one_framework()       # as the CLI's process: one framework imported
from gan_core import data, jobs, presets, runfolder, train  # noqa: E402
from procfs import cpu_seconds, rss_mb  # noqa: E402  (beside this script)

# Quality off, as in the headless run: the soak measures what watching costs, not SWD.
def form(faces, batch):
    """What the soak types into the page's form."""
    return {"How many faces": str(faces), "Batch": str(batch), "Steps": "100000",
            "Quality every (steps)": "0"}


def steady_rate(rows, skip=20):
    """Mean img/s of the logged steps, leaving out the warm-up."""
    rates = [r["img_per_s"] for r in rows[skip:]]
    return float(np.mean(rates)) if rates else float("nan")


def headless(steps, faces, batch):
    """The trainer's img/s alone, and the CPU cores it keeps busy: the model the page starts
    on the built-in faces (jobs.first_run's preset), at the served run's batch."""
    config = presets.preset(jobs.FIRST_RUN_PRESET, batch_size=batch)
    with tempfile.TemporaryDirectory() as out:
        trainer = train.Trainer(config, data.load(f"builtin:{faces}"), out, steps=steps,
                                sample_every=20, checkpoint_every=100)
        start, cpu = time.time(), os.times()
        rows = [e.values() for e in trainer.run() if e.kind == "metrics"]
        used = os.times()
    cores = (used.user + used.system - cpu.user - cpu.system) / (time.time() - start)
    return steady_rate(rows), round(cores, 2)


def cpu_seconds_by_process():
    """{pid: (CPU seconds so far, is it Chromium's)} of every process."""
    out = {}
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            out[int(folder.name)] = (cpu_seconds(int(folder.name)),
                                     b"chromium" in (folder / "cmdline").read_bytes())
        except (OSError, IndexError):        # the process ended meanwhile, or is no process
            continue
    return out


def cores_used(before, after, seconds, server_pid):
    """CPU cores the server and Chromium used between two cpu_seconds_by_process() readings."""
    def used(pid):
        return after[pid][0] - before.get(pid, (0.0, False))[0]
    chromium = sum(used(pid) for pid, (_, is_chromium) in after.items() if is_chromium)
    return {"server": round(used(server_pid) / seconds, 2),
            "chromium": round(chromium / seconds, 2)}


async def watch(url, query, seconds):
    """One session watching the run as a browser does, minus the rendering. Returns how
    often it read the live state and re-ran a fragment (to tell a watcher that kept up from
    one that stalled)."""
    import urllib.parse
    import urllib.request

    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    fetched, fragments = set(), {}               # fragment id -> its run_every
    done = {"live": 0, "reruns": 0}
    job = urllib.parse.parse_qs(query)["job"][0]
    live = f"{url}/component/pages.ui.train_live/{job}"
    grid = None

    def get(address):
        return urllib.request.urlopen(address, timeout=30).read()

    async def run(ws, fragment_id=""):
        back = BackMsg()
        back.rerun_script.query_string, back.rerun_script.page_name = query, "dcgan-training"
        if fragment_id:
            back.rerun_script.fragment_id = fragment_id
            back.rerun_script.is_auto_rerun = True
        await ws.send(back.SerializeToString())
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "auto_rerun":
                fragments[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "imgs":
                    for img in element.imgs.imgs:          # a browser fetches each new URL once
                        if img.url.startswith("/") and img.url not in fetched:
                            fetched.add(img.url)
                            await asyncio.to_thread(get, url + img.url)
            elif kind == "script_finished":
                return

    ws_url = url.replace("http", "ws") + "/_stcore/stream"
    async with websockets.connect(ws_url, max_size=2**26, open_timeout=120) as ws:
        await run(ws)
        start = time.time()
        due = {fragment: start + every for fragment, every in fragments.items()}
        while time.time() < start + seconds:
            state = json.loads(await asyncio.to_thread(get, live + ".json"))  # the live view
            done["live"] += 1
            if state["grid"] and state["grid"]["step"] != grid:
                grid = state["grid"]["step"]
                await asyncio.to_thread(get, f"{live}.png?step={grid}")
            for fragment, when in due.items():
                if time.time() >= when:
                    await run(ws, fragment)
                    done["reruns"] += 1
                    due[fragment] = time.time() + fragments[fragment]
            await asyncio.sleep(0.5)
    return done


async def watch_all(url, query, seconds, watchers):
    return await asyncio.gather(*(watch(url, query, seconds) for _ in range(watchers)))


def served(minutes, runs, settings, screenshot=None, client="chromium", watchers=1,
           latency=False):
    import threading

    os.environ["GAN_STUDIO_RUNS"] = str(runs)
    memory, counts = [], []           # counts: what each websocket watcher did
    with serve_app() as (url, proc), sync_playwright() as p:
        browser, page = open_in_chromium(p, url, "DCGAN training")
        page.get_by_role("button", name="Start training").wait_for(timeout=120_000)
        for label, value in settings.items():
            field = page.locator(f"input[aria-label='{label}']")
            field.fill(value)
            field.press("Enter")
            page.wait_for_timeout(500)
        page.get_by_role("button", name="Start training").click()
        page.frame_locator("iframe[title*='train_live']").locator(     # the first step is in
            "#progress:not([data-step='0']):not([data-step=''])").wait_for(timeout=120_000)
        watchers_thread = None
        if client == "websocket":
            query = page.url.split("?", 1)[1]           # ?job=...&owner=...: the run's own link
            browser.close()
            watchers_thread = threading.Thread(target=lambda: counts.extend(asyncio.run(
                watch_all(url, query, minutes * 60, watchers))), daemon=True)
            watchers_thread.start()
        start, cpu_start = time.time(), cpu_seconds_by_process()
        end, next_rss = start + minutes * 60, 0.0
        run = runfolder.Run(next(Path(runs).glob("*/metrics.jsonl")).parent)
        live = page.frame_locator("iframe[title*='train_live']").locator("#progress")
        logged, shown = {}, {}       # step -> when the trainer logged it / the page showed it
        while time.time() < end:
            now = time.time()
            if now >= next_rss:
                memory.append(rss_mb(proc.pid))
                next_rss = now + 10
            if not latency or client != "chromium":
                time.sleep(max(0.0, min(next_rss, end) - time.time()))
                continue
            for row in run.read(runfolder.METRICS)[-5:]:
                logged.setdefault(row["step"], now)
            step = live.get_attribute("data-step")
            if step:
                shown.setdefault(int(step), now)
            time.sleep(0.05)
        delays = [shown[s] - logged[s] for s in shown if s in logged]
        cores = cores_used(cpu_start, cpu_seconds_by_process(), time.time() - start, proc.pid)
        if client == "websocket":
            watchers_thread.join(60)
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"{url}/dcgan-training?{query}")
        button(page, "Stop").wait_for(timeout=120_000)
        wait_until_idle(page)                     # the reopened page's first run
        if screenshot:
            page.screenshot(path=screenshot, full_page=False)
        button(page, "Stop").click()
        # the live view's status, as tests/test_browser.py reads it (the page's other text
        # changes only when a fragment re-runs)
        page.frame_locator("iframe[title*='train_live']").locator(
            "#status", has_text="Stopped").wait_for(timeout=120_000)
        browser.close()
    rows = runfolder.Run(next(Path(runs).glob("*/metrics.jsonl")).parent).read(runfolder.METRICS)
    return steady_rate(rows), len(rows), memory, delays, cores, counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--faces", type=int, default=2048, help="built-in faces to train on")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--screenshot", help="save the page as it looks at the end")
    parser.add_argument("--client", choices=["chromium", "websocket"], default="chromium")
    parser.add_argument("--watchers", type=int, default=1, help="websocket sessions watching")
    parser.add_argument("--latency", action="store_true", help=(
        "Chromium: read the page's step 20 times a second and time each step from the "
        "trainer's metrics file to the page (the polling costs the trainer a little)"))
    args = parser.parse_args()
    before, cores_alone = headless(args.steps, args.faces, args.batch)
    with tempfile.TemporaryDirectory() as runs:
        watched, steps, memory, delays, cores, counts = served(
            args.minutes, runs, form(args.faces, args.batch), args.screenshot, args.client,
            args.watchers, args.latency)
    after, _ = headless(args.steps, args.faces, args.batch)
    alone = (before + after) / 2
    print(json.dumps({
        "headless_img_per_s": round(alone, 1),
        "headless_before_after": [round(before, 1), round(after, 1)],
        "headless_cpu_cores": cores_alone,
        "served_img_per_s": round(watched, 1),
        "served_cpu_cores": cores,
        "slowdown_pct": round(100 * (1 - watched / alone), 1), "served_steps": steps,
        "minutes": args.minutes, "client": args.client,
        "watchers": args.watchers if args.client == "websocket" else 1,
        **({"each_watcher_min_max": {k: [min((c[k] for c in counts), default=0),
                                         max((c[k] for c in counts), default=0)]
                                     for k in ("live", "reruns")}, "watchers_done": len(counts)}
           if args.client == "websocket" else {}),
        "rss_first_mb": round(memory[0]),
        "rss_last_mb": round(memory[-1]), "rss_max_mb": round(max(memory)),
        "rss_growth_after_first_minute_mb": round(memory[-1] - memory[min(6, len(memory) - 1)]),
        "rss_median_per_10_min_mb": [round(float(np.median(memory[i:i + 60])))   # 10 s apart
                                     for i in range(0, len(memory), 60)],
        **({"event_to_page_s_p50": round(float(np.percentile(delays, 50)), 2),
            "event_to_page_s_p95": round(float(np.percentile(delays, 95)), 2),
            "event_to_page_s_max": round(max(delays), 2), "events_seen": len(delays)}
           if delays else {})}))
