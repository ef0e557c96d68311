"""The webhook's serving certificate in a replica, in either mode of `settings.cert_mode`.

`self`: issued into a Secret and rotated by `webhook.certs` (the Secret is the store
below); the CA is patched into both webhook configurations' caBundle.
`certmanager`: cert-manager renews the Secret, the kubelet updates the mounted files,
and `reload_cert_dir` loads the new pair into the serving context (new connections use
it); cert-manager's cainjector patches caBundle.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import MUTATING_WEBHOOKS, SECRETS, VALIDATING_WEBHOOKS
from modelprefetch.settings import Settings
from modelprefetch.webhook import certs
from modelprefetch.webhook.config import ca_bundle_patch, resource_version_test
from modelprefetch.webhook_service.selectors import CONFLICT_RETRIES, lost_race

log = logging.getLogger(__name__)
CERT_DIR_POLL = 30.0  # seconds between looks at the mounted files (kubelet syncs ~1 min)


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
        for attempt in range(CONFLICT_RETRIES):
            configuration = await kube.get_or_none(res, name)
            if configuration is None:
                log.warning("Webhook configuration %s not found; caBundle not set", name)
                break
            ops = ca_bundle_patch(configuration, ca_pem)
            if not ops:
                break
            try:
                await kube.json_patch(res, name, [*resource_version_test(configuration), *ops])
            except KubernetesError as exc:
                if lost_race(exc) and attempt + 1 < CONFLICT_RETRIES:
                    continue  # the selector entries changed meanwhile: index shifted
                raise
            log.info("Patched caBundle of %s", name)
            break


async def reload_cert_dir(
    context: ssl.SSLContext,
    cert_dir: str | Path,
    loaded: tuple[bytes, bytes],
    *,
    interval: float = CERT_DIR_POLL,
) -> None:
    """Reload the certificate whenever the mounted files change (cert-manager renewals).

    `loaded` is the pair the context serves now. A half-updated pair (the kubelet swaps
    the directory atomically, but a hand-made mount may not) is retried next time.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            current = certs.load_cert_dir(cert_dir)
            if current != loaded:
                certs.load_into(context, *current)
                loaded = current
                log.info("Reloaded the webhook certificate from %s", cert_dir)
        except (OSError, ssl.SSLError) as exc:
            log.warning("Cannot reload the webhook certificate from %s: %s", cert_dir, exc)


async def serving_certificate(
    settings: Settings, kube: KubeClient
) -> tuple[ssl.SSLContext, asyncio.Task[None]]:
    """The TLS context to serve, and the task that keeps its certificate current."""
    if settings.cert_mode == "certmanager":
        loaded = certs.load_cert_dir(settings.webhook_cert_dir)
        context = certs.build_ssl_context(*loaded)
        keeper = reload_cert_dir(
            context, settings.webhook_cert_dir, loaded, interval=settings.cert_reload_seconds
        )
        return context, asyncio.create_task(keeper)
    store = SecretCertStore(kube, settings.namespace, settings.webhook_cert_secret)
    dns, ips = _dns_sans(settings), _ip_sans(settings)
    bundle = await certs.ensure_certificate(store, dns, ips)
    context = certs.build_ssl_context(bundle.cert_pem, bundle.key_pem)

    async def publish(ca_pem: bytes) -> None:
        await patch_ca_bundles(kube, settings, ca_pem)

    rotation = certs.rotate_forever(store, context, dns, ips, on_ca_bundle=publish, current=bundle)
    return context, asyncio.create_task(rotation)
