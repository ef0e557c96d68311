"""The ModelDeployment reconcile loop: gather -> plan (pure) -> apply -> status.

One kopf daemon per ModelDeployment runs a level-based loop: it reconciles, then sleeps
until the planner's requeue time, the resolver's retry time or the periodic resync, or
until an event about its nodes, pods, DaemonSets or its own spec wakes it. Every step is
idempotent, so an operator restart at any point converges. Deletion removes the
DaemonSets and every node label the operator set (a finalizer holds the object until then).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from modelprefetch import constants, metrics
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, parse_spec
from modelprefetch.api.validation import field_errors
from modelprefetch.core.labels import warm_key_for
from modelprefetch.core.planner import plan
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo, PlannerSettings, World
from modelprefetch.errors import ModelPrefetchError
from modelprefetch.handlers import applier, resolver, runtime, triggers
from modelprefetch.k8s.resources import DAEMONSETS

log = logging.getLogger(__name__)
RESOURCE = (constants.GROUP, constants.VERSION, constants.PLURAL)
ERROR_BACKOFF = 10.0


def _store(index: kopf.Index[Any, Any], key: Any) -> list[Any]:
    return list(index.get(key, []))


def _all(index: kopf.Index[Any, Any]) -> list[Any]:
    return [value for store in index.values() for value in store]


def planner_settings() -> PlannerSettings:
    s = runtime.current().settings
    return PlannerSettings(
        holder_image=s.holder_image, holder_image_pull_policy=s.holder_image_pull_policy
    )


def invalid_spec_status(body: kopf.Body, exc: ValidationError) -> dict[str, Any]:
    """Status for a spec the API model rejects (only reachable with the webhook off)."""
    message = "; ".join(f"{e.path}: {e.message}" for e in field_errors(exc))[:1000]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    generation = body.meta.get("generation", 0)
    previous = dict(body.get("status") or {})
    return previous | {
        "observedGeneration": generation,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "InvalidSpec",
                "message": f"The spec is invalid: {message}",
                "lastTransitionTime": now,
                "observedGeneration": generation,
            }
        ],
    }


async def reconcile_once(
    body: kopf.Body,
    resolution: resolver.Resolution,
    spec: ModelDeploymentSpec,
    nodes: list[NodeInfo],
    holders: list[HolderPod],
    daemonsets: list[ExistingDaemonSet],
) -> float:
    """One pass; returns the seconds until the next pass is due."""
    rt = runtime.current()
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    await resolver.refresh(
        resolution,
        kube=rt.kube,
        namespace=namespace,
        name=name,
        spec=spec,
        insecure=rt.settings.insecure_registries,
        max_backoff=rt.settings.registry_retry_max_seconds,
    )
    world = World(
        namespace=namespace,
        name=name,
        uid=body.metadata.uid or "",
        generation=int(body.meta.get("generation", 0)),
        spec=spec,
        now=datetime.now(UTC),
        settings=planner_settings(),
        previous_status=dict(body.get("status") or {}),
        resolved=resolution.artifact,
        resolve_error=resolution.error,
        resolved_at=resolution.at,
        derive_error=resolution.derive_error,
        nodes=tuple(nodes),
        holder_pods=tuple(holders),
        daemonsets=tuple(daemonsets),
    )
    decided = plan(world)
    await applier.apply_plan(rt.kube, namespace, decided)
    if decided.publish_derived_image and resolution.derive_error is None:
        await resolver.publish_derived(
            resolution,
            kube=rt.kube,
            namespace=namespace,
            spec=spec,
            insecure=rt.settings.insecure_registries,
        )
        return 0.0  # plan again with the derived image (or the error) known
    for event in decided.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    await applier.write_status(rt.kube, namespace, name, decided.status)
    _record_metrics(namespace, name, decided.status)
    metrics.record_node_states(namespace, name, decided.node_states)
    for node, seconds in decided.prefetched.items():
        metrics.observe_prefetch(namespace, name, node, seconds)
    waits = [
        rt.settings.resync_seconds,
        resolution.retry_in(
            spec.model.refresh_interval, world.now, rt.settings.registry_retry_max_seconds
        ),
    ]
    if decided.requeue_after is not None:
        waits.append(decided.requeue_after)
    return max(0.5, min(waits))


def _record_metrics(namespace: str, name: str, status: dict[str, Any]) -> None:
    counts = status.get("nodes") or {}
    resolved = status.get("resolved") or {}
    metrics.record_model_state(
        namespace,
        name,
        desired=int(counts.get("desired", 0)),
        ready=int(counts.get("ready", 0)),
        pulling=int(counts.get("pulling", 0)),
        waiting=int(counts.get("waiting", 0)),
        failed=int(counts.get("failed", 0)),
        size_bytes=int(resolved.get("sizeBytes", 0) or 0),
    )


@kopf.daemon(*RESOURCE, cancellation_timeout=2.0)
async def reconcile_loop(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    **kwargs: Any,
) -> None:
    # kopf passes the indexes by their function names (observe.py).
    nodes_index: kopf.Index[str, NodeInfo] = kwargs["nodes_index"]
    holders_index: kopf.Index[tuple[str, str], HolderPod] = kwargs["holders_index"]
    daemonsets_index: kopf.Index[tuple[str, str], ExistingDaemonSet] = kwargs["daemonsets_index"]
    namespace = namespace or ""
    key = (namespace, name)
    triggers.register(key)
    resolution = resolver.Resolution()
    try:
        while not stopped:
            started = time.monotonic()
            wait = ERROR_BACKOFF
            try:
                spec = parse_spec(body.get("spec") or {})
            except ValidationError as exc:
                await applier.write_status(
                    runtime.current().kube, namespace, name, invalid_spec_status(body, exc)
                )
                await triggers.wait(key, runtime.current().settings.resync_seconds)
                continue
            try:
                wait = await reconcile_once(
                    body,
                    resolution,
                    spec,
                    _all(nodes_index),
                    _store(holders_index, key),
                    _store(daemonsets_index, key),
                )
                metrics.observe_reconcile(time.monotonic() - started, error=False)
            except ModelPrefetchError as exc:
                metrics.observe_reconcile(time.monotonic() - started, error=True)
                log.warning(
                    "Reconcile of ModelDeployment %s/%s failed, retrying in %.0fs: %s",
                    namespace,
                    name,
                    ERROR_BACKOFF,
                    exc.message,
                )
            await triggers.wait(key, wait)
    finally:
        triggers.unregister(key)


@kopf.on.event(*RESOURCE)
async def spec_changed(namespace: str | None, name: str | None, **_: Any) -> None:
    if namespace and name:
        triggers.wake((namespace, name))


@kopf.on.delete(*RESOURCE)
async def cleanup(body: kopf.Body, namespace: str | None, name: str, **kwargs: Any) -> None:
    """Remove the DaemonSets and every node label this ModelDeployment set."""
    nodes_index: kopf.Index[str, NodeInfo] = kwargs["nodes_index"]
    daemonsets_index: kopf.Index[tuple[str, str], ExistingDaemonSet] = kwargs["daemonsets_index"]
    kube = runtime.current().kube
    namespace = namespace or ""
    owned = _store(daemonsets_index, (namespace, name))
    keys = set((body.get("status") or {}).get("nodeLabelKeys") or [])
    keys |= {ds.label_key for ds in owned}
    keys |= {warm_key_for(k) for k in list(keys)}
    for ds in owned:
        await kube.delete(DAEMONSETS, ds.name, namespace)
    nodes = [(n.name, n.labels) for n in _all(nodes_index)]
    await applier.label_nodes(kube, applier.labels_to_remove(keys, nodes))
    metrics.forget_model(namespace, name)
    log.info(
        "Cleaned up ModelDeployment %s/%s: %d DaemonSets, %d label keys",
        namespace,
        name,
        len(owned),
        len(keys),
    )
