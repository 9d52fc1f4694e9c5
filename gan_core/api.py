"""Avatars over HTTP, for a game server: an id in the URL, the same face back, forever.

    GET  /api/v1/avatar/{id}.png?size=64|128|256|512&model=NAME   one player's face
    POST /api/v1/avatars   {"ids": [...], "size": 64, "model": NAME}   a ZIP of <id>.png
    GET  /api/v1/models                                  the generators, with their hashes

The id -> z mapping is `noise.for_id` in the model's namespace, the same as
`generate --ids` and the latent explorer's player-id box, so all three give the same bytes.
Nothing is kept between requests but caches of what the same request would compute again,
so any number of replicas behind a load balancer answer alike.

Speed: one image alone costs the generator a full call; 16 together cost little more. So
requests are not generated one by one: one call runs at a time, and the requests that arrive
meanwhile go through the generator together in the next (micro-batching, `_Batcher`).

`routes(service)` builds the routes once; `python -m gan_core serve` runs them alone (uvicorn),
and `app_api.py` mounts the same routes beside the Streamlit app (with `GAN_STUDIO_API=1`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import threading
import time
import urllib.parse
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import files, generate, images, noise, runfolder, settings

# -- the limits: every one the API has, here and in the README's API section ----------------
SIZES = (64, 128, 256, 512)   # pixels a side
MAX_ID_BYTES = noise.MAX_ID_BYTES
MAX_BATCH_IDS = 1000          # ids in one POST
MAX_BATCH_PIXELS = 1000 * 256 * 256   # pixels in one POST's ZIP: 1,000 at 256 px, 250 at 512
MAX_BODY_BYTES = 1 * 2**20
HEADER_TIMEOUT_S = 10         # a request's headers must arrive within this
BODY_TIMEOUT_S = 10           # and its body within this
MAX_CONNECTIONS = 500         # open at once (uvicorn answers 503 past it), under ulimit -n
RATE_LIMIT = settings.API_RATE_LIMIT   # requests per second per client (serve --rate-limit)
MAX_NAME_SHOWN = 64           # characters of a client's text echoed in an error
BATCH_WAIT_S = 0.020          # how long a request may wait for others to share its call
MAX_BATCH = generate.CALL_ROWS   # requests per generator call: see _Batcher
CACHE_IMAGES = 20_000         # 64 px faces kept in memory (12 KB each): about 250 MB
IMMUTABLE = "public, max-age=31536000, immutable"
AVATAR_PREFIX = b"/api/v1/avatar/"


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def check_id(raw: bytes) -> str:
    """A player id from the bytes a client sent: UTF-8, 1 to 256 bytes, not blank."""
    try:
        return noise.check_id(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "an id must be UTF-8 text") from None
    except ValueError as error:
        raise ApiError(400, str(error)) from None


def check_size(value) -> int:
    try:
        size = int(value)
    except (TypeError, ValueError, OverflowError):     # "abc", None, Infinity, 1e400
        size = None
    if size not in SIZES:
        raise ApiError(400, f"size must be one of {', '.join(map(str, SIZES))}")
    return size


def avatar_png(image: np.ndarray, size: int) -> bytes:
    """A face as PNG at `size` pixels, upscaled by whole pixels (crisp, never blurred). At 64
    px these are the bytes `generate --ids` writes."""
    return images.png_bytes(image, scale=size // 64)


# ---------------------------------------------------------------------------------------------
# Models and micro-batching
# ---------------------------------------------------------------------------------------------

@dataclass
class _Model:
    name: str
    path: Path
    hash: str
    namespace: str
    generator: generate.Generator | None = None
    batcher: "_Batcher | None" = None
    cache: OrderedDict = field(default_factory=OrderedDict)   # id -> uint8 (64, 64, 3)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Batcher:
    """One generator call at a time, of up to MAX_BATCH requests: one compiled call's rows.

    A call starts when it is full, or when its oldest request has waited BATCH_WAIT_S. A call
    costs its rows whether they hold faces or padding, so at a moderate rate waiting for
    company pays for less padding (an app on the same cores feels it); under full load calls
    are full and never wait. Alone, a request waits BATCH_WAIT_S.

    No more than one compiled call's rows: while the generator makes these faces (in its
    thread, off the GIL) the event loop encodes and sends the last ones. 64 requests in one
    call would leave the loop idle while it runs, then the generator idle while the loop
    catches up. PNGs encoded in the generator's thread, or a third one, measured no faster:
    the GIL is shared, and the generator's thread must be free for the next call
    (docs/PERFORMANCE.md has the figures). Each request gets its own row back."""

    def __init__(self, generator: generate.Generator):
        self.generator = generator
        self.pending: list[tuple[np.ndarray, asyncio.Future, float]] = []
        self.worker: asyncio.Task | None = None

    async def __call__(self, z: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((z, future, loop.time()))
        if self.worker is None:
            self.worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self):
        loop = asyncio.get_running_loop()
        try:
            while self.pending:      # (no await between this test and `finally`: no race)
                wait = self.pending[0][2] + BATCH_WAIT_S - loop.time()
                if len(self.pending) < MAX_BATCH and wait > 0:
                    await asyncio.sleep(wait)
                    continue
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                await self._run(batch)
        finally:
            self.worker = None

    async def _run(self, batch):
        z = np.stack([row for row, _, _ in batch])
        try:
            out = await asyncio.to_thread(self.generator, z)
        except Exception as error:        # the generator failed: every waiter hears it
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future, _), image in zip(batch, out):
            if not future.done():
                future.set_result(image)


class AvatarService:
    """The generators this server offers, by name: "shipped" (or the --model file) and, when
    given a runs folder, each run's exported generator under the run's id."""

    def __init__(self, model: Path | None = None, runs: Path | None = None):
        self.default_path = Path(model) if model else settings.SHIPPED_GENERATOR
        self.runs = Path(runs) if runs else None
        self._models: dict[str, _Model] = {}
        self._lock = threading.Lock()
        self.default = self._add("shipped" if model is None else self.default_path.stem,
                                 self.default_path)

    def _add(self, name, path) -> _Model:
        digest = noise.model_hash(path)
        entry = _Model(name, Path(path), digest, noise.namespace_of(digest))
        self._models[name] = entry
        return entry

    def available(self) -> list[_Model]:
        with self._lock:
            if self.runs is not None:
                for run in runfolder.exported(self.runs):
                    name, path = run.id, run.generator_path
                    known = self._models.get(name)
                    if known is None or known.path != path:
                        try:
                            self._add(name, path)
                        except OSError:
                            continue
            return list(self._models.values())

    async def find(self, name: str | None) -> _Model:
        """`model` for a request handler: the default at once; another name after a scan of
        the runs folder (and a hash of any new file) on a thread, off the event loop."""
        return self.default if not name else await asyncio.to_thread(self.model, name)

    def model(self, name: str | None) -> _Model:
        if not name:
            return self.default
        for entry in self.available():
            if entry.name == name:
                return entry
        raise ApiError(404, f"no model named {shown(name)}; GET /api/v1/models lists them")

    def warm(self):
        """Load the default generator now, so the first request does not wait for it."""
        self._loaded(self.default)

    def _loaded(self, entry: _Model) -> _Model:
        with entry.lock:
            if entry.generator is None:
                try:
                    entry.generator = generate.Generator.load(entry.path)
                except (ValueError, OSError) as error:
                    raise ApiError(500, f"the model {entry.name!r} cannot be loaded: "
                                        f"{error}") from None
                entry.batcher = _Batcher(entry.generator)
        return entry

    async def face(self, entry: _Model, player_id: str) -> np.ndarray:
        """uint8 (64, 64, 3) for this id in this model's namespace."""
        cached = entry.cache.get(player_id)
        if cached is not None:
            entry.cache.move_to_end(player_id)
            return cached
        if entry.generator is None:      # its first request: load it on a thread, so the
            await asyncio.to_thread(self._loaded, entry)    # loop answers others meanwhile
        z = noise.for_id(player_id, entry.generator.latent_dim, entry.namespace)
        image = await entry.batcher(z)
        entry.cache[player_id] = image
        while len(entry.cache) > CACHE_IMAGES:
            entry.cache.popitem(last=False)
        return image


