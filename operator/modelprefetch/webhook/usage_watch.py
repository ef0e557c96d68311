"""Feeds `PodUsage` from a pod watch narrowed to the pods our webhook labelled.

The webhook package talks to no API server itself (import contract): the runner passes
its client and the pods resource in, and this module only needs their list/watch calls.
List, then watch from that version; re-list after any break (informer-style).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from modelprefetch.errors import KubernetesError
from modelprefetch.webhook.usage import SELECTOR, PodUsage

log = logging.getLogger(__name__)
WATCH_RETRY = 2.0


class PodSource(Protocol):
    """The two calls of modelprefetch.k8s.client.KubeClient this feed uses."""

    async def list(
        self, res: Any, namespace: str | None = None, *, label_selector: str | None = None
    ) -> Any: ...

    def watch(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, Any]]: ...


async def follow_pod_usage(kube: PodSource, pods: Any, usage: PodUsage) -> None:
    """Keep `usage` current with the labelled pods of every namespace, forever."""
    while True:
        try:
            listing = await kube.list(pods, label_selector=SELECTOR)
            usage.replace_all(listing.get("items") or [])
            version = (listing.get("metadata") or {}).get("resourceVersion")
            while True:
                async for event_type, obj in kube.watch(
                    pods, label_selector=SELECTOR, resource_version=version
                ):
                    if isinstance(obj, Mapping):
                        version = (obj.get("metadata") or {}).get("resourceVersion", version)
                        if event_type != "BOOKMARK":
                            usage.apply(event_type, obj)
        except asyncio.CancelledError:
            raise
        except KubernetesError as exc:
            log.warning("Pod usage watch for the webhook broke, re-listing: %s", exc.message)
        await asyncio.sleep(WATCH_RETRY)


def start_pod_usage(kube: PodSource, pods: Any, tasks: list[asyncio.Task[Any]]) -> PodUsage:
    """A PodUsage fed by a new task appended to `tasks` (the caller cancels them)."""
    usage = PodUsage()
    tasks.append(asyncio.create_task(follow_pod_usage(kube, pods, usage)))
    return usage
