"""The operator's in-memory views of nodes, holder pods and prefetch DaemonSets.

One list-then-watch per kind (modelprefetch.listwatch), each narrowed where the API
server can narrow it, because at scale what the operator is sent costs more than what it
does:
- holder pods and DaemonSets are watched by our managed-by label selector, so the
  cluster's other pods (10,000 workload pods, their status churn) never reach us;
- nodes are watched cluster-wide (targeting may pick any node), but each is kept only as
  the few fields the planner reads (`NodeInfo`: no images, no managedFields), listings
  are read in pages and trimmed as they arrive, and a node event wakes the reconcile
  loops only when one of those fields changed: a heartbeat costs one JSON decode and one
  comparison, not a handler call.

The reconcile reads its `Surroundings` from here: no list call per reconcile. Loops wait
for `wait_synced()` first, so a reconcile never plans from a half-filled view (what kopf
indexes gave before: it delays handlers until every index is populated).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from modelprefetch import constants
from modelprefetch.core.pulls import PodPulls
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo
from modelprefetch.k8s.resources import DAEMONSETS, EVENTS, NODES, PODS
from modelprefetch.listwatch import ListWatchSource, list_then_watch
from modelprefetch.reconciler import objects
from modelprefetch.reconciler.pull_events import PullEvents, field_selector
from modelprefetch.reconciler.wakeups import Key, Wakeups

OURS_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY_VALUE}"
UNREAD_NODE_STATUS = ("images",)  # can be hundreds of entries per node; never read

V = TypeVar("V")


def trim_node(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The node without what nothing here reads: managedFields and the image list."""
    meta = node.get("metadata")
    status = node.get("status")
    slim = dict(node)
    if isinstance(meta, Mapping) and "managedFields" in meta:
        slim["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    if isinstance(status, Mapping) and any(k in status for k in UNREAD_NODE_STATUS):
        slim["status"] = {k: v for k, v in status.items() if k not in UNREAD_NODE_STATUS}
    return slim


@dataclass(frozen=True, slots=True)
class Surroundings:
    """What the views hold about one ModelDeployment (no API call per reconcile)."""

    nodes: tuple[NodeInfo, ...] = ()
    holder_pods: tuple[HolderPod, ...] = ()
    daemonsets: tuple[ExistingDaemonSet, ...] = ()
    pull_events: Mapping[str, PodPulls] = dataclasses.field(default_factory=dict)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


NodeObserver = Callable[[str, Mapping[str, Any] | None], None]


class NodesView:
    """Every node as `NodeInfo`; `on_change()` when what the planner reads changed.

    `observe(name, trimmed node or None when deleted)`, if given, sees every node event
    (the startup taint's tracker: the same watch, no second one)."""

    def __init__(self, on_change: Callable[[], None], observe: NodeObserver | None = None) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._on_change = on_change
        self._observe = observe
        self.synced = asyncio.Event()

    def replace_all(self, objs: Iterable[Mapping[str, Any]], /) -> None:
        objs = list(objs)
        fresh = {info.name: info for info in map(objects.node_info, objs)}
        if self._observe is not None:
            for obj in objs:
                self._observe(_name(obj), obj)
            for gone in self._nodes.keys() - fresh.keys():
                self._observe(gone, None)
        changed = fresh != self._nodes
        self._nodes = fresh
        self.synced.set()
        if changed:
            self._on_change()

    def apply(self, event_type: str, obj: Mapping[str, Any], /) -> None:
        name = _name(obj)
        if self._observe is not None:
            self._observe(name, None if event_type == "DELETED" else obj)
        if event_type == "DELETED":
            if self._nodes.pop(name, None) is not None:
                self._on_change()
            return
        info = objects.node_info(obj)
        if self._nodes.get(name) != info:  # heartbeats change nothing NodeInfo holds
            self._nodes[name] = info
            self._on_change()

    def all(self) -> tuple[NodeInfo, ...]:
        return tuple(self._nodes.values())


class OwnedView(Generic[V]):
    """Our labelled objects by owning ModelDeployment; `on_change(key)` on any event."""

    def __init__(
        self,
        convert: Callable[[Mapping[str, Any]], V | None],
        on_change: Callable[[Key], None],
        on_deleted: Callable[[str, str], None] | None = None,
    ) -> None:
        self._by_owner: dict[Key, dict[str, V]] = {}
        self._owner_of: dict[str, Key] = {}  # "namespace/name" -> owner, for deletions
        self._convert = convert
        self._on_change = on_change
        self._on_deleted = on_deleted  # (namespace, name) of an object that is gone
        self.synced = asyncio.Event()

    def replace_all(self, objs: Iterable[Mapping[str, Any]], /) -> None:
        before = set(self._by_owner)
        self._by_owner, self._owner_of = {}, {}
        for obj in objs:
            self._put(obj)
        self.synced.set()
        for key in before | set(self._by_owner):
            self._on_change(key)

    def apply(self, event_type: str, obj: Mapping[str, Any], /) -> None:
        touched = self._remove(obj)
        if event_type != "DELETED":
            touched = self._put(obj) or touched
        elif self._on_deleted is not None:
            self._on_deleted(str((obj.get("metadata") or {}).get("namespace") or ""), _name(obj))
        if touched is not None:
            self._on_change(touched)

    def of(self, key: Key) -> tuple[V, ...]:
        return tuple(self._by_owner.get(key, {}).values())

    def _id(self, obj: Mapping[str, Any]) -> str:
        return f"{(obj.get('metadata') or {}).get('namespace') or ''}/{_name(obj)}"

    def _put(self, obj: Mapping[str, Any]) -> Key | None:
        key, value = objects.owner_key(obj), self._convert(obj)
        if key is None or value is None:
            return None
        self._by_owner.setdefault(key, {})[_name(obj)] = value
        self._owner_of[self._id(obj)] = key
        return key

    def _remove(self, obj: Mapping[str, Any]) -> Key | None:
        key = self._owner_of.pop(self._id(obj), None)
        if key is not None:
            owned = self._by_owner.get(key, {})
            owned.pop(_name(obj), None)
            if not owned:
                self._by_owner.pop(key, None)
        return key


class ClusterViews:
    """The three views and the holders' pull Events, the watches that feed them, and the
    Surroundings they answer."""

    def __init__(self, wakeups: Wakeups, node_observer: NodeObserver | None = None) -> None:
        self.nodes = NodesView(wakeups.wake_all, node_observer)
        self.pull_events = PullEvents()
        self.holders: OwnedView[HolderPod] = OwnedView(
            objects.holder_pod, wakeups.wake, self.pull_events.forget
        )
        self.daemonsets: OwnedView[ExistingDaemonSet] = OwnedView(
            objects.existing_daemonset, wakeups.wake
        )
        self._task: asyncio.Task[Any] | None = None

    def start(self, kube: ListWatchSource) -> None:
        """Start the three watches (once); `stop()` ends them."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(kube))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self, kube: ListWatchSource) -> None:
        await asyncio.gather(
            list_then_watch(kube, NODES, self.nodes, what="nodes", trim=trim_node),
            list_then_watch(
                kube, PODS, self.holders, what="holder pods", label_selector=OURS_SELECTOR
            ),
            list_then_watch(
                kube, DAEMONSETS, self.daemonsets, what="DaemonSets", label_selector=OURS_SELECTOR
            ),
            *(
                list_then_watch(
                    kube,
                    EVENTS,
                    sink,
                    what=f"{reason} events",
                    field_selector=field_selector(reason),
                )
                for reason, sink in self.pull_events.sinks()
            ),
        )

    async def wait_synced(self) -> None:
        """Until each view has had its first full listing (pull Events are best effort:
        a reconcile never waits for them)."""
        for view in (self.nodes, self.holders, self.daemonsets):
            await view.synced.wait()

    def surroundings(self, key: Key, *, holders: bool = True) -> Surroundings:
        holder_pods = self.holders.of(key) if holders else ()
        return Surroundings(
            nodes=self.nodes.all(),
            holder_pods=holder_pods,
            daemonsets=self.daemonsets.of(key),
            pull_events=self.pull_events.of(key[0], [p.name for p in holder_pods]),
        )
