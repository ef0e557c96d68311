"""Removing the startup taint: one tested JSON patch, an Event, a metric; and the loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.core.startup_taint import ModelTargets, StartupTaint
from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import Resource
from modelprefetch.metrics import REGISTRY
from modelprefetch.reconciler.services import Services
from modelprefetch.reconciler.startup_taint import TaintedNodes, settle, startup_taint
from modelprefetch.reconciler.views import NodesView
from modelprefetch.settings import Settings

LOG = logging.getLogger(__name__)
KEY = "modelprefetch.io/warming"
TAINT = StartupTaint(key=KEY, effect="NoSchedule", deadline=timedelta(minutes=30))
CREATED = datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC)
WARM = "warm.modelprefetch.io/aaaaaaaaaaaa"
OTHER = {"key": "example.com/other", "effect": "PreferNoSchedule"}
OURS = {"key": KEY, "effect": "NoSchedule"}
MODEL = ModelTargets(
    namespace="ml",
    name="llama",
    nodes=parse_spec({"model": {"reference": "r.example.com/m:1"}}).nodes,
    warm_labels=frozenset({WARM}),
)


class PatchingKube:
    """Records JSON patches and created Events; answers patches with queued errors first."""

    def __init__(self, *errors: KubernetesError, models: int = 0) -> None:
        self.errors = list(errors)
        self.models = models  # ModelDeployments a list call finds
        self.lists = 0
        self.patches: list[tuple[str, list[dict[str, Any]]]] = []
        self.patched = asyncio.Event()
        self.posted: list[tuple[str, str, str, str]] = []  # node, type, reason, message

    async def create(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        assert res.plural == "events" and obj["metadata"]["namespace"] == "ops"
        assert obj["involvedObject"]["kind"] == "Node"
        name = obj["involvedObject"]["name"]
        self.posted.append((name, obj["type"], obj["reason"], obj["message"]))
        return obj

    async def list(self, res: Resource, *_: Any, **__: Any) -> dict[str, Any]:
        assert res.plural == "modeldeployments"
        self.lists += 1
        return {"items": [{"metadata": {"name": f"m{i}"}} for i in range(self.models)]}

    async def json_patch(self, res: Resource, name: str, ops: Any, **_: Any) -> dict[str, Any]:
        if self.errors:
            raise self.errors.pop(0)
        self.patches.append((name, list(ops)))
        self.patched.set()
        return {}


def node_body(
    labels: dict[str, str] | None = None, taints: Any = (OTHER, OURS), created: datetime = CREATED
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "gpu-1",
            "creationTimestamp": created.isoformat().replace("+00:00", "Z"),
            "labels": labels or {},
        },
        "spec": {"taints": list(taints)},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def removals(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "modelprefetch_startup_taint_removals_total", {"reason": reason}
    )
    return value or 0.0


async def test_a_warm_node_loses_only_the_startup_taint() -> None:
    """One test+remove at its index, a Normal Event, the Warm counter."""
    kube, before = PatchingKube(), removals("Warm")
    body = node_body({WARM: "true"})
    decision = await settle(
        cast(KubeClient, kube), TAINT, body, [MODEL], LOG, events_namespace="ops", now=CREATED
    )
    assert decision is not None and decision.reason == "Warm"
    assert kube.patches == [
        (
            "gpu-1",
            [
                {"op": "test", "path": "/spec/taints/1", "value": OURS},
                {"op": "remove", "path": "/spec/taints/1"},
            ],
        )
    ]
    assert [e[:3] for e in kube.posted] == [("gpu-1", "Normal", "StartupTaintRemoved")]
    assert removals("Warm") == before + 1


async def test_the_deadline_removes_it_with_a_warning() -> None:
    """Past the deadline since creation: removed, Warning Event, DeadlineExceeded counter."""
    kube, before = PatchingKube(), removals("DeadlineExceeded")
    body = node_body()
    late = CREATED + timedelta(minutes=31)
    decision = await settle(
        cast(KubeClient, kube), TAINT, body, [MODEL], LOG, events_namespace="ops", now=late
    )
    assert decision is not None and decision.reason == "DeadlineExceeded"
    assert len(kube.patches) == 1
    _node, type_, reason, message = kube.posted[0]
    assert (type_, reason) == ("Warning", "StartupTaintDeadlineExceeded")
    assert "ml/llama" in message
    assert removals("DeadlineExceeded") == before + 1


async def test_a_cold_node_is_not_patched() -> None:
    """Before the deadline nothing is written."""
    kube = PatchingKube()
    body = node_body()
    decision = await settle(
        cast(KubeClient, kube), TAINT, body, [MODEL], LOG, events_namespace="ops", now=CREATED
    )
    assert decision is not None and not decision.remove
    assert kube.patches == [] and kube.posted == []


async def test_a_node_changed_meanwhile_is_left_for_its_next_event() -> None:
    """A failed test op (422) counts nothing and posts nothing."""
    kube = PatchingKube(KubernetesError("test failed", status=422))
    before = removals("NotTargeted")
    body = node_body()
    decision = await settle(
        cast(KubeClient, kube), TAINT, body, [], LOG, events_namespace="ops", now=CREATED
    )
    assert decision is None
    assert kube.posted == [] and removals("NotTargeted") == before


def test_the_taint_is_off_by_default() -> None:
    """Opt-in: no taint, no holder toleration, unless enabled."""
    assert startup_taint(Settings()) is None
    enabled = startup_taint(Settings(startup_taint_enabled=True, startup_taint_deadline="90s"))
    assert enabled == StartupTaint(KEY, "NoSchedule", timedelta(seconds=90))


async def test_the_loop_removes_the_taint_once_the_model_is_warm() -> None:
    """Node and model events feed the loop; warming the node wakes it."""
    kube = PatchingKube()
    nodes = TaintedNodes(TAINT, events_namespace="ops")
    nodes.use_models(lambda: [MODEL])
    nodes.start(cast(KubeClient, kube), LOG)
    try:
        now = datetime.now(UTC)
        nodes.node_seen("gpu-1", node_body(created=now))
        await asyncio.sleep(0.3)
        assert kube.patches == []  # targeted and cold, deadline far
        nodes.node_seen("gpu-1", node_body({WARM: "true"}, created=now))
        await asyncio.wait_for(kube.patched.wait(), timeout=5)
        assert [e[2] for e in kube.posted] == ["StartupTaintRemoved"]
        assert "gpu-1" not in nodes.nodes  # its next event says whether it is still tainted
    finally:
        await nodes.stop()


async def test_no_node_is_judged_before_the_models_are_complete() -> None:
    """ModelDeployments exist but kopf has not called a handler yet (its index may be
    half-filled): an untargeted-looking node keeps its taint until model_seen."""
    kube = PatchingKube(models=1)
    nodes = TaintedNodes(TAINT, events_namespace="ops")
    nodes.use_models(list)  # the index, still empty
    nodes.start(cast(KubeClient, kube), LOG)
    try:
        nodes.node_seen("gpu-1", node_body(created=datetime.now(UTC)))
        await asyncio.sleep(0.3)
        assert kube.patches == [] and kube.lists == 1
        nodes.model_seen(("ml", "other"), None)  # kopf's first ModelDeployment call
        await asyncio.wait_for(kube.patched.wait(), timeout=5)
        assert [e[2] for e in kube.posted] == ["StartupTaintRemoved"]  # NotTargeted
    finally:
        await nodes.stop()


async def test_with_no_model_at_all_the_first_listing_says_complete() -> None:
    """No ModelDeployment exists, so no handler will ever run: the loop's one list call
    at start tells it the (empty) targets are complete."""
    kube = PatchingKube(models=0)
    nodes = TaintedNodes(TAINT, events_namespace="ops")
    nodes.start(cast(KubeClient, kube), LOG)
    try:
        nodes.node_seen("gpu-1", node_body(created=datetime.now(UTC)))
        await asyncio.wait_for(kube.patched.wait(), timeout=5)
        assert kube.lists == 1
    finally:
        await nodes.stop()


def test_the_node_view_feeds_the_tracker_without_a_watch_of_its_own() -> None:
    """Every node event of the operator's node view reaches TaintedNodes (listing,
    changes, deletions and nodes gone at a relist); the view still wakes the reconcile
    loops only when NodeInfo changed."""
    tainted = TaintedNodes(TAINT, events_namespace="ops")
    wakes: list[int] = []
    view = NodesView(lambda: wakes.append(1), tainted.node_seen)
    other = {**node_body(taints=[OTHER]), "metadata": {"name": "gpu-2"}}
    view.replace_all([node_body(), other])
    assert list(tainted.nodes) == ["gpu-1"] and len(wakes) == 1
    heartbeat = {
        **node_body(),
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-02T03:04:05Z"}
            ]
        },
    }
    view.apply("MODIFIED", heartbeat)
    assert tainted.nodes["gpu-1"] is heartbeat and len(wakes) == 1
    view.apply("MODIFIED", node_body(taints=[OTHER]))  # the taint is gone
    assert tainted.nodes == {}
    view.apply("MODIFIED", node_body())
    view.replace_all([other])  # a relist without gpu-1: deleted meanwhile
    assert tainted.nodes == {}


def test_services_wire_the_tracker_to_the_node_view_only_when_enabled() -> None:
    """With the taint enabled, Services builds TaintedNodes and the node view feeds it."""
    kube = cast(KubeClient, PatchingKube())
    assert Services(Settings(), kube).tainted_nodes is None
    services = Services(Settings(startup_taint_enabled=True), kube)
    assert services.tainted_nodes is not None
    services.views.nodes.apply("ADDED", node_body())
    assert list(services.tainted_nodes.nodes) == ["gpu-1"]


def test_untainted_nodes_are_not_kept() -> None:
    """Only nodes with the taint are held in memory."""
    nodes = TaintedNodes(TAINT, events_namespace="ops")
    nodes.node_seen("gpu-1", node_body(taints=[OTHER]))
    nodes.node_seen("gpu-2", {**node_body(), "metadata": {"name": "gpu-2"}})
    assert list(nodes.nodes) == ["gpu-2"]
    nodes.node_seen("gpu-2", None)
    assert nodes.nodes == {}
