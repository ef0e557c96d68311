"""Kubernetes objects become the planner's frozen inputs."""

from __future__ import annotations

from modelprefetch.core.builders import (
    ANNOTATION_DIGEST,
    ANNOTATION_NODE_LABEL,
    ANNOTATION_REFERENCE,
    CONTAINER_NAME,
)
from modelprefetch.reconciler import objects


def _node(**status: object) -> dict[str, object]:
    return {
        "metadata": {"name": "n1", "labels": {"pool": "gpu"}},
        "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]},
        "status": {
            "nodeInfo": {"containerRuntimeVersion": "containerd://2.2.1"},
            "conditions": [{"type": "Ready", "status": "True"}],
            **status,
        },
    }


def test_node_info_reads_runtime_taints_and_readiness() -> None:
    """Runtime, labels, taints (empty value allowed) and the Ready condition."""
    info = objects.node_info(_node())
    assert info.runtime_version == "containerd://2.2.1"
    assert info.ready and not info.unschedulable
    assert info.taints[0].key == "gpu" and info.taints[0].value == ""


def test_holder_pod_keeps_the_hold_termination_message() -> None:
    """A holder that exited with a message (files missing) carries it to the planner."""
    pod = {
        "metadata": {"name": "p", "ownerReferences": [{"kind": "DaemonSet", "name": "ds"}]},
        "spec": {"nodeName": "n1"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": CONTAINER_NAME,
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {
                            "exitCode": 3,
                            "reason": "Error",
                            "message": "Model mount /model is empty",
                        }
                    },
                }
            ],
        },
    }
    holder = objects.holder_pod(pod)
    assert holder.daemonset == "ds" and holder.node_name == "n1" and not holder.ready
    assert holder.waiting_reason == "CrashLoopBackOff"
    assert holder.terminated_exit_code == 3
    assert holder.terminated_message == "Model mount /model is empty"
    assert holder.restart_count == 2


def test_deleting_pod_is_not_ready() -> None:
    """A pod being deleted no longer holds the image, whatever its conditions say."""
    pod = {
        "metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert objects.holder_pod(pod).ready is False


def test_daemonset_without_our_annotations_is_ignored() -> None:
    """Only DaemonSets the builder annotated are ours."""
    assert objects.existing_daemonset({"metadata": {"name": "x"}}) is None
    ours = {
        "metadata": {
            "name": "x",
            "annotations": {
                ANNOTATION_REFERENCE: "r@sha256:1",
                ANNOTATION_DIGEST: "sha256:1",
                ANNOTATION_NODE_LABEL: "prefetch.modelprefetch.io/abc",
            },
        }
    }
    existing = objects.existing_daemonset(ours)
    assert existing is not None and existing.label_key == "prefetch.modelprefetch.io/abc"


def test_owner_key_needs_our_label_and_a_namespace() -> None:
    """Foreign pods map to no ModelDeployment."""
    assert objects.owner_key({"metadata": {"namespace": "ns"}}) is None
    assert objects.owner_key(
        {"metadata": {"namespace": "ns", "labels": {"modelprefetch.io/modeldeployment": "m"}}}
    ) == ("ns", "m")
