"""Capacity before pulling, against the real API server with kwok nodes whose kubelet
Summary API is a FakeKubelet on 127.0.0.1 (authorized by TokenReview + SubjectAccess
Review for nodes/stats, as a real kubelet in Webhook mode does).

The session operator runs with the check off (kwok nodes have no kubelet); this module
restarts it with `MODELPREFETCH_CAPACITY_CHECK=enforce` and restores it after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.fake_kubelet import (
    FakeKubelet,
    add_node_with_kubelet,
    capacity_enforced,
    set_disk_pressure,
)
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    get_md,
    mark_ready,
    model_deployment,
    node_labels,
    pods,
    wait_for,
)

MiB = 1024 * 1024
STATS_TTL_SECONDS = 1.0  # capacity_enforced's default ttl_seconds
GiB = 1024 * MiB
PREFETCH = "prefetch.modelprefetch.io/"


@pytest.fixture(scope="module")
def enforcing(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    with capacity_enforced(operator):
        yield operator


@pytest.fixture
def kubelets(cluster: LocalCluster) -> Iterator[list[FakeKubelet]]:
    started: list[FakeKubelet] = []
    yield started
    delete_nodes(cluster, [k.node for k in started])
    for kubelet in started:
        kubelet.stop()


def _model(registries: Registries, tmp_path: Path, unique: str, tag: str) -> str:
    reference = f"{registries.crane.host}/models/cap-{unique}-{tag}:v1"
    push_model(make_model_dir(tmp_path / tag, seed=unique + tag, weight_bytes=1 * MiB), reference)
    return reference


def _admitted(cluster: LocalCluster, node: str) -> list[str]:
    return [k for k in node_labels(cluster, node) if k.startswith(PREFETCH)]


def _waiting(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    status = get_md(cluster, namespace, name).get("status") or {}
    return list(status.get("storageWaitingNodes") or [])


def _events(cluster: LocalCluster, namespace: str, reason: str) -> list[str]:
    out = cluster.kubectl("get", "events", "-n", namespace, "-o", "json")
    return [e["message"] for e in json.loads(out.stdout)["items"] if e.get("reason") == reason]


def _started(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Holder pods kwok has started (marking them Ready earlier would be overwritten)."""
    return [
        p
        for p in pods(cluster, namespace, f"modelprefetch.io/modeldeployment={name}")
        if any(
            c.get("type") == "Initialized" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    ]


def _cost(cluster: LocalCluster, namespace: str, name: str) -> int:
    """The model's size from status (containerd mounts the derived tar image: 2x)."""
    size = wait_for(
        "the model resolved",
        lambda: ((get_md(cluster, namespace, name).get("status") or {}).get("resolved") or {}).get(
            "sizeBytes"
        ),
    )
    return 2 * int(size)


def test_fits_then_refused_with_numbers_then_retried_when_space_appears(
    cluster: LocalCluster,
    registries: Registries,
    enforcing: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
    kubelets: list[FakeKubelet],
) -> None:
    """A node with room is pulled to; a full node is refused (InsufficientStorage, the
    numbers, an Event) and admitted once its kubelet reports free space."""
    pool = f"cap-{unique}"
    roomy = add_node_with_kubelet(cluster, f"held-cap-{unique}-a", pool, 100 * GiB, 90 * GiB)
    full = add_node_with_kubelet(cluster, f"held-cap-{unique}-b", pool, 100 * GiB, 20 * GiB)
    kubelets += [roomy, full]
    reference = _model(registries, tmp_path, unique, "one")
    apply(
        cluster,
        model_deployment("cap", namespace, reference, pool, prefetch={"maxConcurrentNodes": 2}),
    )
    wait_for("the roomy node admitted", lambda: _admitted(cluster, roomy.node))
    refused = wait_for("the full node refused", lambda: _waiting(cluster, namespace, "cap"))
    assert [(w["name"], w["reason"]) for w in refused] == [(full.node, "InsufficientStorage")]
    message = refused[0]["message"]
    assert "capacity 100.00GiB" in message and "available 20.00GiB" in message, message
    assert "over the limit 80.00GiB" in message, message
    assert not _admitted(cluster, full.node)
    events = wait_for(
        "an InsufficientStorage Event", lambda: _events(cluster, namespace, "InsufficientStorage")
    )
    assert full.node in events[0]
    assert roomy.denied == 0 and roomy.requests > 0  # the chart's nodes/stats rule is enough
    full.set_fs(100 * GiB, 50 * GiB)
    wait_for("the full node admitted once space appears", lambda: _admitted(cluster, full.node), 60)
    wait_for("the refusal cleared", lambda: not _waiting(cluster, namespace, "cap"), 60)


def test_two_models_fit_one_at_a_time_the_second_waits(
    cluster: LocalCluster,
    registries: Registries,
    enforcing: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
    kubelets: list[FakeKubelet],
) -> None:
    """Room for one model's cost, not two: the second waits while the first is pulling."""
    pool = f"cap2-{unique}"
    node = add_node_with_kubelet(cluster, f"held-cap2-{unique}", pool, 1 * GiB, 1 * GiB)
    kubelets.append(node)
    first_ref = _model(registries, tmp_path, unique, "first")
    second_ref = _model(registries, tmp_path, unique, "second")
    apply(cluster, model_deployment("first", namespace, first_ref, pool))
    cost = _cost(cluster, namespace, "first")
    # limit = 80% of capacity; leave room for 1.5 costs below it.
    node.set_fs(10 * cost, 10 * cost - 8 * cost + int(1.5 * cost))
    wait_for("the first model admitted", lambda: _admitted(cluster, node.node), 60)
    # The first reconcile may have read the disk before set_fs: the operator reuses a
    # node's stats for the cache TTL (1 s under capacity_enforced), so a second model
    # arriving within it would be judged on the old, roomy numbers. Wait the TTL out.
    time.sleep(STATS_TTL_SECONDS + 1.0)
    apply(cluster, model_deployment("second", namespace, second_ref, pool))
    waiting = wait_for("the second model waiting", lambda: _waiting(cluster, namespace, "second"))
    assert waiting[0]["reason"] == "InsufficientStorage"
    assert "other admitted pulls" in waiting[0]["message"], waiting[0]["message"]
    assert len(_admitted(cluster, node.node)) == 1
    # The first pull lands (holder Ready, node warm) and takes its space on disk; the
    # second still does not fit until space is freed.
    # As on a real node, the bytes land on the disk while the pull runs, before the holder
    # turns Ready: the disk is updated (and the stats TTL waited out) first, so no pass
    # sees the first model neither in flight nor on the disk.
    holder = wait_for("first holder started", lambda: _started(cluster, namespace, "first"))
    node.set_fs(10 * cost, 10 * cost - 8 * cost + int(1.5 * cost) - cost)
    time.sleep(STATS_TTL_SECONDS + 1.0)
    mark_ready(cluster, namespace, holder[0]["metadata"]["name"])
    wait_for(
        "first ready", lambda: get_md(cluster, namespace, "first")["status"]["nodes"]["ready"] == 1
    )
    assert len(_admitted(cluster, node.node)) == 1
    node.set_fs(10 * cost, 10 * cost)
    wait_for("the second model admitted", lambda: len(_admitted(cluster, node.node)) == 2, 60)


def test_disk_pressure_stops_admissions(
    cluster: LocalCluster,
    registries: Registries,
    enforcing: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
    kubelets: list[FakeKubelet],
) -> None:
    """A node with DiskPressure is never admitted; while a pulling node has it, the wave
    admits nobody; when it clears, admissions resume."""
    pool = f"dp-{unique}"
    pulling = add_node_with_kubelet(cluster, f"held-dp-{unique}-a", pool, 100 * GiB, 90 * GiB)
    later = add_node_with_kubelet(cluster, f"held-dp-{unique}-b", pool, 100 * GiB, 1 * GiB)
    pressured = add_node_with_kubelet(cluster, f"held-dp-{unique}-c", pool, 100 * GiB, 90 * GiB)
    kubelets += [pulling, later, pressured]
    set_disk_pressure(cluster, pressured.node, True)
    reference = _model(registries, tmp_path, unique, "dp")
    apply(
        cluster,
        model_deployment("dp", namespace, reference, pool, prefetch={"maxConcurrentNodes": 3}),
    )
    wait_for("the first node admitted", lambda: _admitted(cluster, pulling.node))

    def reasons() -> dict[str, str]:
        set_disk_pressure(cluster, pressured.node, True)  # kwok's heartbeat resets it
        return {w["name"]: w["reason"] for w in _waiting(cluster, namespace, "dp")}

    wait_for("DiskPressure node refused", lambda: reasons().get(pressured.node) == "DiskPressure")
    set_disk_pressure(cluster, pulling.node, True)
    later.set_fs(100 * GiB, 90 * GiB)  # room now: only the wave's DiskPressure holds it back

    def stopped() -> bool:
        set_disk_pressure(cluster, pulling.node, True)
        return reasons() == {pulling.node: "DiskPressure"}

    wait_for("the wave stopped by DiskPressure", stopped)
    for _ in range(6):  # several passes (stats TTL 1s, poll 15s at most): still nobody
        assert stopped(), reasons()
        assert not _admitted(cluster, later.node)
    message = _waiting(cluster, namespace, "dp")[0]["message"]
    assert "no node joins the wave" in message, message
    set_disk_pressure(cluster, pulling.node, False)
    wait_for("admissions resume", lambda: _admitted(cluster, later.node), 60)
    assert not _admitted(cluster, pressured.node)
