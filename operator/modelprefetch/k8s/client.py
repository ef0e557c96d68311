"""A small typed async Kubernetes client: get, list, server-side apply, patch, delete, watch.

Only what the operator needs, on aiohttp (which kopf already brings). Errors become
`KubernetesError` (temporary) or `KubernetesNotFoundError`; bodies with secrets are never
logged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp

from modelprefetch.constants import FIELD_MANAGER
from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.config import ClusterConfig
from modelprefetch.k8s.resources import Resource

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"


class KubeClient:
    """Use as `async with KubeClient(config) as kube: ...`."""

    def __init__(self, config: ClusterConfig, *, timeout: float = 30.0) -> None:
        self.config = config
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        # The name the server's certificate must carry when it differs from the URL's host.
        self._tls: dict[str, Any] = (
            {"server_hostname": config.tls_server_name} if config.tls_server_name else {}
        )

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(ssl=self.config.ssl_context(), limit=32)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("KubeClient used outside `async with`")
        return self._session

    async def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "modelprefetch"}
        authorization = await self.config.auth.authorization()
        if authorization:
            headers["Authorization"] = authorization
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _rejected(self, headers: Mapping[str, str]) -> bool:
        """After a 401: drop the credential we sent; True when a fresh one may differ."""
        sent = headers.get("Authorization")
        self.config.auth.invalidate(sent)
        return sent is not None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One API call; returns the decoded JSON body. A 401 is retried once with a
        freshly fetched credential (an exec plugin's token may have been revoked early)."""
        data = None if body is None else json.dumps(body).encode()
        ctype = content_type if data is not None else None
        status, text, sent = await self._send(method, path, params, data, ctype)
        if status == 401 and self._rejected(sent):
            status, text, _ = await self._send(method, path, params, data, ctype)
        if status >= 400:
            raise _error(method, path, status, text)
        return json.loads(text) if text else {}

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str | None,
    ) -> tuple[int, str, dict[str, str]]:
        headers = await self._headers(content_type)
        try:
            async with self.session.request(
                method,
                self.config.server + path,
                params=params,
                data=data,
                headers=headers,
                **self._tls,
            ) as resp:
                return resp.status, await resp.text(), headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubernetesError(f"{method} {path} failed: {exc or type(exc).__name__}") from exc

    # Verbs ------------------------------------------------------------------------------

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("GET", res.path(namespace, name))

    async def get_or_none(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> JSON | None:
        try:
            return await self.get(res, name, namespace)
        except KubernetesNotFoundError:
            return None

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JSON:
        """One list call; with `limit`, one page (its metadata.continue names the next)."""
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        return await self.request("GET", res.path(namespace), params=params or None)

    async def apply(self, res: Resource, obj: JSON, *, subresource: str | None = None) -> JSON:
        """Server-side apply with our field manager; we own what we send."""
        meta = obj["metadata"]
        return await self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], subresource),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type=APPLY_PATCH,
        )

    async def merge_patch(
        self,
        res: Resource,
        name: str,
        patch: JSON,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            params={"fieldManager": FIELD_MANAGER},
            body=patch,
            content_type=MERGE_PATCH,
        )

    async def json_patch(
        self,
        res: Resource,
        name: str,
        ops: Sequence[JSON],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            params={"fieldManager": FIELD_MANAGER},
            body=list(ops),
            content_type=JSON_PATCH,
        )

    async def create(self, res: Resource, obj: JSON) -> JSON:
        return await self.request(
            "POST",
            res.path(obj["metadata"].get("namespace")),
            params={"fieldManager": FIELD_MANAGER},
            body=obj,
        )

    async def replace(self, res: Resource, obj: JSON) -> JSON:
        meta = obj["metadata"]
        return await self.request(
            "PUT",
            res.path(meta.get("namespace"), meta["name"]),
            params={"fieldManager": FIELD_MANAGER},
            body=obj,
        )

    async def delete(self, res: Resource, name: str, namespace: str | None = None) -> bool:
        """Delete (background propagation); False when it was already gone."""
        try:
            await self.request(
                "DELETE", res.path(namespace, name), body={"propagationPolicy": "Background"}
            )
        except KubernetesNotFoundError:
            return False
        return True

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, JSON]]:
        """(type, object) events until the server closes the stream; raise on ERROR."""
        params = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if resource_version:
            params["resourceVersion"] = resource_version
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        path = res.path(namespace)
        try:
            headers = await self._headers()
            async with self.session.get(
                self.config.server + path,
                params=params,
                headers=headers,
                timeout=timeout,
                **self._tls,
            ) as resp:
                if resp.status == 401:
                    self._rejected(headers)  # the caller's next watch gets a fresh one
                if resp.status >= 400:
                    raise _error("WATCH", path, resp.status, await resp.text())
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object", {})
                        raise KubernetesError(
                            f"watch {path}: {status.get('message')}",
                            status=int(status.get("code", 0) or 0),
                        )
                    yield event["type"], event["object"]
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise KubernetesError(f"watch {path} broke: {exc or type(exc).__name__}") from exc


def _error(method: str, path: str, status: int, text: str) -> KubernetesError:
    try:
        message = json.loads(text).get("message") or text
    except ValueError:
        message = text
    message = f"{method} {path}: {status} {message}"[:1000]
    if status == 404:
        return KubernetesNotFoundError(message, status=status)
    reason = {401: "Unauthorized", 403: "Forbidden", 409: "Conflict", 422: "Invalid"}.get(
        status, "KubernetesError"
    )
    return KubernetesError(message, status=status, reason=reason)
