"""Gather: one ModelDeployment and what surrounds it -> the frozen `World` the planner reads.

Like cert-manager's gatherer, this step only reads: the spec (an invalid one becomes
`World.spec_error`, a case the planner handles), the resolution of the reference (from
the registry, cached), and the nodes, holder pods and DaemonSets the operator's views
hold (reconciler.views).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, parse_spec
from modelprefetch.api.validation import describe
from modelprefetch.core.capacity import NodeStorage, StoragePolicy, judge, model_cost
from modelprefetch.core.labels import prefetch_label_key
from modelprefetch.core.targeting import group_by_mount, matching_nodes
from modelprefetch.core.waves import wave_size
from modelprefetch.core.world import NodeInfo, PlannerSettings, Problem, World
from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.reconciler import resolver
from modelprefetch.reconciler.capacity import Capacity, candidates, record_costs, storage_for
from modelprefetch.reconciler.services import Services
from modelprefetch.reconciler.startup_taint import startup_taint
from modelprefetch.reconciler.views import Surroundings
from modelprefetch.settings import Settings

MAX_SPEC_ERROR = 1000  # characters of field errors in the Ready condition


def planner_settings(settings: Settings) -> PlannerSettings:
    """The operator settings the planner and the builders read."""
    taint = startup_taint(settings)
    return PlannerSettings(
        holder_image=settings.holder_image,
        holder_image_pull_policy=settings.holder_image_pull_policy,
        holder_tolerations=(taint.toleration(),) if taint else (),
    )


def read_spec(raw: Mapping[str, Any]) -> tuple[ModelDeploymentSpec | None, Problem | None]:
    """The parsed spec, or None and why it is invalid (the webhook would have said so)."""
    try:
        return parse_spec(raw), None
    except ValidationError as exc:
        message = f"The spec is invalid: {describe(exc)}"[:MAX_SPEC_ERROR]
        return None, Problem("InvalidSpec", message)


async def gather(
    services: Services,
    resolution: resolver.Resolution | None,
    body: Mapping[str, Any],
    surroundings: Surroundings,
    *,
    now: datetime | None = None,
) -> World:
    """The World of the ModelDeployment `body`, resolving its reference when due.

    Without a `resolution` (deletion) the registry is not asked and nothing is resolved.
    """
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    spec, spec_error = read_spec(body.get("spec") or {})
    if resolution is None:
        resolution = resolver.Resolution()
    elif spec is not None:
        await resolver.refresh(
            resolution,
            kube=services.kube,
            namespace=namespace,
            name=name,
            spec=spec,
            insecure=services.settings.insecure_registries,
            max_backoff=services.settings.registry_retry_max_seconds,
            require_verification=services.settings.require_verification,
        )
    storage = None
    if services.capacity is not None and spec is not None and resolution.artifact is not None:
        storage = await gather_storage(
            services.capacity,
            namespace,
            name,
            spec,
            resolution.artifact,
            surroundings.nodes,
            storage_policy(services, spec),
        )
    return World(
        namespace=namespace,
        name=name,
        uid=meta.get("uid") or "",
        generation=int(meta.get("generation") or 0),
        spec=spec,
        spec_error=spec_error,
        now=now or datetime.now(UTC),
        settings=planner_settings(services.settings),
        previous_status=dict(body.get("status") or {}),
        resolved=resolution.artifact if spec is not None else None,
        resolve_error=resolution.error,
        resolved_at=resolution.at,
        derive_error=resolution.derive_error,
        verification=resolution.verification if spec is not None else None,
        nodes=surroundings.nodes,
        holder_pods=surroundings.holder_pods,
        daemonsets=surroundings.daemonsets,
        storage=storage,
        storage_policy=storage_policy(services, spec),
    )


async def gather_storage(
    capacity: Capacity,
    namespace: str,
    name: str,
    spec: ModelDeploymentSpec,
    artifact: ResolvedArtifact,
    nodes: tuple[NodeInfo, ...],
    policy: StoragePolicy,
) -> dict[str, NodeStorage]:
    """Image filesystems of the nodes that may join the wave next (reconciler.capacity)."""
    targets = group_by_mount(
        artifact,
        matching_nodes(spec.nodes, nodes),
        allow_derivation=spec.model.allow_derivation,
        needs_subpath=spec.mount.sub_path is not None,
    )
    keys = {g.digest: prefetch_label_key(namespace, name, g.digest) for g in targets.groups}
    record_costs(capacity.ledger, artifact, targets, keys)
    digest_of = {node.name: g.digest for g in targets.groups for node in g.nodes}

    def fits(node: NodeInfo, storage: NodeStorage) -> bool:
        cost = model_cost(artifact, digest_of[node.name], node.runtime_version)
        return not node.disk_pressure and judge(storage, cost, policy).fits

    # The wave can take at most this many nodes now (fewer while some still pull).
    wanted = wave_size(spec.prefetch.max_concurrent_nodes, targets.desired)
    found = candidates(targets, keys)
    own = frozenset(keys.values())
    return await storage_for(capacity, found, own, wanted=wanted, fits=fits)


def storage_policy(services: Services, spec: ModelDeploymentSpec | None) -> StoragePolicy:
    """The spec's storage thresholds over the operator's defaults."""
    settings = services.settings
    given = spec.prefetch.storage if spec is not None else None
    gc_high = given.image_gc_high_threshold_percent if given else None
    eviction = given.eviction_imagefs_available_percent if given else None
    headroom = given.headroom_percent if given else None
    return StoragePolicy(
        image_gc_high_percent=settings.image_gc_high_threshold_percent
        if gc_high is None
        else gc_high,
        eviction_imagefs_available_percent=settings.eviction_imagefs_available_percent
        if eviction is None
        else eviction,
        headroom_percent=settings.storage_headroom_percent if headroom is None else headroom,
    )
