"""Deletion: what to remove when a ModelDeployment goes (the finalizer waits for it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelprefetch.core.labels import PREFETCH_LABEL_PREFIX, warm_key_for
from modelprefetch.core.world import World


@dataclass(frozen=True, slots=True)
class Cleanup:
    """DaemonSets to delete and node labels to remove (value None) for one deletion."""

    delete_daemonsets: tuple[str, ...] = ()
    node_labels: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    label_keys: frozenset[str] = frozenset()


def plan_cleanup(world: World) -> Cleanup:
    """On deletion: remove every node label the operator set, delete every DaemonSet.

    Label keys come from status.nodeLabelKeys and from the existing DaemonSets, so
    labels are found even when the status is stale. Owner references would delete the
    DaemonSets anyway; deleting them here stops the holders before the finalizer goes.
    """
    keys: set[str] = {
        key for key in world.previous.get("nodeLabelKeys") or () if isinstance(key, str)
    }
    for daemonset in world.daemonsets:
        keys.add(daemonset.label_key)
    # A status written before the warm keys were recorded names only prefetch keys.
    keys |= {warm_key_for(key) for key in keys if key.startswith(PREFETCH_LABEL_PREFIX)}
    changes: dict[str, dict[str, str | None]] = {}
    for node in world.nodes:
        present = sorted(keys & set(node.labels))
        if present:
            changes[node.name] = dict.fromkeys(present)
    return Cleanup(
        delete_daemonsets=tuple(sorted(d.name for d in world.daemonsets)),
        node_labels=changes,
        label_keys=frozenset(keys),
    )
