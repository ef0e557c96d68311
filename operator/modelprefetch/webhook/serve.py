"""One call to run the webhooks in an operator replica: certificate, TLS, server, rotation.

    served = await serve_webhooks(index, host="0.0.0.0", port=9443,
                                  store=secret_store, dns_names=..., on_ca_bundle=patch_ca)
    ...
    await served.stop()

Self-signed mode (`store` given): the certificate comes from the Secret through
`certs.ensure_certificate`, and `certs.rotate_forever` re-issues, reloads and calls
`on_ca_bundle` (which patches caBundle on both configurations). cert-manager mode
(`cert_dir` given): `tls.crt`/`tls.key` are read from the mounted Secret and re-read
when the kubelet updates the files; caBundle is cert-manager's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from modelprefetch.webhook import certs
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import Recorder, create_app, start_webhook_server

logger = logging.getLogger(__name__)


@dataclass
class ServedWebhooks:
    """The running server and its certificate task."""

    runner: web.AppRunner
    context: ssl.SSLContext
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.runner.cleanup()


async def watch_cert_dir(
    context: ssl.SSLContext, cert_dir: str | Path, interval: float = 60.0
) -> None:
    """Reload the certificate whenever the mounted files change (cert-manager renewals)."""
    loaded = certs.load_cert_dir(cert_dir)
    while True:
        await asyncio.sleep(interval)
        try:
            current = certs.load_cert_dir(cert_dir)
            if current != loaded:
                certs.load_into(context, *current)
                loaded = current
                logger.info("Reloaded the webhook certificate from %s", cert_dir)
        except (OSError, ssl.SSLError):
            # the kubelet swaps the files atomically, but a half-written pair is possible
            logger.exception("Cannot reload the webhook certificate from %s", cert_dir)


async def serve_webhooks(
    index: ModelIndex,
    *,
    host: str,
    port: int,
    store: certs.SecretStore | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    on_ca_bundle: Callable[[bytes], Awaitable[None]] | None = None,
    cert_dir: str | Path | None = None,
    recorder: Recorder | None = None,
    rotation_interval: float = 3600.0,
) -> ServedWebhooks:
    """Start the HTTPS webhook server of this replica; give either `store` or `cert_dir`."""
    task: asyncio.Task[None]
    if cert_dir is not None:
        context = certs.build_ssl_context(*certs.load_cert_dir(cert_dir))
        task = asyncio.create_task(watch_cert_dir(context, cert_dir))
    elif store is not None:
        bundle = await certs.ensure_certificate(store, dns_names, ip_addresses)
        context = certs.build_ssl_context(bundle.cert_pem, bundle.key_pem)

        async def ignore(_: bytes) -> None:
            return None

        task = asyncio.create_task(
            certs.rotate_forever(
                store,
                context,
                dns_names,
                ip_addresses,
                on_ca_bundle=on_ca_bundle or ignore,
                interval=rotation_interval,
                current=bundle,
            )
        )
    else:
        raise ValueError("serve_webhooks needs a SecretStore or a cert_dir")
    try:
        runner = await start_webhook_server(
            create_app(index, recorder=recorder), context, host=host, port=port
        )
    except BaseException:
        task.cancel()
        raise
    return ServedWebhooks(runner, context, task)
