"""List, then watch from that version; re-list after any break (informer-style).

The one loop behind the webhook's in-memory views (the ModelDeployment index, the pod
usage). The webhook package talks to no API server itself (import contract): callers
pass a client that has these list/watch calls (modelprefetch.k8s.client.KubeClient)
and the resource to follow; this module never imports either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from modelprefetch.errors import KubernetesError

log = logging.getLogger(__name__)
WATCH_RETRY = 2.0  # seconds before re-listing after a broken watch


class ListWatchSource(Protocol):
    """The two calls of modelprefetch.k8s.client.KubeClient the loop uses."""

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


class ListWatchSink(Protocol):
    """An in-memory view kept current: a full listing, then one event at a time."""

    def replace_all(self, objs: Iterable[Mapping[str, Any]], /) -> None: ...

    def apply(self, event_type: str, obj: Mapping[str, Any], /) -> None: ...


def _resource_version(obj: Mapping[str, Any], default: str | None) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return version if isinstance(version, str) and version else default


async def list_then_watch(
    kube: ListWatchSource,
    resource: Any,
    sink: ListWatchSink,
    *,
    what: str,
    label_selector: str | None = None,
    retry_seconds: float = WATCH_RETRY,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Keep `sink` current with `resource` (all namespaces), forever.

    A watch that ends normally is resumed from the last version seen; a
    `KubernetesError` (410 Gone included) is logged with `what` and, after
    `retry_seconds`, answered with a fresh list. Cancellation propagates."""
    while True:
        try:
            listing = await kube.list(resource, label_selector=label_selector)
            sink.replace_all(listing.get("items") or [])
            version = _resource_version(listing, None)
            while True:
                async for event_type, obj in kube.watch(
                    resource, label_selector=label_selector, resource_version=version
                ):
                    if not isinstance(obj, Mapping):
                        continue  # not an object: nothing to apply, no version to learn
                    version = _resource_version(obj, version)
                    if event_type != "BOOKMARK":
                        sink.apply(event_type, obj)
        except asyncio.CancelledError:
            raise
        except KubernetesError as exc:
            log.warning("%s watch for the webhook broke, re-listing: %s", what, exc.message)
        await sleep(retry_seconds)
