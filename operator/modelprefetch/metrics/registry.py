"""The registry every metric of the operator lives on, and the /metrics endpoint.

A dedicated registry (never prometheus_client's global one), so tests and the `hold`
command stay clean.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from modelprefetch.probes import serve_http

REGISTRY: Final = CollectorRegistry(auto_describe=True)


async def _handle_metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encoder(REGISTRY), headers={"Content-Type": content_type})


async def start_metrics_server(host: str, port: int) -> web.AppRunner:
    """Serve REGISTRY at http://host:port/metrics; `await runner.cleanup()` stops it."""
    app = web.Application()
    app.router.add_get("/metrics", _handle_metrics)
    return await serve_http(app, host, port)
