"""Which nodes a ModelDeployment targets, and which reference each of them mounts.

Targeting follows the scheduler's rules for the prefetch pods: nodeSelector,
required node affinity, and taints. Taints the DaemonSet controller tolerates by itself
(not-ready, unreachable, pressure, unschedulable) do not exclude a node: a node that is
briefly NotReady or cordoned keeps what it holds; it is only not admitted to new waves.

Runtime grouping asks `modelprefetch.oci.mount.decide_mount` once per distinct
`containerRuntimeVersion`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from modelprefetch.api.scheduling import (
    NodeSelectorOperator,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    TaintEffect,
    Toleration,
    TolerationOperator,
)
from modelprefetch.api.v1alpha1 import NodeTargeting
from modelprefetch.core.world import NodeInfo, Taint
from modelprefetch.oci.artifact import MountDecision, ResolvedArtifact
from modelprefetch.oci.mount import decide_mount, parse_runtime

# Taints DaemonSet pods tolerate automatically (pkg/controller/daemon/util).
DAEMONSET_TOLERATED_TAINTS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
    }
)
_REPELLING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True, slots=True)
class MountGroup:
    """Targeted nodes that mount the same digest-pinned reference."""

    reference: str
    digest: str
    runtimes: tuple[str, ...]  # containerRuntimeVersion values
    nodes: tuple[NodeInfo, ...]  # sorted by name


@dataclass(frozen=True, slots=True)
class UnmountableNode:
    """A matching node whose runtime cannot mount the model."""

    name: str
    runtime: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Targets:
    """The outcome of targeting and runtime grouping."""

    groups: tuple[MountGroup, ...]  # sorted by reference
    awaiting_derivation: tuple[NodeInfo, ...]  # mountable once the derived image exists
    unmountable: tuple[UnmountableNode, ...]  # sorted by name
    derivation_message: str = ""

    @property
    def desired(self) -> int:
        """Nodes that hold, or will hold, the model."""
        return sum(len(group.nodes) for group in self.groups) + len(self.awaiting_derivation)


def matching_nodes(
    targeting: NodeTargeting, nodes: Iterable[NodeInfo], also_tolerated: Sequence[Toleration] = ()
) -> list[NodeInfo]:
    """Nodes the prefetch pods may run on, sorted by name.

    `also_tolerated`: tolerations the builders add to every holder pod besides the
    spec's (the startup taint's, core/startup_taint.py).
    """
    return sorted(
        (node for node in nodes if node_matches(targeting, node, also_tolerated)),
        key=lambda node: node.name,
    )


def node_matches(
    targeting: NodeTargeting, node: NodeInfo, also_tolerated: Sequence[Toleration] = ()
) -> bool:
    """nodeSelector, required affinity and taints all allow this node."""
    tolerations = [*targeting.tolerations, *also_tolerated]
    return (
        _selector_matches(targeting.node_selector, node.labels)
        and _affinity_matches(targeting, node)
        and all(_tolerated(taint, tolerations) for taint in node.taints)
    )


def _selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _affinity_matches(targeting: NodeTargeting, node: NodeInfo) -> bool:
    affinity = targeting.affinity
    node_affinity = affinity.node_affinity if affinity else None
    required = (
        node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    )
    if required is None:
        return True
    return any(_term_matches(term, node) for term in required.node_selector_terms)


def _term_matches(term: NodeSelectorTerm, node: NodeInfo) -> bool:
    """A term with no requirements matches nothing, as in the scheduler."""
    if not term.match_expressions and not term.match_fields:
        return False
    fields = {"metadata.name": node.name}
    return all(_requirement_matches(r, node.labels) for r in term.match_expressions) and all(
        _requirement_matches(r, fields) for r in term.match_fields
    )


def _requirement_matches(requirement: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    value = labels.get(requirement.key)
    op = requirement.operator
    if op is NodeSelectorOperator.EXISTS:
        return value is not None
    if op is NodeSelectorOperator.DOES_NOT_EXIST:
        return value is None
    if op is NodeSelectorOperator.IN:
        return value is not None and value in requirement.values
    if op is NodeSelectorOperator.NOT_IN:
        return value is None or value not in requirement.values
    if value is None or not value.lstrip("-").isdigit():
        return False
    bound = int(requirement.values[0])
    return int(value) > bound if op is NodeSelectorOperator.GT else int(value) < bound


def _tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    if taint.effect not in _REPELLING_EFFECTS or taint.key in DAEMONSET_TOLERATED_TAINTS:
        return True
    return any(_tolerates(toleration, taint) for toleration in tolerations)


def _tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect is not TaintEffect.ALL and toleration.effect != taint.effect:
        return False
    if toleration.operator is TolerationOperator.EXISTS:
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and toleration.value == taint.value


def group_by_mount(
    artifact: ResolvedArtifact,
    nodes: Iterable[NodeInfo],
    *,
    allow_derivation: bool,
    needs_subpath: bool = False,
) -> Targets:
    """Group targeted nodes by the reference their runtime mounts as files.

    With `needs_subpath` (spec.mount.subPath set), runtimes that would silently ignore
    the subPath (containerd 2.1) count as unmountable: pods would see the wrong tree.
    """
    decisions: dict[str, MountDecision] = {}
    by_reference: dict[str, list[NodeInfo]] = {}
    awaiting: list[NodeInfo] = []
    unmountable: list[UnmountableNode] = []
    derivation_message = ""
    for node in sorted(nodes, key=lambda n: n.name):
        decision = decisions.get(node.runtime_version)
        if decision is None:
            runtime = parse_runtime(node.runtime_version)
            decision = decide_mount(artifact, runtime, allow_derivation=allow_derivation)
            if needs_subpath and not decision.subpath_supported:
                decision = _without_subpath(decision)
            decisions[node.runtime_version] = decision
        if decision.mountable and decision.reference is not None:
            by_reference.setdefault(decision.reference, []).append(node)
        elif decision.needs_derivation:
            awaiting.append(node)
            derivation_message = decision.message
        else:
            unmountable.append(
                UnmountableNode(node.name, node.runtime_version, decision.reason, decision.message)
            )
    groups = tuple(
        MountGroup(
            reference=reference,
            digest=digest_of(reference),
            runtimes=tuple(sorted({n.runtime_version for n in members})),
            nodes=tuple(members),
        )
        for reference, members in sorted(by_reference.items())
    )
    return Targets(groups, tuple(awaiting), tuple(unmountable), derivation_message)


def _without_subpath(decision: MountDecision) -> MountDecision:
    message = (
        f"{decision.runtime.raw} ignores subPath on image volumes and spec.mount.subPath is set"
    )
    return replace(
        decision,
        reference=None,
        needs_derivation=False,
        reason="SubPathUnsupported",
        message=message,
    )


def digest_of(pinned_reference: str) -> str:
    """The digest of a digest-pinned reference ("repo@sha256:..." -> "sha256:...")."""
    _, _, digest = pinned_reference.rpartition("@")
    return digest
