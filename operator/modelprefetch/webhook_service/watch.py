"""The ModelDeployment watch that keeps the webhook's in-memory index current."""

from __future__ import annotations

import asyncio
import logging

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import MODELDEPLOYMENTS
from modelprefetch.webhook.index import ModelIndex

log = logging.getLogger(__name__)
WATCH_RETRY = 2.0  # seconds before re-listing after a broken watch


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
