"""A tiny in-memory Kubernetes API (aiohttp) for unit tests of the k8s package.

Objects live at their REST path; create/replace honour resourceVersion like the real
API server (409 on conflict), so optimistic concurrency can be tested.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str, str]] = []  # method, path, query, ctype
        self.version = 0
        self.fail_next: list[int] = []  # statuses to answer before serving normally
        self.authorization: list[str] = []
        self.hang: set[str] = set()  # methods answered only at teardown (a stuck API server)
        self.unhang = asyncio.Event()
        self.accepted_tokens: set[str] | None = None  # None: any Authorization is fine

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.version)
        return obj

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            (
                request.method,
                request.path,
                request.query_string,
                request.headers.get("Content-Type", ""),
            )
        )
        self.authorization.append(request.headers.get("Authorization", ""))
        if request.method in self.hang:
            await self.unhang.wait()
        sent = request.headers.get("Authorization", "")
        if self.accepted_tokens is not None and sent not in self.accepted_tokens:
            return web.json_response({"kind": "Status", "message": "Unauthorized"}, status=401)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response(
                {"kind": "Status", "message": f"injected {status}"}, status=status
            )
        path = request.path
        body = json.loads(await request.text()) if request.can_read_body else None
        if request.method == "GET":
            if path in self.objects:
                return web.json_response(self.objects[path])
            items = [o for p, o in self.objects.items() if p.rsplit("/", 1)[0] == path]
            if items or path.endswith("s"):
                return web.json_response(
                    {"items": items, "metadata": {"resourceVersion": str(self.version)}}
                )
            return self._not_found(path)
        if request.method == "POST":
            target = f"{path}/{body['metadata']['name']}"
            if target in self.objects:
                return web.json_response({"message": "already exists"}, status=409)
            self.objects[target] = self._bump(body)
            return web.json_response(self.objects[target], status=201)
        if request.method == "PUT":
            current = self.objects.get(path)
            if current is None:
                return self._not_found(path)
            wanted = body.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                return web.json_response({"message": "conflict"}, status=409)
            self.objects[path] = self._bump(body)
            return web.json_response(self.objects[path])
        if request.method == "PATCH":
            if path not in self.objects and "apply-patch" not in request.content_type:
                return self._not_found(path)
            current = self.objects.get(path, {})
            if isinstance(body, dict):
                current = _merge(current, body)
            self.objects[path] = self._bump(current)
            return web.json_response(self.objects[path])
        if request.method == "DELETE":
            if self.objects.pop(path, None) is None:
                return self._not_found(path)
            return web.json_response({"kind": "Status", "status": "Success"})
        return web.Response(status=405)

    @staticmethod
    def _not_found(path: str) -> web.Response:
        return web.json_response({"kind": "Status", "message": f"{path} not found"}, status=404)


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(base.get(key), value)
    return out
