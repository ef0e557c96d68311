"""Progress: node counts in the status while one long pass patches node labels, and which
of the kubelet's pull Events (reconciler.pull_events) `status.progress` and the pull
metrics are made of.

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
from modelprefetch.core.pulls import PodPulls
from modelprefetch.core.world import World
from modelprefetch.errors import ModelPrefetchError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import MODELDEPLOYMENTS

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


def with_pull_events(world: World, pulls: Mapping[str, PodPulls]) -> World:
    """The World with what the kubelet's Pulling/Pulled Events say about the holder pods
    that pull now or just finished (reconciler.pull_events watches them): a settled
    ModelDeployment gets none, as when they were listed per pass."""
    follow = pods_to_follow(world)
    followed = {pod: pulls[pod] for pod in follow if pod in pulls}
    return dataclasses.replace(world, pull_events=followed)


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
