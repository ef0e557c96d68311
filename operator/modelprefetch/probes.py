"""The process's plain-HTTP endpoints: /healthz and /readyz, served once per replica.

    GET /healthz   200 while the process's event loop runs (liveness, startup)
    GET /readyz    200 once every readiness check passes: the webhook (when enabled)
                   answers from an index holding the first full list (readiness)

`serve_http` starts any aiohttp app the same way (the metrics endpoint uses it too).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


class Health:
    """Readiness state of this replica: `ready` plus checks that must all pass."""

    def __init__(self) -> None:
        self.ready = False
        self.checks: list[Callable[[], bool]] = []  # all must pass for /readyz

    def app(self) -> web.Application:
        app = web.Application()

        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def readyz(_: web.Request) -> web.Response:
            if self.ready and all(check() for check in self.checks):
                return web.Response(text="ok")
            return web.Response(status=503, text="not ready")

        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        return app


async def serve_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port without access logs; `await runner.cleanup()` stops it."""
    runner = web.AppRunner(app, access_log=None)  # every probe and scrape would be a line
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
