"""Runs the admission webhooks in this replica: the ModelDeployment watch that keeps the
in-memory index current, the serving certificate (issued, rotated, caBundle patched),
the per-podSelector entries of the mutating configuration, and the HTTPS server. The
webhook package itself does no I/O; this is its I/O side.

Every replica keeps the podSelector entries current, not only the leader: each computes
the same desired list from its own index and writes only when the live configuration
differs, guarded by the resourceVersion it read, so replicas converge without storms.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    PODS,
    SECRETS,
    VALIDATING_WEBHOOKS,
)
from modelprefetch.settings import Settings
from modelprefetch.webhook import certs
from modelprefetch.webhook.config import (
    ca_bundle_patch,
    resource_version_test,
    selector_entries_patch,
)
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app, start_webhook_server
from modelprefetch.webhook.types import LabelMatcher
from modelprefetch.webhook.usage_watch import start_pod_usage

log = logging.getLogger(__name__)
WATCH_RETRY = 2.0
SELECTOR_DEBOUNCE = 1.0  # seconds between looks at the index: a burst of events, one write
SELECTOR_RECHECK = 30.0  # re-read the live configuration this often (Helm, caBundle races)
SELECTOR_RETRY = 5.0  # after a failed write
CONFLICT_RETRIES = 3  # a guarded patch that lost a race is recomputed this many times


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


def _lost_race(exc: KubernetesError) -> bool:
    # 409: resourceVersion conflict; 422: a JSON patch `test` op failed
    return exc.status in (409, 422)


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
                if _lost_race(exc) and attempt + 1 < CONFLICT_RETRIES:
                    continue  # the selector entries changed meanwhile: index shifted
                raise
            log.info("Patched caBundle of %s", name)
            break


async def apply_selector_entries(
    kube: KubeClient, name: str, opt_ins: list[tuple[str, LabelMatcher]]
) -> bool | None:
    """Bring the podSelector entries of configuration `name` in step with `opt_ins`.

    True when written, False when already current, None when the configuration is absent.
    """
    for attempt in range(CONFLICT_RETRIES):
        configuration = await kube.get_or_none(MUTATING_WEBHOOKS, name)
        if configuration is None:
            return None
        ops = selector_entries_patch(configuration, opt_ins)
        if not ops:
            return False
        try:
            await kube.json_patch(MUTATING_WEBHOOKS, name, ops)
        except KubernetesError as exc:
            if _lost_race(exc) and attempt + 1 < CONFLICT_RETRIES:
                continue  # another replica or the caBundle patch wrote first: re-read
            raise
        log.info("Updated %s: %d podSelector webhook entries", name, len(opt_ins))
        return True
    return False  # not reached: the last attempt returns or raises


@dataclass
class SelectorSync:
    """Keeps the mutating configuration's podSelector entries current with the index."""

    kube: KubeClient
    index: ModelIndex
    name: str
    debounce: float = SELECTOR_DEBOUNCE
    recheck: float = SELECTOR_RECHECK
    clock: Callable[[], float] = time.monotonic
    writes: int = 0
    _generation: int = field(default=-1, init=False)
    _applied: list[tuple[str, LabelMatcher]] | None = field(default=None, init=False)
    _next_check: float = field(default=0.0, init=False)
    _missing_logged: bool = field(default=False, init=False)

    async def step(self) -> None:
        """One look: re-read the live configuration only if opt-ins changed or recheck is due."""
        if not self.index.synced:
            return  # an empty index would drop every entry
        due = self.clock() >= self._next_check
        if self.index.generation == self._generation and not due:
            return
        self._generation = self.index.generation
        opt_ins = self.index.selector_opt_ins()
        if opt_ins == self._applied and not due:
            return
        written = await apply_selector_entries(self.kube, self.name, opt_ins)
        if written is None and not self._missing_logged:
            log.warning(
                "Webhook configuration %s not found; podSelector entries not set", self.name
            )
        self._missing_logged = written is None
        self.writes += bool(written)
        self._applied, self._next_check = opt_ins, self.clock() + self.recheck

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.debounce)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except KubernetesError as exc:
                # try again soon, without hammering an API server that refuses us
                self._applied, self._next_check = None, self.clock() + SELECTOR_RETRY
                log.warning("Cannot update podSelector entries of %s: %s", self.name, exc.message)


@dataclass
class RunningWebhook:
    """What start_webhook started: the caller cancels `tasks` and asks `ready()`."""

    index: ModelIndex
    tasks: list[asyncio.Task[Any]]

    def ready(self) -> bool:
        """Ready to answer admissions: the index holds the first full list."""
        return self.index.synced


async def start_webhook(
    settings: Settings, kube: KubeClient, runners: list[web.AppRunner]
) -> RunningWebhook:
    """Start everything: watch, certificate, podSelector entries, server."""
    index = ModelIndex(warm_label_key=warm_label_key)
    selectors = SelectorSync(kube, index, settings.mutating_webhook_name)
    tasks = [
        asyncio.create_task(watch_modeldeployments(kube, index)),
        asyncio.create_task(selectors.run()),
    ]
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
    app = create_app(
        index, recorder=metrics.observe_webhook, usage=start_pod_usage(kube, PODS, tasks)
    )
    runners.append(
        await start_webhook_server(
            app, context, host=settings.bind_address, port=settings.webhook_port
        )
    )
    return RunningWebhook(index, tasks)
