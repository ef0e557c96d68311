"""An in-memory OCI registry on 127.0.0.1 for unit tests (aiohttp test server).

Implements what our client uses: /v2/, manifests (GET/HEAD/PUT by tag or digest),
blobs (GET/HEAD), uploads (POST with mount, PATCH with Content-Range, PUT), the
referrers API (switchable), basic or bearer auth with a token endpoint, and injected
failures (`fail_next`) to exercise retries. It records every request it served.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class SleepRecorder:
    """Stands in for asyncio.sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class FakeRegistry:
    referrers_api: bool = True
    subject_header: bool = True  # send OCI-Subject on PUT (go-containerregistry does not)
    auth: str | None = None  # None | "basic" | "bearer"
    username: str = "alice"
    password: str = "s3cret"
    token_lifetime: int = 300
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, dict[str, tuple[str, bytes]]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    upload_count: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    accept_headers: list[str] = field(default_factory=list)
    failures: list[tuple[str, Failure]] = field(default_factory=list)
    host: str = ""

    # -- test helpers ---------------------------------------------------------------

    def fail_next(self, path_pattern: str, status: int, **headers: str) -> None:
        """The next request whose path matches `path_pattern` gets `status`."""
        self.failures.append((path_pattern, Failure(status, dict(headers))))

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    def put_manifest(
        self, repo: str, document: dict[str, Any] | bytes, tag: str | None = None
    ) -> str:
        data = document if isinstance(document, bytes) else json.dumps(document).encode()
        parsed = json.loads(data)
        declared = parsed.get("mediaType") if isinstance(parsed, dict) else None
        media_type = (
            declared if isinstance(declared, str) else "application/vnd.oci.image.manifest.v1+json"
        )
        digest = digest_of(data)
        self.manifests.setdefault(repo, {})[digest] = (media_type, data)
        if tag is not None:
            self.tags.setdefault(repo, {})[tag] = digest
        return digest

    def count(self, method: str, path_fragment: str) -> int:
        return sum(1 for m, p in self.requests if m == method and path_fragment in p)

    # -- the application --------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/token", self._token)
        app.router.add_route("*", "/v2/", self._ping)
        app.router.add_route("*", r"/v2/{repo:.+}/manifests/{ref}", self._manifest)
        app.router.add_route("*", r"/v2/{repo:.+}/blobs/uploads/", self._start_upload)
        app.router.add_route("*", r"/v2/{repo:.+}/blobs/uploads/{uuid}", self._upload)
        app.router.add_route("*", r"/v2/{repo:.+}/blobs/{digest}", self._blob)
        app.router.add_get(r"/v2/{repo:.+}/referrers/{digest}", self._referrers)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        for index, (pattern, failure) in enumerate(self.failures):
            if re.search(pattern, request.path):
                del self.failures[index]
                await request.read()
                return web.Response(
                    status=failure.status, headers=failure.headers, body=failure.body
                )
        if request.path != "/token" and not self._authorised(request):
            return web.Response(status=401, headers={"WWW-Authenticate": self._challenge(request)})
        return await handler(request)

    def _challenge(self, request: web.Request) -> str:
        if self.auth == "basic":
            return 'Basic realm="fake"'
        return f'Bearer realm="http://{self.host}/token",service="fake-registry"'

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth is None:
            return True
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        return header.startswith("Bearer tok-")

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        header = request.headers.get("Authorization")
        if header is not None:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if header != f"Basic {expected}":
                return web.Response(status=401)
        token = f"tok-{len(self.token_requests)}"
        return web.json_response({"token": token, "expires_in": self.token_lifetime})

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    def _resolve(self, repo: str, ref: str) -> str | None:
        if ref.startswith("sha256:"):
            return ref if ref in self.manifests.get(repo, {}) else None
        return self.tags.get(repo, {}).get(ref)

    async def _manifest(self, request: web.Request) -> web.Response:
        repo, ref = request.match_info["repo"], request.match_info["ref"]
        self.accept_headers.append(request.headers.get("Accept", ""))
        if request.method == "PUT":
            data = await request.read()
            digest = self.put_manifest(repo, data, None if ref.startswith("sha256:") else ref)
            headers = {
                "Docker-Content-Digest": digest,
                "Location": f"/v2/{repo}/manifests/{digest}",
            }
            if self.referrers_api and self.subject_header and b'"subject"' in data:
                headers["OCI-Subject"] = json.loads(data)["subject"]["digest"]
            return web.Response(status=201, headers=headers)
        digest = self._resolve(repo, ref)
        if digest is None:
            return _error(404, "MANIFEST_UNKNOWN")
        media_type, data = self.manifests[repo][digest]
        headers = {"Docker-Content-Digest": digest, "Content-Type": media_type}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=data, headers=headers)

    async def _blob(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        data = self.blobs.get(digest)
        if data is None:
            return _error(404, "BLOB_UNKNOWN")
        if request.method == "HEAD":
            return web.Response(status=200, headers={"Content-Length": str(len(data))})
        return web.Response(status=200, body=data)

    async def _start_upload(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        mount = request.query.get("mount")
        if mount is not None and mount in self.blobs:
            return web.Response(status=201, headers={"Docker-Content-Digest": mount})
        self.upload_count += 1
        uuid = f"u{self.upload_count - 1}"  # never reused, even after uploads complete
        self.uploads[uuid] = bytearray()
        return web.Response(status=202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uuid}"})

    async def _upload(self, request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        buffer = self.uploads.get(uuid)
        if buffer is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN")
        data = await request.read()
        content_range = request.headers.get("Content-Range")
        if request.method == "PATCH":
            if content_range is not None and int(content_range.split("-")[0]) != len(buffer):
                return _error(416, "BLOB_UPLOAD_INVALID")
            buffer.extend(data)
            return web.Response(
                status=202, headers={"Location": request.path, "Range": f"0-{len(buffer) - 1}"}
            )
        buffer.extend(data)
        digest = request.query.get("digest", "")
        if digest_of(bytes(buffer)) != digest:
            return _error(400, "DIGEST_INVALID")
        self.blobs[digest] = bytes(buffer)
        del self.uploads[uuid]
        return web.Response(status=201, headers={"Docker-Content-Digest": digest})

    async def _referrers(self, request: web.Request) -> web.Response:
        if not self.referrers_api:
            return _error(404, "NOT_FOUND")
        repo, subject = request.match_info["repo"], request.match_info["digest"]
        entries = []
        for digest, (media_type, data) in self.manifests.get(repo, {}).items():
            document = json.loads(data)
            if document.get("subject", {}).get("digest") != subject:
                continue
            entry = {"mediaType": media_type, "digest": digest, "size": len(data)}
            entry["artifactType"] = document.get("artifactType") or document["config"]["mediaType"]
            if document.get("annotations"):
                entry["annotations"] = document["annotations"]
            entries.append(entry)
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return web.json_response(body, content_type=OCI_INDEX)


def _error(status: int, code: str) -> web.Response:
    body = json.dumps({"errors": [{"code": code, "message": code.lower().replace("_", " ")}]})
    return web.Response(status=status, body=body, content_type="application/json")


class ThreadedFakeRegistry:
    """The fake registry served from a background thread, for synchronous callers
    (CLI commands run their own event loop with asyncio.run)."""

    def __init__(self, fake: FakeRegistry) -> None:
        self.fake = fake
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(fake.app())

    def __enter__(self) -> FakeRegistry:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.fake

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.fake.host = f"127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
