"""Load test: N sessions move sliders in the latent explorer at once (a classroom).

    python tests/perf/explorer_load.py --sessions 30 --moves 10

In a classroom the browsers run on the students' machines; only the server runs here. So each
session speaks Streamlit's own websocket protocol, as the browser does: it opens the page,
reads the slider's widget id from the page, and for each move sends the new value as a
fragment rerun, timing it until the new face's delta has arrived and its PNG has been fetched
over HTTP. It talks to nothing but the app on a loopback port. Checks that no session sees an
exception and that each session's face is its own (no state shared). Prints one JSON line.
"""

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app_server import serve_app  # noqa: E402

PAGE = "latent-explorer"


class Session:
    def __init__(self, url, seed):
        self.url, self.seed = url, seed
        self.sliders, self.images, self.exceptions, self.query = {}, [], [], ""

    async def run_until_finished(self, ws):
        """Read ForwardMsgs until the script run ends; remember sliders, images, errors."""
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                which = element.WhichOneof("type")
                if which == "slider":
                    self.sliders[element.slider.label] = (element.slider.id,
                                                          msg.delta.fragment_id)
                elif which == "imgs" and element.imgs.imgs:
                    self.images.append(element.imgs.imgs[0].url)
                elif which == "html" and "data:image/png" in element.html.body:
                    self.images.append("data:")        # the face, inline: nothing to fetch
                elif which == "exception":
                    self.exceptions.append(element.exception.message)
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "script_finished":
                return

    async def rerun(self, ws, widget=None, value=None, fragment_id=""):
        back = BackMsg()
        state = back.rerun_script
        state.query_string, state.page_name = f"seed={self.seed}", PAGE
        if widget:
            w = state.widget_states.widgets.add()
            w.id = widget
            w.double_array_value.data.append(value)
            state.fragment_id = fragment_id
        self.images.clear()
        await ws.send(back.SerializeToString())
        await self.run_until_finished(ws)


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


async def one_session(url, index, moves, latencies, errors, everyone_loaded):
    session = Session(url, seed=index)
    component = index % 5            # the slider it moves: z[component], in the first group
    try:
        ws_url = url.replace("http", "ws") + "/_stcore/stream"
        async with websockets.connect(ws_url, max_size=2**26, open_timeout=120) as ws:
            await session.rerun(ws)
            widget, fragment = session.sliders[f"z[{component}]"]
            await everyone_loaded.wait()     # then all move their sliders at once
            value = 0.0
            for k in range(moves):
                value = round(3.0 + 0.05 * k, 2)    # far from any seed's own value
                start = time.perf_counter()
                await session.rerun(ws, widget, value, fragment)
                face = session.images[0]
                if face.startswith("/"):            # a media URL: the browser fetches it
                    await asyncio.to_thread(fetch, url + face)
                latencies.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.3 + 0.4 * np.random.rand())   # a person, not a script
        expected = f"z={component}%3A{value:g}"
        if session.exceptions:
            errors.append(f"session {index}: {session.exceptions[0]}")
        if f"seed={index}" not in session.query or expected not in session.query:
            errors.append(f"session {index}: its URL {session.query!r} is not its own face")
    except Exception as error:  # noqa: BLE001 - a failed session is a finding, not a crash
        errors.append(f"session {index}: {type(error).__name__}: {error}")
        if not everyone_loaded.broken:
            await everyone_loaded.abort()


async def main(sessions, moves):
    latencies, errors = [], []
    with serve_app(timeout_s=120) as (url, _):
        started = time.perf_counter()
        everyone_loaded = asyncio.Barrier(sessions)
        await asyncio.gather(*(one_session(url, i, moves, latencies, errors, everyone_loaded)
                               for i in range(sessions)))
        wall = time.perf_counter() - started
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {"sessions": sessions, "moves": len(latencies), "errors": errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "max_ms": round(float(lat.max()), 1), "wall_s": round(wall, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--moves", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(main(args.sessions, args.moves))
    print(json.dumps(result))
    sys.exit(1 if result["errors"] else 0)
