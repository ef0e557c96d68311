"""Runs the admission webhooks in this replica: the ModelDeployment watch that keeps the
in-memory index current, the serving certificate (issued, rotated, caBundle patched),
and the HTTPS server. The webhook package itself does no I/O; this is its I/O side.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from modelprefetch import metrics
from modelprefetch.core.labels import warm_label_key
from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import (
    MODELDEPLOYMENTS,
    MUTATING_WEBHOOKS,
    SECRETS,
    VALIDATING_WEBHOOKS,
)
from modelprefetch.settings import Settings
from modelprefetch.webhook import certs
from modelprefetch.webhook.config import ca_bundle_patch
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app, start_webhook_server

log = logging.getLogger(__name__)
WATCH_RETRY = 2.0


async def watch_modeldeployments(kube: KubeClient, index: ModelIndex) -> None:
    """List, then watch from that version; re-list after any break (informer-style)."""
    while True:
        try:
            listing = await kube.list(MODELDEPLOYMENTS)
            index.replace_all(listing.get("items") or [])
            version = listing.get("metadata", {}).get("resourceVersion")
            while True:
                async for event_type, obj in kube.watch(MODELDEPLOYMENTS, resource_version=version):
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event_type != "BOOKMARK":
                        index.apply(event_type, obj)
        except asyncio.CancelledError:
            raise
        except KubernetesError as exc:
            log.warning("ModelDeployment watch for the webhook broke, re-listing: %s", exc.message)
        await asyncio.sleep(WATCH_RETRY)


class SecretCertStore:
    """certs.SecretStore on a Secret in the operator's namespace."""

    def __init__(self, kube: KubeClient, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name

    async def read(self) -> tuple[dict[str, bytes], str] | None:
        secret = await self.kube.get_or_none(SECRETS, self.name, self.namespace)
        if secret is None:
            return None
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        return data, secret["metadata"]["resourceVersion"]

    async def write(self, data: dict[str, bytes], resource_version: str | None) -> bool:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
        try:
            if resource_version is None:
                await self.kube.create(SECRETS, body)
            else:
                body["metadata"]["resourceVersion"] = resource_version
                await self.kube.replace(SECRETS, body)
        except KubernetesError as exc:
            if exc.status in (409, 422):
                return False
            raise
        return True


def _ip_sans(settings: Settings) -> list[str]:
    host = urlparse(settings.webhook_url).hostname if settings.webhook_url else None
    if not host:
        return []
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return []
    return [host]


def _dns_sans(settings: Settings) -> list[str]:
    names = certs.service_dns_names(settings.webhook_service, settings.namespace)
    host = urlparse(settings.webhook_url).hostname if settings.webhook_url else None
    if host and not _ip_sans(settings):
        names.append(host)
    return names


async def patch_ca_bundles(kube: KubeClient, settings: Settings, ca_pem: bytes) -> None:
    """Put our CA into both webhook configurations (created by the chart or the tests)."""
    for res, name in (
        (MUTATING_WEBHOOKS, settings.mutating_webhook_name),
        (VALIDATING_WEBHOOKS, settings.validating_webhook_name),
    ):
        configuration = await kube.get_or_none(res, name)
        if configuration is None:
            log.warning("Webhook configuration %s not found; caBundle not set", name)
            continue
        ops = ca_bundle_patch(configuration, ca_pem)
        if ops:
            await kube.json_patch(res, name, ops)
            log.info("Patched caBundle of %s", name)


async def start_webhook(
    settings: Settings, kube: KubeClient, runners: list[web.AppRunner]
) -> list[asyncio.Task[Any]]:
    """Start everything; returns the background tasks (the caller cancels them)."""
    index = ModelIndex(warm_label_key=warm_label_key)
    tasks = [asyncio.create_task(watch_modeldeployments(kube, index))]
    if settings.cert_mode == "certmanager":
        cert_pem, key_pem = certs.load_cert_dir(settings.webhook_cert_dir)
        context = certs.build_ssl_context(cert_pem, key_pem)
    else:
        store = SecretCertStore(kube, settings.namespace, settings.webhook_cert_secret)
        dns, ips = _dns_sans(settings), _ip_sans(settings)
        bundle = await certs.ensure_certificate(store, dns, ips)
        context = certs.build_ssl_context(bundle.cert_pem, bundle.key_pem)

        async def publish(ca_pem: bytes) -> None:
            await patch_ca_bundles(kube, settings, ca_pem)

        tasks.append(
            asyncio.create_task(
                certs.rotate_forever(store, context, dns, ips, on_ca_bundle=publish, current=bundle)
            )
        )
    app = create_app(index, recorder=metrics.observe_webhook)
    runners.append(
        await start_webhook_server(
            app, context, host=settings.bind_address, port=settings.webhook_port
        )
    )
    return tasks
