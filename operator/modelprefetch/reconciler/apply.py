"""Apply: carry out a `core.Plan` (or a `core.Cleanup`) against the API server.

In the order `core.plan` documents: DaemonSets, node labels, deletions; then Events,
the status and the metrics. Every step is idempotent; a failure raises before the
status is written, so the next pass starts again from what was really applied.
Node label patches (one per node) run concurrently within a bound, and all of them
finish before any DaemonSet is deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from modelprefetch import metrics
from modelprefetch.api.status import ModelDeploymentStatus
from modelprefetch.core.cleanup import Cleanup
from modelprefetch.core.plan import Event, Plan
from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import DAEMONSETS, MODELDEPLOYMENTS, NODES
from modelprefetch.reconciler.written import LastWritten

log = logging.getLogger(__name__)
Logger = logging.Logger | logging.LoggerAdapter[Any]
EmitEvent = Callable[[Event], None]  # posts a Kubernetes Event on the ModelDeployment
OnPatched = Callable[[str], Awaitable[None]]  # told each node whose labels are done


DEFAULT_NODE_PATCH_CONCURRENCY = 16


def _bound(concurrency: int) -> asyncio.Semaphore:
    return asyncio.Semaphore(max(1, concurrency))


async def label_nodes(
    kube: KubeClient,
    changes: Mapping[str, Mapping[str, str | None]],
    logger: Logger = log,
    concurrency: int | asyncio.Semaphore = DEFAULT_NODE_PATCH_CONCURRENCY,
    on_patched: OnPatched | None = None,
) -> None:
    """Merge-patch node labels (None removes), at most `concurrency` requests at a time
    (a semaphore: shared with other callers, Services.node_patches).

    One node's failure does not stop the others: every patch is tried, then the first
    failure is raised (naming how many nodes failed) so the status is not written and
    the next pass retries what is left. A node deleted meanwhile is skipped.
    """
    limit = concurrency if isinstance(concurrency, asyncio.Semaphore) else _bound(concurrency)

    async def patch(node: str, labels: Mapping[str, str | None]) -> None:
        async with limit:
            try:
                await kube.merge_patch(NODES, node, {"metadata": {"labels": dict(labels)}})
            except KubernetesNotFoundError:
                logger.info("Node %s is gone; skipping its label changes", node)
        if on_patched is not None:  # outside the bound: a progress write is no label patch
            await on_patched(node)

    nodes = sorted(changes)
    results = await asyncio.gather(
        *(patch(node, changes[node]) for node in nodes), return_exceptions=True
    )
    failed = [(n, r) for n, r in zip(nodes, results, strict=True) if isinstance(r, BaseException)]
    for node, error in failed:
        if not isinstance(error, Exception):  # cancellation and the like: not ours to keep
            raise error
        logger.warning("Patching the labels of node %s failed: %s", node, error)
    if failed:
        first = failed[0][1]
        if len(failed) == 1 or not isinstance(first, KubernetesError):
            raise first
        raise KubernetesError(
            f"Label patches failed on {len(failed)} of {len(nodes)} nodes, first on "
            f"{failed[0][0]}: {first.message}",
            status=first.status,
            reason=first.reason,
        ) from first


async def apply_changes(
    kube: KubeClient,
    namespace: str,
    plan: Plan | Cleanup,
    logger: Logger = log,
    node_patch_concurrency: int | asyncio.Semaphore = DEFAULT_NODE_PATCH_CONCURRENCY,
    on_patched: OnPatched | None = None,
    written: LastWritten | None = None,
) -> None:
    """DaemonSets, node labels, then deletions (a Cleanup has only the latter two).

    With `written`, a DaemonSet manifest equal to the one last applied is not sent.

    Every label patch finishes before a DaemonSet is deleted: a DaemonSet's annotation
    names its label key, so if removing labels fails, the next pass still finds the key
    there (and not only in a possibly stale status).
    """
    for daemonset in plan.daemonsets if isinstance(plan, Plan) else ():
        if written is not None and written.unchanged(daemonset):
            continue
        await kube.apply(DAEMONSETS, daemonset)
        if written is not None:
            written.applied(daemonset)
    await label_nodes(kube, plan.node_labels, logger, node_patch_concurrency, on_patched)
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


async def report(
    kube: KubeClient,
    namespace: str,
    name: str,
    plan: Plan,
    emit: EmitEvent,
    observed_status: Mapping[str, Any] | None = None,
) -> None:
    """Events, then the status (unless equal to `observed_status`), then the metrics."""
    for event in plan.events:
        emit(event)
    if observed_status is None or plan.status.to_dict() != dict(observed_status):
        await write_status(kube, namespace, name, plan.status)
    record_metrics(namespace, name, plan)


def record_metrics(namespace: str, name: str, plan: Plan) -> None:
    """The plan's counts and finished prefetches as metrics (no per-node series)."""
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
    metrics.keep_prefetched_nodes(namespace, name, plan.node_states.keys())
    for node, seconds in plan.prefetched.items():
        metrics.observe_prefetch(namespace, name, node, seconds)
