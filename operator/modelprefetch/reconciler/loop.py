"""One ModelDeployment's level-based loop: gather -> plan -> apply, then sleep.

The loop sleeps until the planner's requeue time, the resolver's retry time or the
periodic resync, or until an event about its nodes, pods, DaemonSets or its own spec
wakes it. Every step is idempotent, so an operator restart at any point converges.
Deletion removes the DaemonSets and every node label the operator set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from modelprefetch import metrics
from modelprefetch.core.cleanup import plan_cleanup
from modelprefetch.core.planner import plan
from modelprefetch.errors import ModelPrefetchError
from modelprefetch.reconciler import apply, resolver
from modelprefetch.reconciler.apply import EmitEvent, Logger
from modelprefetch.reconciler.capacity import reserve_admitted
from modelprefetch.reconciler.gather import gather
from modelprefetch.reconciler.progress import Progress, record_progress_metrics, with_pull_events
from modelprefetch.reconciler.services import Services
from modelprefetch.reconciler.views import Surroundings
from modelprefetch.reconciler.written import LastWritten

MIN_WAIT = 0.5  # seconds until a timed pass, whatever is due
# After a pass whose planning took t seconds the loop rests PASS_PACE * t (at least
# MIN_REST) before the next, even when woken: planning is O(nodes), and wake-ups come with
# every holder pod change, so back-to-back passes made the operator's CPU grow with nodes
# x rollout time (252 CPU s for 5,000 nodes, 50 ms a node, against 16 ms a node at 2,000:
# docs/scale.md). With a rest of 3 t a loop plans at most a quarter of the time, whatever
# N, and with the rest times the number of loops, all of them together do; what a pass
# decides is level-based, so fewer passes lose nothing. Only the planning counts
# (synchronous CPU), not the pass's API calls: a pass that labels 5,000 nodes waits on the
# API server for many seconds and must not rest three times that.
PASS_PACE = 3.0
MIN_REST = 0.1
ERROR_RETRY_SECONDS = 10.0  # after a pass failed with a temporary error


async def reconcile_once(
    services: Services,
    resolution: resolver.Resolution,
    body: Mapping[str, Any],
    surroundings: Surroundings,
    emit: EmitEvent,
    logger: Logger,
    written: LastWritten | None = None,
    cost: PassCost | None = None,
) -> float:
    """One pass; returns the seconds until the next pass is due.

    With `written` (kept across passes), unchanged DaemonSets are not applied again;
    a status equal to the observed one is not written again. With `cost`, the seconds
    the planning took are recorded there (the loop's pacing).
    """
    world = await gather(services, resolution, body, surroundings)
    planning = time.monotonic()
    world = with_pull_events(world, surroundings.pull_events)
    if written is not None:
        written.observe(d.name for d in world.daemonsets)
    decided = plan(world)
    if cost is not None:
        cost.seconds = time.monotonic() - planning
    if services.capacity is not None:  # no await since gather read the ledger
        reserve_admitted(services.capacity.ledger, world.nodes, decided.node_labels)
    kube, namespace, name = services.kube, world.namespace, world.name
    concurrency = services.node_patches
    counts = decided.status.nodes
    shown = Progress(kube, namespace, name, counts, decided.node_labels, logger=logger)
    await apply.apply_changes(kube, namespace, decided, logger, concurrency, shown.patched, written)
    if world.spec is not None and decided.publish_derived_image and not resolution.derive_error:
        await resolver.publish_derived(
            resolution,
            kube=kube,
            namespace=namespace,
            spec=world.spec,
            insecure=services.settings.insecure_registries,
        )
        return 0.0  # plan again with the derived image (or the error) known
    # After a progress write the observed status is stale: write the final one anyway.
    observed = None if shown.writes else world.previous
    await apply.report(kube, namespace, name, decided, emit, observed)
    record_progress_metrics(world, decided)
    waits = [services.settings.resync_seconds]
    if world.spec is not None:
        refresh = world.spec.model.refresh_interval
        retry_max = services.settings.registry_retry_max_seconds
        waits.append(resolution.retry_in(refresh, world.now, retry_max))
    if decided.requeue_after is not None:
        waits.append(decided.requeue_after)
    return max(MIN_WAIT, min(waits))


async def run(
    services: Services,
    body: Mapping[str, Any],
    surroundings: Callable[[], Surroundings],
    stopped: Callable[[], bool],
    emit: EmitEvent,
    logger: Logger,
) -> None:
    """Reconcile `body` (kept current by kopf) until `stopped()`."""
    meta = body.get("metadata") or {}
    key = (meta.get("namespace") or "", meta.get("name") or "")
    wakeups = services.wakeups
    wakeups.register(key)
    resolution = resolver.Resolution()
    written = LastWritten(ttl=services.settings.resync_seconds)
    cost = PassCost()
    try:
        while not stopped():
            started = time.monotonic()
            cost.seconds = 0.0
            try:
                wait = await reconcile_once(
                    services, resolution, body, surroundings(), emit, logger, written, cost
                )
                metrics.observe_reconcile(time.monotonic() - started, error=False)
            except ModelPrefetchError as exc:
                metrics.observe_reconcile(time.monotonic() - started, error=True)
                wait = ERROR_RETRY_SECONDS if exc.temporary else services.settings.resync_seconds
                logger.warning(
                    "Reconcile failed (%s), retrying in %.0fs: %s", exc.reason, wait, exc.message
                )
            rest = rest_after(cost.seconds, loops=len(wakeups))
            await asyncio.sleep(rest)  # wake-ups meanwhile are kept: the wait below sees them
            await wakeups.wait(key, max(wait - rest, 0.0))
    finally:
        wakeups.unregister(key)


@dataclasses.dataclass(slots=True)
class PassCost:
    """What the last pass's planning took, in seconds (set by reconcile_once)."""

    seconds: float = 0.0


def rest_after(planning_seconds: float, loops: int = 1) -> float:
    """Seconds to rest after a pass whose planning took `planning_seconds` (PASS_PACE),
    with `loops` ModelDeployments reconciling: together they plan at most a quarter of the
    time (20 models' loops woken by the same node events would otherwise fill a core)."""
    return max(MIN_REST, PASS_PACE * max(planning_seconds, 0.0) * max(loops, 1))


async def cleanup(
    services: Services, body: Mapping[str, Any], surroundings: Surroundings, logger: Logger
) -> None:
    """Remove the DaemonSets and every node label this ModelDeployment set."""
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    world = await gather(services, None, body, surroundings)  # no registry call
    decided = plan_cleanup(world)
    concurrency = services.node_patches
    await apply.apply_changes(services.kube, namespace, decided, logger, concurrency)
    metrics.forget_model(namespace, name)
    if services.capacity is not None:
        services.capacity.ledger.forget(decided.label_keys)
    logger.info(
        "Cleaned up: %d DaemonSets, %d label keys",
        len(decided.delete_daemonsets),
        len(decided.label_keys),
    )
