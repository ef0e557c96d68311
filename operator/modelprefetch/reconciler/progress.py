"""Progress: node counts in the status while one long pass patches node labels, and the
kubelet's pull Events that `status.progress` and the pull metrics are made of.

The full status is written once a pass has applied everything (see `apply`). A pass
that labels a thousand nodes takes seconds, and users should see N/M grow meanwhile,
so this writes only `status.nodes`, counting as Ready the nodes whose warm label is
already set, at most once every `interval` seconds. Best effort: a failed progress
write is logged and never fails the pass; the full status replaces it at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from modelprefetch import metrics
from modelprefetch.api.status import NodeCounts
from modelprefetch.core.labels import WARM_LABEL_PREFIX, WARM_VALUE
from modelprefetch.core.plan import Plan
from modelprefetch.core.pulls import PULLED, PULLING, pulls_by_pod
from modelprefetch.core.world import World
from modelprefetch.errors import ModelPrefetchError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import EVENTS, MODELDEPLOYMENTS

log = logging.getLogger(__name__)
Logger = logging.Logger | logging.LoggerAdapter[Any]
PROGRESS_INTERVAL_SECONDS = 5.0  # at most one progress write per ModelDeployment this often
# Pull Events are read while a holder pod is not Ready, and this long after one turned
# Ready: the last node's Pulled event still reaches the metrics.
PULL_EVENT_WINDOW = timedelta(minutes=5)


def warming_nodes(changes: Mapping[str, Mapping[str, str | None]]) -> set[str]:
    """Nodes that this plan marks warm (counted Ready only once the patch landed)."""
    return {
        node
        for node, labels in changes.items()
        if any(k.startswith(WARM_LABEL_PREFIX) and v == WARM_VALUE for k, v in labels.items())
    }


class Progress:
    """Counts label patches as they land; writes `status.nodes` when `interval` passed."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        counts: NodeCounts,
        changes: Mapping[str, Mapping[str, str | None]],
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        logger: Logger = log,
    ) -> None:
        self._kube, self._namespace, self._name = kube, namespace, name
        self._counts = counts
        self._pending = warming_nodes(changes)
        self._interval, self._clock, self._logger = interval, clock, logger
        self._last = clock()  # a short pass writes nothing but its final status
        self._writing = False
        self.writes = 0

    def counts(self) -> NodeCounts:
        """The plan's counts, with nodes whose warm label is not set yet not Ready."""
        ready = max(0, self._counts.ready - len(self._pending))
        return self._counts.model_copy(
            update={"ready": ready, "summary": f"{ready}/{self._counts.desired}"}
        )

    async def patched(self, node: str) -> None:
        """Called after each node's label patch (or skip); writes progress when due."""
        self._pending.discard(node)
        if self._writing or self._clock() - self._last < self._interval:
            return
        self._writing = True
        try:
            await self._kube.merge_patch(
                MODELDEPLOYMENTS,
                self._name,
                {"status": {"nodes": self.counts().to_dict()}},
                namespace=self._namespace,
                subresource="status",
            )
            self.writes += 1
        except ModelPrefetchError as exc:
            self._logger.debug("Progress write failed (the final status follows): %s", exc)
        finally:
            self._last = self._clock()
            self._writing = False


def pods_to_follow(world: World) -> set[str]:
    """Holder pods on a node whose pull Events matter now (empty: read none)."""
    pulling = [p for p in world.holder_pods if p.node_name and not p.ready]
    recent = [
        p
        for p in world.holder_pods
        if p.ready and p.ready_since is not None and world.now - p.ready_since < PULL_EVENT_WINDOW
    ]
    return {p.name for p in pulling + recent}


async def with_pull_events(kube: KubeClient, world: World, logger: Logger = log) -> World:
    """The World with the kubelet's Pulling/Pulled Events of its holder pods.

    Two list calls in the namespace (the API server filters by reason), only while some
    holder pod pulls or just finished: a settled ModelDeployment costs nothing. Best
    effort: progress without Events still follows the holder pods.
    """
    pods = pods_to_follow(world)
    if not pods:
        return world
    events: list[Mapping[str, Any]] = []
    for reason in (PULLING, PULLED):
        selector = f"involvedObject.kind=Pod,reason={reason}"
        try:
            reply = await kube.request(
                "GET", EVENTS.path(world.namespace), params={"fieldSelector": selector}
            )
        except ModelPrefetchError as exc:
            logger.debug("Reading the kubelet's %s events failed: %s", reason, exc)
            return world
        events.extend(reply.get("items") or [])
    return dataclasses.replace(world, pull_events=pulls_by_pod(events, pods))


def record_progress_metrics(world: World, plan: Plan) -> None:
    """Nodes per phase, and each finished pull (once) from its Pulled event."""
    block = plan.status.progress
    if block is not None:
        metrics.record_phases(world.namespace, world.name, dict(block.phases))
    finished = {
        pod: (pulls.event_uid, pulls.pull.pull_seconds, pulls.pull.size_bytes)
        for pod, pulls in world.pull_events.items()
        if pulls.pull is not None
    }
    if finished:
        holders = {p.name for p in world.holder_pods}
        metrics.observe_pulls(world.namespace, world.name, finished, holders)
