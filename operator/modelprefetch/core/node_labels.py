"""The node label changes of a plan: wave admissions, warm marks, and removals.

Labels carry the planner's memory: `prefetch.<group>/<hash>` = admission time (a node
is in a wave), `warm.<group>/<hash>` = "true" (the digest is prefetched and verified
there; pods select it). Only changes are returned: value None removes a label.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelprefetch.core.labels import (
    WARM_VALUE,
    admission_value,
    prefetch_label_key,
    warm_key_for,
)
from modelprefetch.core.rollout import Retirement
from modelprefetch.core.targeting import Targets
from modelprefetch.core.waves import NodeProgress, NodeState
from modelprefetch.core.world import World


class LabelChanges:
    """Accumulates node label changes, keeping only those that change something."""

    def __init__(self, world: World) -> None:
        self._current = {node.name: node.labels for node in world.nodes}
        self.changes: dict[str, dict[str, str | None]] = {}

    def set(self, node: str, key: str, value: str | None) -> None:
        if self._current.get(node, {}).get(key) != value:
            self.changes.setdefault(node, {})[key] = value


def label_changes(
    world: World,
    targets: Targets,
    progress: list[NodeProgress],
    admitted: list[NodeProgress],
    retirements: list[Retirement],
) -> dict[str, dict[str, str | None]]:
    """Every node label change: waves, warm marks, leavers, retirements, orphans."""
    labels = LabelChanges(world)
    _label_progress(labels, progress, admitted, world.now)
    _unlabel_untargeted(labels, world, targets)
    for retirement in retirements:
        for node_name, keys in retirement.label_removals.items():
            for key in keys:
                labels.set(node_name, key, None)
    _unlabel_orphans(labels, world, targets, retirements)
    return labels.changes


def _label_progress(
    labels: LabelChanges, progress: list[NodeProgress], admitted: list[NodeProgress], now: datetime
) -> None:
    joining = {p.node.name for p in admitted}
    for p in progress:
        name, warm = p.node.name, warm_key_for(p.label_key)
        labels.set(name, warm, WARM_VALUE if p.state is NodeState.READY else None)
        if p.state is NodeState.FAILED:
            labels.set(name, p.label_key, None)
        elif name in joining or _clock_restarts(p):
            labels.set(name, p.label_key, admission_value(now))


def _clock_restarts(p: NodeProgress) -> bool:
    """Pulling again after being Ready, or an admission time that does not parse."""
    unreadable = p.label_key in p.node.labels and p.admitted is None
    return p.restart_clock or unreadable


def _unlabel_untargeted(labels: LabelChanges, world: World, targets: Targets) -> None:
    """Nodes that left a group (no longer matching, or another runtime) lose its labels."""
    for group in targets.groups:
        key = prefetch_label_key(world.namespace, world.name, group.digest)
        members = {node.name for node in group.nodes}
        for node in world.nodes:
            if node.name in members:
                continue
            for label in (key, warm_key_for(key)):
                if label in node.labels:
                    labels.set(node.name, label, None)


def _current_keys(world: World, targets: Targets) -> set[str]:
    keys: set[str] = set()
    for group in targets.groups:
        key = prefetch_label_key(world.namespace, world.name, group.digest)
        keys.update((key, warm_key_for(key)))
    return keys


def keys_in_use(targets: Targets, world: World, retirements: list[Retirement]) -> list[str]:
    keys = _current_keys(world, targets)
    for retirement in retirements:
        if not retirement.done:
            key = retirement.daemonset.label_key
            keys.update((key, warm_key_for(key)))
    return sorted(keys)


def _unlabel_orphans(
    labels: LabelChanges, world: World, targets: Targets, retirements: list[Retirement]
) -> None:
    """Keys recorded in status whose DaemonSet is gone (e.g. deleted before a crash)."""
    known = _current_keys(world, targets)
    for retirement in retirements:
        key = retirement.daemonset.label_key
        known.update((key, warm_key_for(key)))
    recorded: list[Any] = list(world.previous.get("nodeLabelKeys") or ())
    orphans = sorted({key for key in recorded if isinstance(key, str) and key not in known})
    if not orphans:  # the usual case: no pass over every node's labels
        return
    for node in world.nodes:
        for key in orphans:
            if key in node.labels:
                labels.set(node.name, key, None)
