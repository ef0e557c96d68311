"""Carry out a Plan against the API server, in the order core.plan documents."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from modelprefetch.core.plan import Plan
from modelprefetch.errors import KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import DAEMONSETS, MODELDEPLOYMENTS, NODES

log = logging.getLogger(__name__)


async def label_nodes(kube: KubeClient, changes: Mapping[str, Mapping[str, str | None]]) -> None:
    """Merge-patch node labels (None removes); a node deleted meanwhile is skipped."""
    for node, labels in sorted(changes.items()):
        try:
            await kube.merge_patch(NODES, node, {"metadata": {"labels": dict(labels)}})
        except KubernetesNotFoundError:
            log.info("Node %s is gone; skipping its label changes", node)


async def apply_plan(kube: KubeClient, namespace: str, plan: Plan) -> None:
    for daemonset in plan.daemonsets:
        await kube.apply(DAEMONSETS, daemonset)
    await label_nodes(kube, plan.node_labels)
    for name in plan.delete_daemonsets:
        if await kube.delete(DAEMONSETS, name, namespace):
            log.info("Deleted DaemonSet %s/%s", namespace, name)


async def write_status(kube: KubeClient, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Replace the whole status (a merge patch would keep keys the planner dropped)."""
    await kube.json_patch(
        MODELDEPLOYMENTS,
        name,
        [{"op": "add", "path": "/status", "value": status}],
        namespace=namespace,
        subresource="status",
    )


def labels_to_remove(
    keys: Iterable[str], nodes: Iterable[tuple[str, Mapping[str, str]]]
) -> dict[str, dict[str, str | None]]:
    """For every node carrying any of `keys`, a change removing them."""
    wanted = set(keys)
    changes: dict[str, dict[str, str | None]] = {}
    for node, labels in nodes:
        present = wanted.intersection(labels)
        if present:
            changes[node] = dict.fromkeys(sorted(present))
    return changes
