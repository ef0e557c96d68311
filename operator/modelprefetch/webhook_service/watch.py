"""The ModelDeployment watch that keeps the webhook's in-memory index current."""

from __future__ import annotations

from modelprefetch.k8s.resources import MODELDEPLOYMENTS
from modelprefetch.listwatch import ListWatchSource, list_then_watch
from modelprefetch.webhook.index import ModelIndex

WATCH_RETRY = 2.0  # seconds before re-listing after a broken watch


async def watch_modeldeployments(kube: ListWatchSource, index: ModelIndex) -> None:
    """List, then watch from that version; re-list after any break (informer-style)."""
    await list_then_watch(
        kube, MODELDEPLOYMENTS, index, what="ModelDeployment", retry_seconds=WATCH_RETRY
    )
