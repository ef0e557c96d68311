"""Storage admission: the fit arithmetic, storage factors, DiskPressure, in-flight pulls."""

from __future__ import annotations

from datetime import timedelta

from modelprefetch.core.capacity import (
    FsStats,
    NodeStorage,
    StoragePolicy,
    judge,
    model_cost,
    storage_factor,
)
from modelprefetch.core.planner import plan
from modelprefetch.oci.artifact import LayerFormat

from .helpers import CONTAINERD, CRIO, DIGEST, admitted, artifact, key, node, spec, world

GiB = 2**30
DEFAULT = StoragePolicy()  # GC high 85%, eviction imagefs.available 15%, headroom 5%


def fs(capacity_gib: float, available_gib: float) -> NodeStorage:
    return NodeStorage(FsStats(int(capacity_gib * GiB), int(available_gib * GiB)))


def test_limit_is_the_lower_threshold_minus_headroom() -> None:
    """100 GiB, GC high 85%, eviction at 15% free, 5% headroom: 80 GiB may be used."""
    assert DEFAULT.limit_bytes(100 * GiB) == 80 * GiB
    strict = StoragePolicy(image_gc_high_percent=70, eviction_imagefs_available_percent=10)
    assert strict.limit_bytes(100 * GiB) == 65 * GiB  # GC threshold is the lower one
    loose_gc = StoragePolicy(image_gc_high_percent=95, eviction_imagefs_available_percent=20)
    assert loose_gc.limit_bytes(100 * GiB) == 75 * GiB  # eviction threshold is the lower one


def test_fits_exactly_at_the_limit_and_not_one_byte_over() -> None:
    """Used 50 GiB + 30 GiB = 80 GiB fits; one more byte does not."""
    assert judge(fs(100, 50), 30 * GiB, DEFAULT).fits
    refused = judge(fs(100, 50), 30 * GiB + 1, DEFAULT)
    assert refused.reason == "InsufficientStorage"


def test_refusal_message_carries_the_numbers() -> None:
    """The message names the cost, capacity, available bytes and the limit."""
    refused = judge(fs(100, 30), 20 * GiB, DEFAULT)
    assert "Model needs 20.00GiB" in refused.message
    assert "capacity 100.00GiB" in refused.message
    assert "available 30.00GiB" in refused.message
    assert "90.00GiB would be used, over the limit 80.00GiB" in refused.message
    assert "imageGC high 85%" in refused.message and "headroom 5%" in refused.message


def test_in_flight_pulls_count() -> None:
    """Pulls admitted but not finished are added to the used bytes."""
    storage = NodeStorage(FsStats(100 * GiB, 50 * GiB), in_flight_bytes=20 * GiB)
    assert judge(storage, 10 * GiB, DEFAULT).fits
    refused = judge(storage, 10 * GiB + 1, DEFAULT)
    assert not refused.fits and "other admitted pulls 20.00GiB" in refused.message


def test_unknown_stats_or_unknown_in_flight_wait() -> None:
    """No stats, or an in-flight pull of unknown size: the node waits, never guesses."""
    assert judge(NodeStorage(error="connection refused"), 1, DEFAULT).reason == "StorageUnknown"
    unknown = NodeStorage(FsStats(100 * GiB, 99 * GiB), in_flight_unknown=1)
    assert judge(unknown, 1, DEFAULT).reason == "StorageUnknown"


def test_storage_factors_per_runtime_and_layer_format() -> None:
    """containerd keeps tar layers twice (blob + snapshot), raw once; CRI-O once."""
    assert storage_factor(CONTAINERD, LayerFormat.TAR) == 2.0
    assert storage_factor(CONTAINERD, LayerFormat.RAW) == 1.0
    assert storage_factor(CRIO, LayerFormat.RAW) == 1.0
    assert storage_factor("docker://27.0.1", LayerFormat.RAW) == 2.0  # unknown: assume 2x


def test_derived_image_costs_tar_factor() -> None:
    """A raw ModelPack mounted through its derived image costs the tar factor on containerd."""
    raw = artifact(layer_format=LayerFormat.RAW, size_bytes=10 * GiB)
    assert model_cost(raw, DIGEST, CONTAINERD) == 10 * GiB
    assert model_cost(raw, "sha256:" + "d" * 64, CONTAINERD) == 20 * GiB


