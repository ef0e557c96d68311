"""A hostile OCI registry on 127.0.0.1: one repository per case, `hostile/<case>:v1`.

Each case answers the distribution API (manifest, config blob) the way a broken or
malicious registry would: oversized, endless or trickling bodies, redirect loops, bodies
that do not match their digest, an HTML page instead of JSON, and model artifacts whose
layer file names climb out of the tree, are absolute, are symlinks, repeat, or number in
the tens of thousands. `baseline` is the valid artifact every case starts from. It runs
in a thread with its own event loop, so synchronous tests and CLI subprocesses can use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from e2e.hostile import artifacts as a

MIB = 1024 * 1024
TRICKLE_SECONDS = 1.0  # one byte per second: far below any useful rate
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Artifact:
    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    content_type: str = a.MANIFEST_TYPE
    digest_header: str | None = None  # default: the manifest's own digest


def _valid(layers: list[dict[str, object]] | None = None) -> Artifact:
    weights = b"weights-of-a-hostile-test-model"
    entries = layers or [a.layer(weights, "model.safetensors")]
    config = a.config(entries)
    blobs = {a.digest_of(config): config, a.digest_of(weights): weights}
    return Artifact(manifest=a.encode(a.manifest(config, entries)), blobs=blobs)


def _named(*paths: str, typeflag: str | None = None) -> Artifact:
    return _valid([a.layer(f"file {i}".encode(), p, typeflag) for i, p in enumerate(paths)])


def _oversized_config() -> Artifact:
    config = b" " * (9 * MIB)  # past the 8 MiB config cap
    entry = a.layer(b"w", "model.safetensors")
    document = a.manifest(b"", [entry])
    document["config"].update(digest=a.digest_of(config), size=len(config))
    return Artifact(manifest=a.encode(document), blobs={a.digest_of(config): config})


def _wrong_config_digest() -> Artifact:
    artifact = _valid()
    for digest, blob in list(artifact.blobs.items()):
        if blob.startswith(b"{"):
            artifact.blobs[digest] = blob.replace(b"hostile", b"swapped")
    return artifact


def _layers(count: int) -> Artifact:
    manifest, config = a.many_layers(count)
    return Artifact(manifest=manifest, blobs={a.digest_of(config): config})


# case -> what GET /v2/hostile/<case>/manifests/v1 serves (an Artifact or a handler)
def cases() -> dict[str, Artifact | str]:
    html = Artifact(manifest=b"<html><body>Sign in</body></html>", content_type="text/html")
    wrong = _valid()
    wrong.digest_header = a.digest_of(b"some other manifest")
    return {
        "baseline": _valid(),
        "oversized-manifest": Artifact(manifest=b" " * (5 * MIB)),
        "oversized-config": _oversized_config(),
        "endless-manifest": "endless",
        "trickle-manifest": "trickle",
        "redirect-loop": "redirect",
        "wrong-manifest-digest": wrong,
        "wrong-config-digest": _wrong_config_digest(),
        "html-content-type": html,
        "path-traversal": _named("model.safetensors", "../../etc/cron.d/x"),
        "absolute-path": _named("model.safetensors", "/etc/passwd"),
        "symlink": _named("model.safetensors", "link", typeflag="2"),
        "duplicate-paths": _named("model.safetensors", "model.safetensors"),
        "layers-100k": _layers(100_000),
        "layers-20k": _layers(20_000),
    }


class HostileRegistry:
    """The registry app and its cases; `host` is set once served."""

    def __init__(self) -> None:
        self.cases = cases()
        self.host = ""

    def reference(self, case: str) -> str:
        return f"{self.host}/hostile/{case}:v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", self._ping)
        app.router.add_route("*", r"/v2/hostile/{case}/manifests/{ref}", self._manifest)
        app.router.add_route("*", r"/v2/hostile/{case}/blobs/{digest}", self._blob)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _ping(self, _: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/v2/hostile/redirect-loop/"):  # uploads too
            raise web.HTTPTemporaryRedirect(location=str(request.rel_url))
        body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such thing"}]}'
        return web.Response(status=404, body=body, content_type="application/json")

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        case = self.cases.get(request.match_info["case"])
        if case is None or request.match_info["ref"] != "v1":
            return await self._not_found(request)
        if case == "endless":
            return await _stream(request, b'{"layers":[' + b"0," * 32768, pause=0.0)
        if case == "trickle":
            return await _stream(request, b" ", pause=TRICKLE_SECONDS)
        if case == "redirect":
            raise web.HTTPTemporaryRedirect(location=str(request.rel_url))
        assert isinstance(case, Artifact)
        headers = {
            "Content-Type": case.content_type,
            "Docker-Content-Digest": case.digest_header or a.digest_of(case.manifest),
        }
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(case.manifest))
            return web.Response(headers=headers)
        return web.Response(body=case.manifest, headers=headers)

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        case = self.cases.get(request.match_info["case"])
        blob = case.blobs.get(request.match_info["digest"]) if isinstance(case, Artifact) else None
        if blob is None:
            return await self._not_found(request)
        return web.Response(body=blob, content_type="application/octet-stream")


async def _stream(request: web.Request, chunk: bytes, *, pause: float) -> web.StreamResponse:
    """Send `chunk` forever (every `pause` seconds) until the client hangs up."""
    response = web.StreamResponse(headers={"Content-Type": a.MANIFEST_TYPE})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        while True:
            await response.write(chunk)
            await asyncio.sleep(pause)
    except (ConnectionError, RuntimeError):
        pass
    return response


class ServedRegistry:
    """`with ServedRegistry() as registry:` serves a HostileRegistry from a thread."""

    def __init__(self) -> None:
        self.registry = HostileRegistry()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(self.registry.app(), access_log=None)

    def __enter__(self) -> HostileRegistry:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self.registry

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.registry.host = f"127.0.0.1:{self._runner.addresses[0][1]}"

    def __exit__(self, *_: object) -> None:
        stop = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        stop.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
