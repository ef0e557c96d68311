"""Start the admission webhooks of this replica: watch, certificate, selectors, server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from modelprefetch import metrics
from modelprefetch.core.labels import warm_label_key
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import PODS
from modelprefetch.settings import Settings
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app, start_webhook_server
from modelprefetch.webhook.usage_watch import start_pod_usage
from modelprefetch.webhook_service import tls
from modelprefetch.webhook_service.selectors import SelectorSync
from modelprefetch.webhook_service.watch import watch_modeldeployments


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
    context, keeper = await tls.serving_certificate(settings, kube)
    tasks.append(keeper)
    app = create_app(
        index, recorder=metrics.observe_webhook, usage=start_pod_usage(kube, PODS, tasks)
    )
    runners.append(
        await start_webhook_server(
            app, context, host=settings.bind_address, port=settings.webhook_port
        )
    )
    return RunningWebhook(index, tasks)
