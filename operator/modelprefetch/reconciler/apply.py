"""Apply: carry out a `core.Plan` (or a `core.Cleanup`) against the API server.

In the order `core.plan` documents: DaemonSets, node labels, deletions; then Events,
the status and the metrics. Every step is idempotent; a failure raises before the
status is written, so the next pass starts again from what was really applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from modelprefetch import metrics
from modelprefetch.api.status import ModelDeploymentStatus
from modelprefetch.core.cleanup import Cleanup
from modelprefetch.core.plan import Event, Plan
from modelprefetch.errors import KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import DAEMONSETS, MODELDEPLOYMENTS, NODES

log = logging.getLogger(__name__)
Logger = logging.Logger | logging.LoggerAdapter[Any]
EmitEvent = Callable[[Event], None]  # posts a Kubernetes Event on the ModelDeployment


async def label_nodes(
    kube: KubeClient, changes: Mapping[str, Mapping[str, str | None]], logger: Logger = log
) -> None:
    """Merge-patch node labels (None removes); a node deleted meanwhile is skipped."""
    for node, labels in sorted(changes.items()):
        try:
            await kube.merge_patch(NODES, node, {"metadata": {"labels": dict(labels)}})
        except KubernetesNotFoundError:
            logger.info("Node %s is gone; skipping its label changes", node)


async def apply_changes(
    kube: KubeClient, namespace: str, plan: Plan | Cleanup, logger: Logger = log
) -> None:
    """DaemonSets, node labels, then deletions (a Cleanup has only the latter two)."""
    for daemonset in plan.daemonsets if isinstance(plan, Plan) else ():
        await kube.apply(DAEMONSETS, daemonset)
    await label_nodes(kube, plan.node_labels, logger)
    for name in plan.delete_daemonsets:
        if await kube.delete(DAEMONSETS, name, namespace):
            logger.info("Deleted DaemonSet %s/%s", namespace, name)


async def write_status(
    kube: KubeClient, namespace: str, name: str, status: ModelDeploymentStatus
) -> None:
    """Replace the whole status (a merge patch would keep keys the planner dropped)."""
    await kube.json_patch(
        MODELDEPLOYMENTS,
        name,
        [{"op": "add", "path": "/status", "value": status.to_dict()}],
        namespace=namespace,
        subresource="status",
    )


async def report(kube: KubeClient, namespace: str, name: str, plan: Plan, emit: EmitEvent) -> None:
    """Events, then the status, then the metrics of one applied plan."""
    for event in plan.events:
        emit(event)
    await write_status(kube, namespace, name, plan.status)
    record_metrics(namespace, name, plan)


def record_metrics(namespace: str, name: str, plan: Plan) -> None:
    """The plan's counts, per-node states and finished prefetches as metrics."""
    counts, resolved = plan.status.nodes, plan.status.resolved
    metrics.record_model_state(
        namespace,
        name,
        desired=counts.desired,
        ready=counts.ready,
        pulling=counts.pulling,
        waiting=counts.waiting,
        failed=counts.failed,
        size_bytes=resolved.size_bytes if resolved else 0,
    )
    metrics.record_node_states(namespace, name, plan.node_states)
    for node, seconds in plan.prefetched.items():
        metrics.observe_prefetch(namespace, name, node, seconds)
