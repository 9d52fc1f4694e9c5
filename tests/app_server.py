"""Start GAN Studio on a free loopback port for browser tests and soak scripts."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@contextlib.contextmanager
def serve_app(timeout_s=60, env=None, script="app.py"):
    """Yield (url, process) of `streamlit run app.py` (or `script`) on 127.0.0.1, stopped
    afterwards; `env`: environment variables to add (server settings)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
         "--server.address", "127.0.0.1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start in {timeout_s} s") from None
                time.sleep(0.5)
        yield url, proc
    finally:
        # The app gives a running job up to a minute to stop and keep its checkpoint
        # (jobs.JobManager.shutdown); on a loaded 2-core machine its exit once took over 10 s.
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise


def open_in_chromium(playwright, url, link, width=1400, height=1100):
    """Headless Chromium on the app at `url`, moved to the page whose link says `link`.
    Returns (browser, page); the caller closes the browser."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    page = browser.new_page(viewport={"width": width, "height": height})
    go_to(page, url, link)
    return browser, page


def go_to(page, url, link):
    """Open the home page at `url`, then the page whose link says `link`: the home page first,
    for the reason in app.py's note on URL paths. The link is clicked once the home page's
    first run has finished: twice in one session on a slow 2-core machine, the page a link led
    to never drew; a click during that first run is the likely cause."""
    page.goto(url)
    wait_until_idle(page)
    page.get_by_role("link", name=link).first.click()


def wait_until_idle(page):
    """Until the page's script run is over: a click during a run can be lost (go_to)."""
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        timeout=120_000)


def button(page, name):
    """The app's own button called `name`: while a script runs, Streamlit's header shows a
    "Stop" button of its own, which a page-wide search for "Stop" also finds."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name)