def shown(text: str) -> str:
    """A client's text, as an error quotes it: never more than MAX_NAME_SHOWN characters."""
    text = str(text)
    return repr(text) if len(text) <= MAX_NAME_SHOWN else repr(text[:MAX_NAME_SHOWN]) + "..."


def etag(entry: _Model, player_id: str, size: int) -> str:
    key = hashlib.sha256(player_id.encode("utf-8")).hexdigest()[:24]
    return f'"{entry.hash}-{key}-{size}"'


# ---------------------------------------------------------------------------------------------
# Access: an optional bearer token and a per-client rate limit
# ---------------------------------------------------------------------------------------------

class RateLimit:
    """A token bucket per client address: `rate` requests a second, bursts of 2 x rate.
    0 turns it off. Bounded: the oldest clients are forgotten past 10,000."""

    def __init__(self, rate: float):
        self.rate, self.buckets = float(rate), OrderedDict()

    def allow(self, client: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        tokens, last = self.buckets.pop(client, (2 * self.rate, now))
        tokens = min(2 * self.rate, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self.buckets) > 10_000:
            self.buckets.popitem(last=False)
        return allowed


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------

def routes(service: AvatarService, token: str | None = None, rate_limit: float = 0.0):
    """The API's Starlette routes: for `serve`, and for the app to mount."""
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    limiter = RateLimit(rate_limit)

    def error(status, message):
        return JSONResponse({"error": message, "status": status}, status_code=status)

    def guarded(handler):
        async def endpoint(request):
            try:
                sent = request.headers.get("authorization", "")
                if token is not None and not hmac.compare_digest(sent.encode(),
                                                                 f"Bearer {token}".encode()):
                    raise ApiError(401, "this server needs 'Authorization: Bearer <token>'")
                client = request.client.host if request.client else "?"
                if not limiter.allow(client):
                    raise ApiError(429, "too many requests from this client; slow down")
                return await handler(request)
            except ApiError as failure:
                return error(failure.status, failure.message)
            except Exception as failure:      # a bug, never a traceback: say it plainly
                return error(500, f"the server failed: {type(failure).__name__}")
        return endpoint

    async def avatar(request):
        # The id is the whole path segment after /avatar/, percent-decoded: "a%2Fb.png" is
        # the id "a/b", as in generate --ids; a raw slash would make two ids one face.
        raw = (request.scope.get("raw_path") or request.url.path.encode()).split(b"?", 1)[0]
        segment = raw.split(AVATAR_PREFIX, 1)[-1] if AVATAR_PREFIX in raw else raw
        if b"/" in segment:
            raise ApiError(400, "an id is one path segment: write a slash in it as %2F")
        name = urllib.parse.unquote_to_bytes(segment)
        if not name.endswith(b".png"):
            raise ApiError(404, "avatars are /api/v1/avatar/<id>.png")
        player_id = check_id(name[:-4])
        size = check_size(request.query_params.get("size", 64))
        entry = await service.find(request.query_params.get("model"))
        tag = etag(entry, player_id, size)
        headers = {"ETag": tag, "Cache-Control": IMMUTABLE, "X-Model-Hash": entry.hash,
                   "X-Namespace": entry.namespace}
        wanted = request.headers.get("if-none-match", "")
        if tag in [t.strip() for t in wanted.split(",")] or wanted.strip() == "*":
            return Response(status_code=304, headers=headers)
        image = await service.face(entry, player_id)
        return Response(avatar_png(image, size), media_type="image/png", headers=headers)

    async def read_body(request) -> bytes:
        too_big = ApiError(413, f"the request body is over {MAX_BODY_BYTES // 2**20} MB")
        announced = request.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > MAX_BODY_BYTES:
            raise too_big                              # refused before a byte of it is read
        body = bytearray()
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise too_big
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {BODY_TIMEOUT_S} s") \
                from None
        return bytes(body)

    async def batch(request):
        body = await read_body(request)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: nesting
            raise ApiError(400, "the body must be JSON: {\"ids\": [...]} or a list of ids") \
                from None
        if isinstance(payload, list):
            payload = {"ids": payload}
        if not isinstance(payload, dict) or not isinstance(payload.get("ids"), list):
            raise ApiError(400, "the body must be JSON: {\"ids\": [...]} or a list of ids")
        ids = payload["ids"]
        if len(ids) > MAX_BATCH_IDS:
            raise ApiError(413, f"at most {MAX_BATCH_IDS:,} ids per request; this has "
                                f"{len(ids):,}")
        if not ids:
            raise ApiError(400, "the list of ids is empty")
        checked = []
        for i in ids:
            if not isinstance(i, str):
                raise ApiError(400, "every id must be a string")
            checked.append(check_id(i.encode("utf-8", "surrogatepass")))
        checked = list(dict.fromkeys(checked))     # each id once: one entry per name in the ZIP
        size = check_size(payload.get("size", 64))
        if len(checked) * size * size > MAX_BATCH_PIXELS:
            raise ApiError(413, f"at most {MAX_BATCH_PIXELS // (size * size):,} ids at {size} px "
                                f"per request; this has {len(checked):,}")
        model = payload.get("model")
        if model is not None and not isinstance(model, str):
            raise ApiError(400, "model must be a string")
        entry = await service.find(model)
        faces = await asyncio.gather(*(service.face(entry, i) for i in checked))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for player_id, image in zip(checked, faces):
                archive.writestr(files.zip_entry(f"{files.safe_name(player_id)}.png"),
                                 avatar_png(image, size))
        return Response(buffer.getvalue(), media_type="application/zip", headers={
            "Content-Disposition": 'attachment; filename="avatars.zip"',
            "X-Model-Hash": entry.hash, "X-Namespace": entry.namespace})

    async def models(request):
        available = await asyncio.to_thread(service.available)    # a folder scan, hashes
        return JSONResponse({"default": service.default.name, "models": [
            {"name": m.name, "hash": m.hash, "namespace": m.namespace,
             "default": m is service.default} for m in available]})

    return [Route("/api/v1/avatar/{name:path}", guarded(avatar), methods=["GET"]),
            Route("/api/v1/avatars", guarded(batch), methods=["POST"]),
            Route("/api/v1/models", guarded(models), methods=["GET"])]


def http_protocol():
    """uvicorn's HTTP protocol (its httptools parser), with what it lacks: a deadline for a
    request's headers. Without one, a client sending them a byte a second holds a connection
    for as long as it likes, and a thousand such clients exhaust the server's files."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Protocol(HttpToolsProtocol):
        _deadline = None

        def _arm(self):
            self._disarm()
            self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._cut)

        def _disarm(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _cut(self):
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self):
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self):
            self._disarm()
            super().on_headers_complete()

    return Protocol


def serve(service: AvatarService, host: str, port: int, token: str | None = None,
          rate_limit: float = RATE_LIMIT, forwarded_allow_ips: str | None = None):
    """Run the API alone with uvicorn until stopped. The client's address is the socket's,
    never an X-Forwarded-For header, unless the operator names the proxies to trust
    (forwarded_allow_ips, as uvicorn's flag of that name): otherwise anyone could reset their
    own rate limit by sending another address."""
    import uvicorn

    uvicorn.run(app(service, token, rate_limit), host=host, port=port, log_level="warning",
                access_log=False, http=http_protocol(), limit_concurrency=MAX_CONNECTIONS,
                proxy_headers=bool(forwarded_allow_ips),
                forwarded_allow_ips=forwarded_allow_ips or "")


def app(service: AvatarService, token: str | None = None, rate_limit: float = 0.0):
    """The API alone, as an ASGI app; unknown paths get a JSON 404."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse

    async def not_found(request, exc):
        return JSONResponse({"error": "no such endpoint; see /api/v1/models",
                             "status": exc.status_code}, status_code=exc.status_code)

    return Starlette(routes=routes(service, token, rate_limit),
                     exception_handlers={404: not_found, 405: not_found})
