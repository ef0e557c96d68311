"""The startup taint: keep a new node out of service until its models are warm.

A node pool registers its nodes with a taint (Karpenter `startupTaints`, kubelet
`--register-with-taints`), by default `modelprefetch.io/warming:NoSchedule`. Holder pods
tolerate it, so they warm the node; workload pods do not, so none lands on a cold node.
`decide` says, for one tainted node, whether the taint may go:

* every ModelDeployment that targets the node has its warm label there (Warm);
* no ModelDeployment targets the node (NotTargeted): nothing will ever warm it, and a
  taint nobody removes would keep the node out of service for good;
* the deadline since the node's creation passed (DeadlineExceeded): removed anyway, so
  a broken registry or a model the node cannot mount never keeps capacity idle.

`removal_patch` removes only this taint, as a JSON patch that first tests each removed
entry at its index: when another controller changed the taint list meanwhile, the patch
fails as a whole (and is decided again on fresh data) instead of dropping their taints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from modelprefetch.api.scheduling import TaintEffect, Toleration, TolerationOperator
from modelprefetch.api.v1alpha1 import NodeTargeting, parse_spec
from modelprefetch.core.labels import WARM_VALUE, warm_key_for
from modelprefetch.core.targeting import node_matches
from modelprefetch.core.world import NodeInfo, Taint

REASON_WARM = "Warm"
REASON_NOT_TARGETED = "NotTargeted"
REASON_DEADLINE = "DeadlineExceeded"
REASON_WARMING = "Warming"  # kept: models are still pulling there
REMOVAL_REASONS = (REASON_WARM, REASON_NOT_TARGETED, REASON_DEADLINE)
MAX_NAMED = 5  # models named in a message


@dataclass(frozen=True, slots=True)
class StartupTaint:
    """The configured taint (operator settings `startup_taint_*`)."""

    key: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute
    deadline: timedelta

    def toleration(self) -> Toleration:
        """What holder pods carry: any value of the key, with the configured effect."""
        return Toleration(
            key=self.key, operator=TolerationOperator.EXISTS, effect=TaintEffect(self.effect)
        )

    def matches(self, taint: Taint | Mapping[str, Any]) -> bool:
        if isinstance(taint, Taint):
            return taint.key == self.key and taint.effect == self.effect
        return taint.get("key") == self.key and taint.get("effect") == self.effect

    def on(self, node: NodeInfo) -> bool:
        """The node carries this taint."""
        return any(self.matches(taint) for taint in node.taints)


@dataclass(frozen=True, slots=True)
class ModelTargets:
    """What the taint decision reads of one ModelDeployment (its spec and status)."""

    namespace: str
    name: str
    nodes: NodeTargeting
    warm_labels: frozenset[str]  # node labels that mark it Ready on a node
    unmountable: frozenset[str] = frozenset()  # node names it reports it cannot mount on

    @property
    def title(self) -> str:
        return f"{self.namespace}/{self.name}"


def model_targets(
    namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any]
) -> ModelTargets | None:
    """The targets of one ModelDeployment; None when its spec does not parse (it targets
    nothing: the planner reports it InvalidSpec and never prefetches)."""
    try:
        parsed = parse_spec(spec)
    except ValidationError:
        return None
    resolved = status.get("resolved") or {}
    warm = {m.get("nodeLabel") for m in resolved.get("mounts") or [] if isinstance(m, Mapping)}
    warm |= {warm_key_for(k) for k in status.get("nodeLabelKeys") or [] if isinstance(k, str)}
    unmountable = {
        n.get("name") for n in status.get("unmountableNodes") or [] if isinstance(n, Mapping)
    }
    return ModelTargets(
        namespace=namespace,
        name=name,
        nodes=parsed.nodes,
        warm_labels=frozenset(k for k in warm if isinstance(k, str) and k),
        unmountable=frozenset(n for n in unmountable if isinstance(n, str)),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the taint goes now, why, and when to look again while it stays."""

    remove: bool
    reason: str  # one of REMOVAL_REASONS, or REASON_WARMING
    message: str
    recheck_in: timedelta | None = None  # until the deadline, while kept


def decide(
    node: NodeInfo,
    since: datetime,
    models: Iterable[ModelTargets],
    taint: StartupTaint,
    now: datetime,
) -> Decision:
    """Remove the taint from `node` (created at `since`) now, or keep it for a while."""
    tolerated = (taint.toleration(),)
    targeting = sorted(
        (
            m
            for m in models
            if node.name not in m.unmountable and node_matches(m.nodes, node, tolerated)
        ),
        key=lambda m: m.title,
    )
    if not targeting:
        return Decision(
            True,
            REASON_NOT_TARGETED,
            f"No ModelDeployment targets node {node.name}: nothing to warm, "
            f"removed the startup taint {taint.key}",
        )
    cold = [m for m in targeting if not _warm(node, m)]
    if not cold:
        return Decision(
            True,
            REASON_WARM,
            f"Every ModelDeployment targeting node {node.name} is Ready there "
            f"({_names(targeting)}): removed the startup taint {taint.key}",
        )
    waited = now - since
    if waited >= taint.deadline:
        return Decision(
            True,
            REASON_DEADLINE,
            f"Node {node.name} is not warm {_seconds(waited)} after it was created "
            f"(deadline {_seconds(taint.deadline)}): removed the startup taint {taint.key} "
            f"anyway; not Ready there: {_names(cold)}",
        )
    return Decision(
        False,
        REASON_WARMING,
        f"Node {node.name} waits for {_names(cold)}",
        recheck_in=taint.deadline - waited,
    )


def removal_patch(taints: Sequence[Mapping[str, Any]], taint: StartupTaint) -> list[dict[str, Any]]:
    """JSON patch ops removing `taint` from `spec.taints`, each entry tested first.

    From the last index down, so earlier indexes stay valid while the ops apply.
    """
    ops: list[dict[str, Any]] = []
    for index in reversed(range(len(taints))):
        if taint.matches(taints[index]):
            path = f"/spec/taints/{index}"
            ops += [{"op": "test", "path": path, "value": dict(taints[index])}]
            ops += [{"op": "remove", "path": path}]
    return ops


def _warm(node: NodeInfo, model: ModelTargets) -> bool:
    return any(node.labels.get(key) == WARM_VALUE for key in model.warm_labels)


def _names(models: Sequence[ModelTargets]) -> str:
    named = ", ".join(m.title for m in models[:MAX_NAMED])
    more = len(models) - MAX_NAMED
    return f"{named} and {more} more" if more > 0 else named


def _seconds(value: timedelta) -> str:
    return f"{int(value.total_seconds())}s"
