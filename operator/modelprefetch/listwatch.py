"""List, then watch from that version; re-list after any break (informer-style).

The one loop behind every in-memory view: the webhook's (the ModelDeployment index, the
pod usage) and the operator's (nodes, holder pods, DaemonSets: reconciler.views).
Callers pass a client that has these list/watch calls (modelprefetch.k8s.client.KubeClient)
and the resource to follow; this module never imports either, so the webhook package,
which talks to no API server itself (import contract), can use it.

Lists are read in pages (`LIST_PAGE` objects each) and every object can be trimmed by the
caller as it arrives (`trim`): a listing of 5,000 nodes never sits in memory whole with
the fields nobody reads (images, managedFields).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from modelprefetch.errors import KubernetesError

log = logging.getLogger(__name__)
WATCH_RETRY = 2.0  # seconds before re-listing after a broken watch
LIST_PAGE = 500  # objects per list page (client-go's reflector uses 500 too)
Trim = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class ListWatchSource(Protocol):
    """The two calls of modelprefetch.k8s.client.KubeClient the loop uses."""

    async def list(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Any: ...

    def watch(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
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
    field_selector: str | None = None,
    trim: Trim | None = None,
    retry_seconds: float = WATCH_RETRY,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Keep `sink` current with `resource` (all namespaces), forever.

    Every object, listed or watched, passes through `trim` (when given) before the sink
    sees it. A watch that ends normally is resumed from the last version seen; a
    `KubernetesError` (410 Gone included) is logged with `what` and, after
    `retry_seconds`, answered with a fresh list. Cancellation propagates."""
    keep = trim or _same
    while True:
        try:
            items, version = await _list_pages(kube, resource, label_selector, field_selector, keep)
            sink.replace_all(items)
            while True:
                async for event_type, obj in kube.watch(
                    resource,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    resource_version=version,
                ):
                    if not isinstance(obj, Mapping):
                        continue  # not an object: nothing to apply, no version to learn
                    version = _resource_version(obj, version)
                    if event_type != "BOOKMARK":
                        sink.apply(event_type, keep(obj))
        except asyncio.CancelledError:
            raise
        except KubernetesError as exc:
            if exc.status == 410:
                # The version we resume from was compacted away: routine for watches the
                # API server serves from etcd without bookmarks (Events: no watch cache),
                # which expire every few minutes when nothing matching happens.
                log.info("%s watch expired (410 Gone), re-listing", what)
            else:
                log.warning("%s watch broke, re-listing: %s", what, exc.message)
        await sleep(retry_seconds)


def _same(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj


async def _list_pages(
    kube: ListWatchSource,
    resource: Any,
    label_selector: str | None,
    field_selector: str | None,
    keep: Trim,
) -> tuple[list[Mapping[str, Any]], str | None]:
    """Every object of a paged list, trimmed page by page, and the list's version.

    The pages of one list share a snapshot (the continue token carries it), so the last
    page's resourceVersion is the version to watch from."""
    items: list[Mapping[str, Any]] = []
    token: str | None = None
    version: str | None = None
    while True:
        page = await kube.list(
            resource,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=LIST_PAGE,
            continue_token=token,
        )
        items.extend(keep(obj) for obj in page.get("items") or [] if isinstance(obj, Mapping))
        version = _resource_version(page, version)
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items, version
