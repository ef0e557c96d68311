"""Feeds `PodUsage` from a pod watch narrowed to the pods our webhook labelled.

The runner passes its client and the pods resource in (the webhook package talks to no
API server itself); the list-then-watch loop is `modelprefetch.listwatch`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from modelprefetch.listwatch import ListWatchSource, list_then_watch
from modelprefetch.webhook.usage import SELECTOR, PodUsage

WATCH_RETRY = 2.0  # seconds before re-listing after a broken watch


async def follow_pod_usage(kube: ListWatchSource, pods: Any, usage: PodUsage) -> None:
    """Keep `usage` current with the labelled pods of every namespace, forever."""
    await list_then_watch(
        kube, pods, usage, what="Pod usage", label_selector=SELECTOR, retry_seconds=WATCH_RETRY
    )


def start_pod_usage(kube: ListWatchSource, pods: Any, tasks: list[asyncio.Task[Any]]) -> PodUsage:
    """A PodUsage fed by a new task appended to `tasks` (the caller cancels them)."""
    usage = PodUsage()
    tasks.append(asyncio.create_task(follow_pod_usage(kube, pods, usage)))
    return usage
