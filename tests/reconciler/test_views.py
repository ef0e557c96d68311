"""The operator's views: what wakes the loops, what is kept, what the API server is asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from modelprefetch import constants
from modelprefetch.core.builders import CONTAINER_NAME
from modelprefetch.k8s.resources import DAEMONSETS, EVENTS, NODES, PODS
from modelprefetch.reconciler.views import OURS_SELECTOR, ClusterViews, NodesView, trim_node
from modelprefetch.reconciler.wakeups import Wakeups

KEY = ("ns", "md")


def node(name: str = "n1", *, pool: str = "gpu", heartbeat: str = "t0") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"pool": pool},
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {},
        "status": {
            "nodeInfo": {"containerRuntimeVersion": "containerd://2.2.9"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": heartbeat}],
            "images": [{"names": [f"img{i}"], "sizeBytes": i} for i in range(50)],
        },
    }


def holder(name: str, owner: str = "md", namespace: str = "ns") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE,
                constants.LABEL_DEPLOYMENT: owner,
            },
            "ownerReferences": [{"kind": "DaemonSet", "name": "ds"}],
        },
        "spec": {"nodeName": "n1"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": CONTAINER_NAME, "state": {"running": {}}}],
        },
    }


def test_a_node_heartbeat_wakes_nobody_and_a_label_change_wakes_all() -> None:
    woken: list[str] = []
    view = NodesView(lambda: woken.append("all"))
    view.replace_all([node()])
    assert woken == ["all"]
    view.apply("MODIFIED", node(heartbeat="t1"))  # only lastHeartbeatTime moved
    assert woken == ["all"]
    view.apply("MODIFIED", node(pool="cpu"))
    assert woken == ["all", "all"]
    assert view.all()[0].labels == {"pool": "cpu"}
    view.apply("DELETED", node(pool="cpu"))
    assert woken == ["all", "all", "all"] and view.all() == ()


def test_the_same_listing_again_wakes_nobody() -> None:
    """A re-list after a broken watch that finds nothing new costs no reconcile."""
    woken: list[str] = []
    view = NodesView(lambda: woken.append("all"))
    view.replace_all([node("a"), node("b")])
    view.replace_all([node("b", heartbeat="t9"), node("a")])
    assert woken == ["all"]
    view.replace_all([node("a")])
    assert woken == ["all", "all"]


def test_trim_node_drops_images_and_managed_fields_and_keeps_the_rest() -> None:
    original = node()
    slim = trim_node(original)
    assert "images" not in slim["status"] and "managedFields" not in slim["metadata"]
    assert slim["status"]["nodeInfo"] == original["status"]["nodeInfo"]
    assert slim["metadata"]["labels"] == {"pool": "gpu"}
    assert "images" in original["status"]  # the caller's object is left alone


async def test_holders_are_kept_by_owner_and_wake_only_their_owner() -> None:
    wakeups = Wakeups()
    views = ClusterViews(wakeups)
    wakeups.register(KEY)
    other = ("ns", "other")
    wakeups.register(other)
    views.holders.replace_all([holder("p1"), holder("q1", owner="other")])
    await wakeups.wait(other, 0)  # both woken by the listing
    await wakeups.wait(KEY, 0)
    views.holders.apply("ADDED", holder("p2"))
    assert await wakeups.wait(KEY, 0.01) is True
    assert await wakeups.wait(other, 0.01) is False
    assert {p.name for p in views.surroundings(KEY).holder_pods} == {"p1", "p2"}
    views.holders.apply("DELETED", holder("p1"))
    assert {p.name for p in views.surroundings(KEY).holder_pods} == {"p2"}
    assert views.surroundings(KEY, holders=False).holder_pods == ()


def test_objects_without_our_owner_label_are_ignored() -> None:
    views = ClusterViews(Wakeups())
    foreign = holder("x")
    del foreign["metadata"]["labels"][constants.LABEL_DEPLOYMENT]
    views.holders.replace_all([foreign])
    views.holders.apply("ADDED", foreign)
    assert views.surroundings(KEY).holder_pods == ()


def test_a_pod_relabelled_to_another_owner_moves() -> None:
    views = ClusterViews(Wakeups())
    views.holders.replace_all([holder("p1")])
    views.holders.apply("MODIFIED", holder("p1", owner="other"))
    assert views.surroundings(KEY).holder_pods == ()
    assert [p.name for p in views.surroundings(("ns", "other")).holder_pods] == ["p1"]


class RecordingSource:
    """Answers lists in pages of one object and records what each call asked for."""

    def __init__(self) -> None:
        self.lists: list[tuple[str, str | None, int | None, str | None]] = []
        self.field_selectors: list[tuple[str, str | None]] = []
        self.watches: list[tuple[str, str | None, str | None]] = []
        self.all_watching = asyncio.Event()

    async def list(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Any:
        self.lists.append((res.plural, label_selector, limit, continue_token))
        self.field_selectors.append((res.plural, field_selector))
        if res is NODES and continue_token is None:
            return {"metadata": {"resourceVersion": "7", "continue": "page2"}, "items": [node("a")]}
        if res is NODES:
            return {"metadata": {"resourceVersion": "7"}, "items": [node("b")]}
        return {"metadata": {"resourceVersion": "3"}, "items": []}

    async def watch(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, Any]]:
        self.watches.append((res.plural, label_selector, resource_version))
        if len(self.watches) == 5:
            self.all_watching.set()
        await asyncio.sleep(3600)
        yield "BOOKMARK", {}


async def test_pods_and_daemonsets_are_narrowed_on_the_server_and_nodes_paged() -> None:
    source, views = RecordingSource(), ClusterViews(Wakeups())
    views.start(source)
    await asyncio.wait_for(views.wait_synced(), 5)
    await asyncio.wait_for(source.all_watching.wait(), 5)
    await views.stop()
    selectors = {plural: selector for plural, selector, _, _ in source.lists}
    assert selectors == {
        NODES.plural: None,
        PODS.plural: OURS_SELECTOR,
        DAEMONSETS.plural: OURS_SELECTOR,
        EVENTS.plural: None,
    }
    # pull Events: only pods' Pulling and Pulled, chosen by the API server
    assert sorted(str(f) for plural, f in source.field_selectors if plural == EVENTS.plural) == [
        "involvedObject.kind=Pod,reason=Pulled",
        "involvedObject.kind=Pod,reason=Pulling",
    ]
    assert all(limit for _, _, limit, _ in source.lists)  # every list is paged
    assert (NODES.plural, None, 500, "page2") in source.lists
    assert sorted(n.name for n in views.surroundings(KEY).nodes) == ["a", "b"]
    assert (NODES.plural, None, "7") in source.watches  # watched from the listing's version


async def test_loops_wait_until_every_view_is_listed() -> None:
    views = ClusterViews(Wakeups())
    waiting = asyncio.create_task(views.wait_synced())
    views.nodes.replace_all([])
    views.holders.replace_all([])
    await asyncio.sleep(0.01)
    assert not waiting.done()
    views.daemonsets.replace_all([])
    await asyncio.wait_for(waiting, 1)
