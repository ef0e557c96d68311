"""Deletion cleanup and tag refresh: the two decisions outside the main plan."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.core.labels import warm_key_for
from modelprefetch.core.plan import Plan
from modelprefetch.core.waves import parse_time
from modelprefetch.core.world import World


def plan_cleanup(world: World) -> Plan:
    """On deletion: remove every node label the operator set, delete every DaemonSet.

    Label keys come from status.nodeLabelKeys and from the existing DaemonSets, so
    labels are found even when the status is stale. Owner references would delete the
    DaemonSets anyway; deleting them here stops the holders before the finalizer goes.
    The status is returned unchanged.
    """
    keys: set[str] = {
        key for key in world.previous.get("nodeLabelKeys") or () if isinstance(key, str)
    }
    for daemonset in world.daemonsets:
        keys.update((daemonset.label_key, warm_key_for(daemonset.label_key)))
    changes: dict[str, dict[str, str | None]] = {}
    for node in world.nodes:
        present = sorted(keys & set(node.labels))
        if present:
            changes[node.name] = dict.fromkeys(present)
    return Plan(
        status=dict(world.previous),
        delete_daemonsets=tuple(sorted(d.name for d in world.daemonsets)),
        node_labels=changes,
    )


def refresh_due(
    spec: ModelDeploymentSpec, previous_status: Mapping[str, Any] | None, now: datetime
) -> timedelta | None:
    """How long until the reference must be resolved again: <= 0 means now, None never.

    Digest references never move; refreshInterval 0s disables refreshing. A missing or
    different previous resolution (the reference was edited) is due at once.
    """
    resolved = (previous_status or {}).get("resolved") or {}
    if resolved.get("reference") != spec.model.reference:
        return timedelta(0)
    interval = spec.model.refresh_interval
    if spec.model.is_digest or interval == timedelta(0):
        return None
    resolved_at = parse_time(resolved.get("resolvedAt"))
    if resolved_at is None:
        return timedelta(0)
    return resolved_at + interval - now
