"""status.resolved: what the reference resolved to, and which references are mounted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from modelprefetch.api.status import MountedReference, ResolvedModel
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.core.labels import prefetch_label_key, warm_key_for
from modelprefetch.core.rollout import Retirement
from modelprefetch.core.status import rfc3339
from modelprefetch.core.targeting import MountGroup
from modelprefetch.core.waves import NodeProgress, NodeState
from modelprefetch.core.world import World
from modelprefetch.oci.artifact import ResolvedArtifact


def resolved_block(
    world: World,
    spec: ModelDeploymentSpec,
    artifact: ResolvedArtifact,
    groups: Sequence[MountGroup],
    progress: Sequence[NodeProgress],
    retirements: Sequence[Retirement],
) -> ResolvedModel:
    """status.resolved: what the reference resolved to and what is mounted."""
    mounts = mount_entries(world, groups, progress, retirements)
    return ResolvedModel(
        reference=spec.model.reference,
        digest=artifact.digest,
        short_digest=short_digest(artifact.digest),
        mounted_reference=webhook_reference(mounts),
        mounts=mounts,
        kind=str(artifact.kind),
        format=artifact.format,
        name=artifact.name,
        family=artifact.family,
        param_size=artifact.param_size,
        size_bytes=artifact.size_bytes,
        file_count=len(artifact.files),
        resolved_at=rfc3339(world.resolved_at) if world.resolved_at else None,
        format_source=artifact.format_source,
    )


def mount_entries(
    world: World,
    groups: Sequence[MountGroup],
    progress: Sequence[NodeProgress],
    retirements: Sequence[Retirement],
) -> list[MountedReference]:
    """Current references by runtime group, then previous ones still held somewhere."""
    ready = Counter(p.label_key for p in progress if p.state is NodeState.READY)
    entries = []
    for group in groups:
        label_key = prefetch_label_key(world.namespace, world.name, group.digest)
        entries.append(
            MountedReference(
                reference=group.reference,
                digest=group.digest,
                runtimes=list(group.runtimes),
                nodes=len(group.nodes),
                ready=ready[label_key],
                node_label=warm_key_for(label_key),
                current=True,
            )
        )
    for retirement in retirements:
        if retirement.done or not retirement.keep_nodes:
            continue
        ds = retirement.daemonset
        entries.append(
            MountedReference(
                reference=ds.reference,
                digest=ds.digest,
                runtimes=[],
                nodes=len(retirement.keep_nodes),
                ready=len(retirement.keep_nodes),
                node_label=warm_key_for(ds.label_key),
                current=False,
            )
        )
    return entries


def webhook_reference(mounts: Sequence[MountedReference]) -> str | None:
    """The one reference the webhook mounts into new pods.

    The one Ready on most nodes, so new pods start warm: during a rollout that stays the
    previous digest until the new one has caught up. Ties go to the current digest, then
    to the reference most targeted nodes can mount.
    """
    if not mounts:
        return None
    best = max(mounts, key=lambda m: (m.ready, m.current, m.nodes, m.reference))
    return best.reference


def short_digest(digest: str) -> str:
    """sha256:0123456789ab (12 hex digits), for kubectl get."""
    algorithm, _, hexdigits = digest.partition(":")
    return f"{algorithm}:{hexdigits[:12]}"
