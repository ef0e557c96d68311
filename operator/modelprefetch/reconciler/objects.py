"""Kubernetes objects (plain dicts) -> the planner's frozen inputs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modelprefetch import constants
from modelprefetch.core.builders import (
    ANNOTATION_DIGEST,
    ANNOTATION_NODE_LABEL,
    ANNOTATION_REFERENCE,
    CONTAINER_NAME,
)
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo, Taint


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def node_info(node: Mapping[str, Any]) -> NodeInfo:
    meta, spec, status = node.get("metadata", {}), node.get("spec", {}), node.get("status", {})
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    taints = tuple(
        Taint(key=t.get("key", ""), effect=t.get("effect", ""), value=t.get("value", "") or "")
        for t in spec.get("taints") or []
    )
    return NodeInfo(
        name=meta["name"],
        labels=dict(meta.get("labels") or {}),
        taints=taints,
        runtime_version=(status.get("nodeInfo") or {}).get("containerRuntimeVersion", ""),
        ready=conditions.get("Ready") == "True",
        unschedulable=bool(spec.get("unschedulable", False)),
        disk_pressure=conditions.get("DiskPressure") == "True",
        internal_ip=next(
            (
                a.get("address", "")
                for a in status.get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            "",
        ),
        kubelet_port=_kubelet_port(status),
    )


def _kubelet_port(status: Mapping[str, Any]) -> int:
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = endpoint.get("Port")
    return port if isinstance(port, int) else 0


def owner_key(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, ModelDeployment name) from our labels, or None for foreign objects."""
    meta = obj.get("metadata", {})
    name = (meta.get("labels") or {}).get(constants.LABEL_DEPLOYMENT)
    namespace = meta.get("namespace")
    return (namespace, name) if name and namespace else None


def holder_pod(pod: Mapping[str, Any]) -> HolderPod:
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    owner = next(
        (
            o.get("name", "")
            for o in meta.get("ownerReferences") or []
            if o.get("kind") == "DaemonSet"
        ),
        "",
    )
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready_since = next(
        (
            _time(c.get("lastTransitionTime"))
            for c in status.get("conditions") or []
            if c.get("type") == "Ready" and c.get("status") == "True"
        ),
        None,
    )
    container: dict[str, Any] = next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == CONTAINER_NAME), {}
    )
    state = container.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = (
        state.get("terminated") or (container.get("lastState") or {}).get("terminated") or {}
    )
    exit_code = terminated.get("exitCode")
    return HolderPod(
        name=meta.get("name", ""),
        node_name=spec.get("nodeName"),
        daemonset=owner,
        ready=conditions.get("Ready") == "True" and not meta.get("deletionTimestamp"),
        phase=status.get("phase", "Pending"),
        created=_time(meta.get("creationTimestamp")),
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        terminated_message=terminated.get("message"),
        terminated_exit_code=int(exit_code) if exit_code is not None else None,
        restart_count=int(container.get("restartCount", 0) or 0),
        ready_since=ready_since,
        running="running" in state,
    )


def existing_daemonset(ds: Mapping[str, Any]) -> ExistingDaemonSet | None:
    meta = ds.get("metadata", {})
    ann = meta.get("annotations") or {}
    if not all(k in ann for k in (ANNOTATION_REFERENCE, ANNOTATION_DIGEST, ANNOTATION_NODE_LABEL)):
        return None
    return ExistingDaemonSet(
        name=meta["name"],
        reference=ann[ANNOTATION_REFERENCE],
        digest=ann[ANNOTATION_DIGEST],
        label_key=ann[ANNOTATION_NODE_LABEL],
    )
