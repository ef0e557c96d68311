"""A node's image filesystem, read from its kubelet's Summary API (`/stats/summary`).

Read as metrics-server does: straight from the kubelet's own port (the node's InternalIP
and `status.daemonEndpoints.kubeletEndpoint.Port`), with the operator's own bearer
token. The kubelet authenticates the token with a TokenReview and authorizes the request
with a SubjectAccessReview for `nodes/stats` (kubelet `authentication.webhook` and
`authorization.mode: Webhook`). Never through the API server's `nodes/proxy`: that
permission also reaches the kubelet's /exec, /run and /attach, i.e. a shell in every pod
of every node.

TLS: the kubelet's serving certificate is verified, by default against the cluster CA
the operator's credentials carry (kubelet certificates from the CSR API are signed by
it), or against `kubelet_ca_file`. Skipping verification (`kubelet_insecure_skip_tls
_verify`, for self-signed kubelet certificates) would hand the operator's token to
whatever answers on a node's address, so it is an explicit opt-in.
"""

from __future__ import annotations

import json
import ssl
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiohttp

from modelprefetch.k8s.auth import Authenticator

# A Summary lists every pod and container of the node: about 2 KiB per pod, so 110 pods
# fit well below this. A larger answer is refused rather than read into memory.
MAX_SUMMARY_BYTES = 8 * 1024 * 1024


class ImageFs(NamedTuple):
    """Capacity and available bytes of the filesystem images are stored on."""

    capacity_bytes: int
    available_bytes: int


class KubeletStatsError(Exception):
    """The stats could not be read; the message says why, for the status."""


def kubelet_ssl_context(
    *, cluster_ca_pem: bytes | None, ca_file: str | None, insecure: bool
) -> ssl.SSLContext:
    """Verify kubelet certificates against `ca_file`, else the cluster CA; or not at all."""
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    cadata = cluster_ca_pem.decode() if cluster_ca_pem else None
    return ssl.create_default_context(cadata=cadata)


def image_fs_from_summary(summary: Any) -> ImageFs:
    """`node.runtime.imageFs` of a Summary (where images live), else `node.fs`."""
    if not isinstance(summary, dict):
        raise KubeletStatsError("the Summary is not a JSON object")
    node = summary.get("node") or {}
    for fs in ((node.get("runtime") or {}).get("imageFs"), node.get("fs")):
        if isinstance(fs, dict):
            capacity, available = fs.get("capacityBytes"), fs.get("availableBytes")
            if isinstance(capacity, int) and isinstance(available, int) and capacity > 0:
                return ImageFs(capacity, max(0, available))
    raise KubeletStatsError("the Summary has no imageFs or fs with capacity and available bytes")


class KubeletStatsClient:
    """Use as `async with KubeletStatsClient(auth, context) as client: ...`."""

    def __init__(self, auth: Authenticator, context: ssl.SSLContext, *, timeout: float) -> None:
        self._auth = auth
        self._context = context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(ssl=self._context, limit=16)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def image_fs(self, address: str, port: int) -> ImageFs:
        """The image filesystem of the kubelet at address:port; KubeletStatsError if not."""
        if self._session is None:
            raise RuntimeError("KubeletStatsClient used outside `async with`")
        if not address or port <= 0:
            raise KubeletStatsError("the node reports no InternalIP or kubelet port")
        host = f"[{address}]" if ":" in address else address
        url = f"https://{host}:{port}/stats/summary"
        headers = {"Accept": "application/json", "User-Agent": "modelprefetch"}
        authorization = await self._auth.authorization()
        if authorization:
            headers["Authorization"] = authorization
        try:
            async with self._session.get(url, headers=headers, allow_redirects=False) as reply:
                if reply.status != 200:
                    text = (await reply.content.read(200)).decode(errors="replace").strip()
                    raise KubeletStatsError(f"kubelet {url} answered {reply.status}: {text}")
                body = bytearray()
                async for chunk in reply.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_SUMMARY_BYTES:
                        message = f"kubelet {url}: Summary over {MAX_SUMMARY_BYTES} bytes"
                        raise KubeletStatsError(message)
                summary = _json(bytes(body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeletStatsError(f"kubelet {url}: {type(exc).__name__}: {exc}") from exc
        return image_fs_from_summary(summary)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise KubeletStatsError(f"the Summary is not JSON: {exc}") from exc
