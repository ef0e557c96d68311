"""Remove the startup taint from a node when `core.startup_taint.decide` says so.

Fed by the operator's node view (reconciler.views: the one node watch, no kopf handler
per node event) and woken by ModelDeployment events (handlers/startup_taint.py); the
loop reads the ModelDeployments' targets from a kopf index, so a decision costs no API
call. Only a removal writes: one JSON patch (tested entries, see
`core.startup_taint.removal_patch`), then an Event on the Node and the metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from modelprefetch import metrics
from modelprefetch.core.startup_taint import (
    REASON_DEADLINE,
    Decision,
    ModelTargets,
    StartupTaint,
    decide,
    removal_patch,
)
from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import EVENTS, MODELDEPLOYMENTS, NODES
from modelprefetch.reconciler import objects
from modelprefetch.settings import Settings

Logger = logging.Logger | logging.LoggerAdapter[Any]
EVENT_REASONS = {REASON_DEADLINE: "StartupTaintDeadlineExceeded"}
EVENT_REASON_REMOVED = "StartupTaintRemoved"
# Events about a Node (cluster-scoped) must live in `default`: the API server refuses
# any other namespace for an involvedObject without one; the kubelet posts there too.
NODE_EVENTS_NAMESPACE = "default"
# A failed `test` op answers 422; a concurrent update of the whole object 409.
_CHANGED_MEANWHILE = (409, 422)
RECHECK_SECONDS = 60.0  # also looks again this often (a model's targets may have changed)
ERROR_RETRY_SECONDS = 10.0
MIN_WAIT = 0.2  # seconds between two passes


def startup_taint(settings: Settings) -> StartupTaint | None:
    """The configured taint; None when the feature is off."""
    if not settings.startup_taint_enabled:
        return None
    return StartupTaint(
        key=settings.startup_taint_key,
        effect=settings.startup_taint_effect,
        deadline=settings.startup_taint_deadline,
    )


def carries(taint: StartupTaint | None, body: Mapping[str, Any]) -> bool:
    """The Node `body` has the taint (cheap: runs on every node event)."""
    spec = body.get("spec") or {}
    return taint is not None and any(taint.matches(t) for t in spec.get("taints") or [])


async def settle(
    kube: KubeClient,
    taint: StartupTaint,
    body: Mapping[str, Any],
    models: Iterable[ModelTargets],
    logger: Logger,
    *,
    events_namespace: str,
    now: datetime | None = None,
) -> Decision | None:
    """Decide about the Node `body` and remove the taint when due.

    Returns the decision, or None when there was nothing to decide (no taint, node
    gone) or the node changed meanwhile (its next event decides again).
    """
    if not carries(taint, body):
        return None
    node = objects.node_info(body)
    now = now or datetime.now(UTC)
    decision = decide(node, _created(body) or now, models, taint, now)
    if not decision.remove:
        return decision
    ops = removal_patch((body.get("spec") or {}).get("taints") or [], taint)
    try:
        await kube.json_patch(NODES, node.name, ops)
    except KubernetesNotFoundError:
        return None
    except KubernetesError as exc:
        if exc.status not in _CHANGED_MEANWHILE:
            raise
        logger.info("Node %s changed meanwhile; deciding again on fresh data", node.name)
        return None
    metrics.count_startup_taint_removal(decision.reason)
    if decision.reason == REASON_DEADLINE:
        logger.warning("%s", decision.message)
        event = ("Warning", EVENT_REASONS[REASON_DEADLINE])
    else:
        logger.info("%s", decision.message)
        event = ("Normal", EVENT_REASON_REMOVED)
    await post_node_event(kube, events_namespace, body, *event, decision.message, logger)
    return decision


async def post_node_event(
    kube: KubeClient,
    namespace: str,
    body: Mapping[str, Any],
    type_: str,
    reason: str,
    message: str,
    logger: Logger,
) -> None:
    """A core/v1 Event about the Node (in NODE_EVENTS_NAMESPACE outside tests); a
    failure to post is logged, never undoes or repeats the removal."""
    meta = body.get("metadata") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'node')}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Node",
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": "modelprefetch"},
    }
    try:
        await kube.create(EVENTS, event)
    except KubernetesError as exc:
        logger.warning("Could not post Event %s on node %s: %s", reason, meta.get("name"), exc)


def _created(body: Mapping[str, Any]) -> datetime | None:
    """The node's creationTimestamp (the API server always sets it)."""
    value = (body.get("metadata") or {}).get("creationTimestamp")
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class TaintedNodes:
    """The nodes that carry the taint, fed by the node view, and the loop that settles
    them against the ModelDeployments' targets (read from a kopf index, see `use_models`).

    Events only update this memory; the loop decides. A node's heartbeat (status only)
    wakes nobody: only a change of what the decision reads (labels, taints) or of a
    model's targets does, and otherwise the loop wakes at the earliest deadline.

    No node is judged before the targets are known complete (`models_synced`): the
    index is filled before kopf calls any ModelDeployment handler, so the first such
    call, or a first listing with no ModelDeployment at all, says so. Until then a node
    would look untargeted and lose its taint too early.
    """

    def __init__(self, taint: StartupTaint, events_namespace: str) -> None:
        self.taint = taint
        self.events_namespace = events_namespace
        self.nodes: dict[str, Mapping[str, Any]] = {}
        self._models: Callable[[], Iterable[ModelTargets]] = tuple
        self._models_synced = asyncio.Event()
        self._model_prints: dict[tuple[str, str], ModelTargets] = {}
        self._prints: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, kube: KubeClient, logger: Logger) -> None:
        """Run the loop in a task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run_when_synced(kube, logger))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def use_models(self, models: Callable[[], Iterable[ModelTargets]]) -> None:
        """Where the loop reads every ModelDeployment's targets (the kopf index)."""
        self._models = models

    def models_synced(self) -> None:
        """The targets are complete (kopf called a ModelDeployment handler)."""
        self._models_synced.set()

    def node_seen(self, name: str, body: Mapping[str, Any] | None) -> None:
        """A node event from the node view (None: deleted)."""
        if body is None or not carries(self.taint, body):
            self.nodes.pop(name, None)
            self._prints.pop(name, None)
            return
        self.nodes[name] = body
        info = objects.node_info(body)  # what the decision reads; heartbeats change none of it
        if self._prints.get(name) != info:
            self._prints[name] = info
            self._wake.set()

    def model_seen(self, key: tuple[str, str], targets: ModelTargets | None) -> None:
        """A ModelDeployment event (None: deleted, being deleted, or an invalid spec):
        wakes the loop when its targets changed."""
        self.models_synced()
        before = self._model_prints.pop(key, None)
        if targets is not None:
            self._model_prints[key] = targets
        if before != targets and self.nodes:
            self._wake.set()

    async def _run_when_synced(self, kube: KubeClient, logger: Logger) -> None:
        while not self._models_synced.is_set():
            try:  # one call at start: with no ModelDeployment, no handler ever says so
                listed = await kube.list(MODELDEPLOYMENTS, limit=1)
                if not listed.get("items"):
                    self.models_synced()
            except KubernetesError as exc:
                logger.warning("Startup taint: listing ModelDeployments: %s", exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._models_synced.wait(), timeout=ERROR_RETRY_SECONDS)
        await self.run(kube, logger)

    async def run(self, kube: KubeClient, logger: Logger) -> None:
        """Settle every tainted node, then sleep until woken or the next deadline."""
        while True:
            self._wake.clear()
            waits = [RECHECK_SECONDS]
            models = list(self._models())
            for name, body in list(self.nodes.items()):
                try:
                    decision = await settle(
                        kube,
                        self.taint,
                        body,
                        models,
                        logger,
                        events_namespace=self.events_namespace,
                    )
                except KubernetesError as exc:
                    logger.warning("Startup taint of node %s: %s; retrying", name, exc.message)
                    waits.append(ERROR_RETRY_SECONDS)
                    continue
                except Exception:  # a dead loop would silently keep every taint
                    logger.exception("Startup taint of node %s failed; retrying", name)
                    waits.append(ERROR_RETRY_SECONDS)
                    continue
                if decision is None or decision.remove:
                    # Removed, gone or changed meanwhile: the node's next event tells.
                    self.nodes.pop(name, None)
                    self._prints.pop(name, None)
                elif decision.recheck_in is not None:
                    waits.append(decision.recheck_in.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(MIN_WAIT, min(waits)))
