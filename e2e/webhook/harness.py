"""The webhook server alone in a child process on 127.0.0.1, for the benchmark's in-process half.

The e2e tests use the real operator; the benchmark also measures the server without the
operator and the API server around it: the same `create_app` / `start_webhook_server` /
certificate code, with two bench-only routes to load the index with synthetic
ModelDeployments and to read back the exact latencies recorded inside the webhook
(the operator exports only histogram buckets). A child process keeps the load generator
off its CPU.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from modelprefetch.webhook.certs import build_ssl_context, issue
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app, start_webhook_server

REPO_ROOT = Path(__file__).resolve().parents[2]


def _serve(host: str) -> None:
    async def main() -> None:
        bundle = issue(["localhost"], [host], now=dt.datetime.now(dt.UTC))
        index = ModelIndex()
        latencies: list[tuple[str, str, float]] = []
        app = create_app(index, recorder=lambda *r: latencies.append(r))

        async def load(request: web.Request) -> web.Response:
            index.replace_all(await request.json())
            return web.Response(text=str(len(index)))

        async def read(_: web.Request) -> web.Response:
            out = web.json_response(latencies)
            latencies.clear()
            return out

        app.router.add_post("/test/index", load)
        app.router.add_get("/test/latencies", read)
        runner = await start_webhook_server(
            app, build_ssl_context(bundle.cert_pem, bundle.key_pem), host=host, port=0
        )
        print(
            json.dumps({"port": runner.addresses[0][1], "ca": bundle.ca_pem.decode()}), flush=True
        )
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class WebhookProcess:
    """Handle on the child process serving the webhook."""

    host: str
    port: int
    ca_pem: bytes
    process: subprocess.Popen[str]
    _ctx: ssl.SSLContext = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ctx = ssl.create_default_context(cadata=self.ca_pem.decode())

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 - our own https URL
            self.url + path, data=data, method="POST" if data else "GET"
        )
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self._ctx, timeout=30) as resp:  # noqa: S310
            return json.loads(resp.read())

    def load(self, objs: list[dict[str, Any]]) -> None:
        """Replace the index with these ModelDeployment objects (what the watch would do)."""
        self._call("/test/index", objs)

    def latencies(self) -> list[tuple[str, str, float]]:
        """(webhook, decision, seconds) recorded inside the webhook since the last call."""
        return [tuple(r) for r in self._call("/test/latencies")]  # type: ignore[misc]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_webhook_process(host: str = "127.0.0.1") -> WebhookProcess:
    """Start the webhook server in a child process and wait until it listens."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "e2e.webhook.harness", host],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the child prints one line once it listens
    if not line:
        process.wait(10)
        raise RuntimeError(f"webhook server exited with {process.returncode}")
    ready = json.loads(line)
    return WebhookProcess(host, ready["port"], ready["ca"].encode(), process)


if __name__ == "__main__":
    _serve(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1")