def test_planner_skips_a_node_that_does_not_fit_and_takes_the_next() -> None:
    """n1 lacks space: n2 and n3 (two slots of 25% of six... rounded) join instead."""
    nodes = tuple(node(f"n{i}") for i in range(1, 5))
    model = artifact(size_bytes=10 * GiB)  # 20 GiB on containerd
    storage = {"n1": fs(100, 30), "n2": fs(100, 60), "n3": fs(100, 60), "n4": fs(100, 60)}
    result = plan(world(nodes=nodes, resolved=model, storage=storage))
    assert sorted(result.node_labels) == ["n2"]  # 25% of 4 = 1 slot
    waiting = result.status.to_dict()["storageWaitingNodes"]
    assert [(w["name"], w["reason"]) for w in waiting] == [("n1", "InsufficientStorage")]
    assert "Model needs 20.00GiB" in waiting[0]["message"]
    assert [e.reason for e in result.events if e.reason == "InsufficientStorage"] == [
        "InsufficientStorage"
    ]
    assert result.requeue_after is not None and result.requeue_after <= 15


def test_node_with_disk_pressure_is_never_admitted() -> None:
    """A node with DiskPressure is refused even with plenty of space."""
    nodes = (node("n1", disk_pressure=True),)
    result = plan(world(nodes=nodes, storage={"n1": fs(100, 99)}))
    assert result.node_labels == {}
    assert result.status.to_dict()["storageWaitingNodes"][0]["reason"] == "DiskPressure"


def test_disk_pressure_in_the_wave_stops_admissions() -> None:
    """While a pulling node has DiskPressure, no other node joins the wave."""
    pulling = node("n1", labels={key(): admitted(timedelta(minutes=1))}, disk_pressure=True)
    nodes = (pulling, node("n2"), node("n3"))
    storage = {"n2": fs(100, 99), "n3": fs(100, 99)}
    result = plan(world(nodes=nodes, spec=spec(maxConcurrentNodes=3), storage=storage))
    assert result.node_labels == {}
    waiting = result.status.to_dict()["storageWaitingNodes"]
    assert [(w["name"], w["reason"]) for w in waiting] == [("n1", "DiskPressure")]
    assert "no node joins the wave" in waiting[0]["message"]


def test_refusal_event_is_sent_once() -> None:
    """A node still refused for the same reason at the next pass gets no new Event."""
    nodes = (node("n1"),)
    first = plan(world(nodes=nodes, storage={"n1": fs(100, 10)}))
    again = plan(
        world(nodes=nodes, storage={"n1": fs(100, 10)}, previous_status=first.status.to_dict())
    )
    assert "InsufficientStorage" in [e.reason for e in first.events]
    assert "InsufficientStorage" not in [e.reason for e in again.events]


def test_without_storage_checks_admission_is_unchanged() -> None:
    """storage=None (checks off): the first nodes by name join, as before."""
    nodes = (node("n1"),)
    assert sorted(plan(world(nodes=nodes)).node_labels) == ["n1"]


def test_node_space_appears_then_admitted() -> None:
    """The same node refused at one pass joins when a later pass sees the space."""
    nodes = (node("n1"),)
    first = plan(world(nodes=nodes, storage={"n1": fs(100, 10)}))
    later = plan(
        world(nodes=nodes, storage={"n1": fs(100, 90)}, previous_status=first.status.to_dict())
    )
    assert first.node_labels == {} and sorted(later.node_labels) == ["n1"]
    assert later.status.to_dict().get("storageWaitingNodes", []) == []


def test_nodes_the_reconciler_did_not_ask_are_neither_admitted_nor_reported() -> None:
    """Stats only for n1 and n2 (the reconciler stops asking once the wave is full): n1
    does not fit, n2 joins, n3 and n4 (not asked this pass) are not reported as waiting."""
    nodes = tuple(node(f"n{i}") for i in range(1, 5))
    storage = {"n1": fs(100, 10), "n2": fs(100, 99)}
    result = plan(world(nodes=nodes, spec=spec(maxConcurrentNodes=2), storage=storage))
    assert sorted(result.node_labels) == ["n2"]
    waiting = result.status.to_dict()["storageWaitingNodes"]
    assert [w["name"] for w in waiting] == ["n1"]
