"""The startup taint's decision (core/startup_taint.py) and how holders tolerate it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.core.builders import build_holder_daemonset
from modelprefetch.core.planner import plan
from modelprefetch.core.startup_taint import (
    REASON_DEADLINE,
    REASON_NOT_TARGETED,
    REASON_WARM,
    REASON_WARMING,
    ModelTargets,
    StartupTaint,
    decide,
    model_targets,
    removal_patch,
)
from modelprefetch.core.world import NodeInfo, Taint
from tests.core.helpers import DIGEST, FILES, NOW, REPO, SETTINGS, UID, node, spec, world

KEY = "modelprefetch.io/warming"
TAINT = StartupTaint(key=KEY, effect="NoSchedule", deadline=timedelta(minutes=30))
WARMING = Taint(key=KEY, effect="NoSchedule")
WARM_A = "warm.modelprefetch.io/aaaaaaaaaaaa"
WARM_B = "warm.modelprefetch.io/bbbbbbbbbbbb"


def targets(name: str, warm: str, **nodes: Any) -> ModelTargets:
    return ModelTargets(
        namespace="ml",
        name=name,
        nodes=parse_spec({"model": {"reference": f"{REPO}:8b"}, "nodes": nodes}).nodes,
        warm_labels=frozenset({warm}),
    )


def tainted(name: str = "gpu-1", *taints: Taint, **labels: str) -> NodeInfo:
    return NodeInfo(name=name, labels={"pool": "gpu", **labels}, taints=(WARMING, *taints))


def test_a_node_no_model_targets_is_untainted_at_once() -> None:
    """Nothing will warm it: waiting would only keep it out of service."""
    model = targets("llama", WARM_A, nodeSelector={"pool": "cpu"})
    decision = decide(tainted(), NOW, [model], TAINT, NOW)
    assert (decision.remove, decision.reason) == (True, REASON_NOT_TARGETED)
    assert "No ModelDeployment targets node gpu-1" in decision.message


def test_a_targeted_cold_node_keeps_the_taint_until_the_deadline() -> None:
    """Kept, and looked at again when the deadline comes."""
    model = targets("llama", WARM_A, nodeSelector={"pool": "gpu"})
    decision = decide(tainted(), NOW - timedelta(minutes=10), [model], TAINT, NOW)
    assert (decision.remove, decision.reason) == (False, REASON_WARMING)
    assert decision.recheck_in == timedelta(minutes=20)
    assert "ml/llama" in decision.message


def test_the_startup_taint_itself_does_not_stop_targeting() -> None:
    """Holders tolerate it, so a model without that toleration still targets the node."""
    model = targets("llama", WARM_A)
    assert decide(tainted(), NOW, [model], TAINT, NOW).reason == REASON_WARMING


def test_another_untolerated_taint_stops_targeting() -> None:
    """A node the holders cannot run on is not waited for."""
    other = Taint(key="gpu", effect="NoSchedule")
    model = targets("llama", WARM_A)
    assert decide(tainted("gpu-1", other), NOW, [model], TAINT, NOW).reason == REASON_NOT_TARGETED


def test_warm_everywhere_removes_the_taint() -> None:
    """Every targeting model has its warm label there."""
    models = [targets("llama", WARM_A), targets("qwen", WARM_B)]
    node_ = tainted(**{WARM_A: "true", WARM_B: "true"})
    decision = decide(node_, NOW, models, TAINT, NOW)
    assert (decision.remove, decision.reason) == (True, REASON_WARM)
    assert "ml/llama, ml/qwen" in decision.message


def test_one_cold_model_keeps_the_taint() -> None:
    """The node waits for every model, and says which."""
    models = [targets("llama", WARM_A), targets("qwen", WARM_B)]
    decision = decide(tainted(**{WARM_A: "true"}), NOW, models, TAINT, NOW)
    assert not decision.remove
    assert "ml/qwen" in decision.message and "ml/llama" not in decision.message


def test_the_deadline_removes_the_taint_anyway() -> None:
    """A broken registry never keeps capacity out of service."""
    model = targets("llama", WARM_A)
    created = NOW - timedelta(minutes=30)
    decision = decide(tainted(), created, [model], TAINT, NOW)
    assert (decision.remove, decision.reason) == (True, REASON_DEADLINE)
    assert "1800s after it was created" in decision.message
    assert "not Ready there: ml/llama" in decision.message


def test_a_node_the_model_reports_unmountable_is_not_waited_for() -> None:
    """Its runtime cannot mount the model: it would never be warm."""
    model = replace(targets("llama", WARM_A), unmountable=frozenset({"gpu-1"}))
    assert decide(tainted(), NOW, [model], TAINT, NOW).reason == REASON_NOT_TARGETED


def test_model_targets_reads_warm_labels_from_mounts_and_label_keys() -> None:
    """Both status fields name warm labels; a prefetch key maps to its warm key."""
    status = {
        "resolved": {"mounts": [{"nodeLabel": WARM_A}]},
        "nodeLabelKeys": ["prefetch.modelprefetch.io/bbbbbbbbbbbb"],
        "unmountableNodes": [{"name": "old-1"}],
    }
    found = model_targets("ml", "llama", {"model": {"reference": f"{REPO}:8b"}}, status)
    assert found is not None
    assert found.warm_labels == {WARM_A, WARM_B}
    assert found.unmountable == {"old-1"}


def test_an_invalid_spec_targets_nothing() -> None:
    """The planner never prefetches it, so no node waits for it."""
    assert model_targets("ml", "bad", {"model": {}}, {}) is None


def test_removal_patch_tests_and_removes_only_our_taint() -> None:
    """Other taints stay; each removal is guarded by a test of the same entry."""
    ours = {"key": KEY, "effect": "NoSchedule"}
    theirs = {"key": "node.cilium.io/agent-not-ready", "effect": "NoSchedule"}
    other_effect = {"key": KEY, "effect": "NoExecute"}
    ops = removal_patch([theirs, ours, other_effect, dict(ours, value="x")], TAINT)
    assert ops == [
        {"op": "test", "path": "/spec/taints/3", "value": dict(ours, value="x")},
        {"op": "remove", "path": "/spec/taints/3"},
        {"op": "test", "path": "/spec/taints/1", "value": ours},
        {"op": "remove", "path": "/spec/taints/1"},
    ]
    assert removal_patch([theirs], TAINT) == []


def test_holder_pods_tolerate_the_startup_taint() -> None:
    """Added to the spec's own tolerations."""
    settings = replace(SETTINGS, holder_tolerations=(TAINT.toleration(),))
    parsed = parse_spec(
        {
            "model": {"reference": f"{REPO}:8b"},
            "nodes": {"tolerations": [{"key": "gpu", "operator": "Exists"}]},
        }
    )
    ds = build_holder_daemonset(
        namespace="ml",
        name="llama",
        uid=UID,
        spec=parsed,
        reference=f"{REPO}@{DIGEST}",
        digest=DIGEST,
        files=FILES,
        settings=settings,
    )
    assert ds["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "gpu", "operator": "Exists"},
        {"key": KEY, "operator": "Exists", "effect": "NoSchedule"},
    ]


def test_the_planner_prefetches_to_a_tainted_node_only_when_holders_tolerate_it() -> None:
    """Without the toleration the node is not targeted at all."""
    nodes = (replace(node("gpu-1"), taints=(WARMING,)),)
    tolerating = replace(SETTINGS, holder_tolerations=(TAINT.toleration(),))
    assert plan(world(nodes=nodes, settings=tolerating, spec=spec())).status.nodes.desired == 1
    assert plan(world(nodes=nodes, spec=spec())).status.nodes.desired == 0
