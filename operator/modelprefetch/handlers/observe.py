"""In-memory views of nodes, holder pods and prefetch DaemonSets (kopf indexes, fed by
one watch per kind), and the wake-ups they send to the reconcile loops.

The reconcile reads the world from these indexes: no list call per reconcile.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch import constants
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo
from modelprefetch.handlers import convert, triggers

OURS = {constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE}
_node_prints: dict[str, tuple[Any, ...]] = {}


@kopf.index("", "v1", "nodes")
def nodes_index(body: kopf.Body, name: str, **_: Any) -> dict[str, NodeInfo]:
    return {name: convert.node_info(body)}


@kopf.index("", "v1", "pods", labels=OURS)
def holders_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], HolderPod]:
    key = convert.owner_key(body)
    return {key: convert.holder_pod(body)} if key else {}


@kopf.index("apps", "v1", "daemonsets", labels=OURS)
def daemonsets_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], ExistingDaemonSet]:
    key, existing = convert.owner_key(body), convert.existing_daemonset(body)
    return {key: existing} if key and existing else {}


@kopf.on.event("", "v1", "nodes")
async def node_changed(body: kopf.Body, name: str, type: str | None, **_: Any) -> None:
    """Wake every loop when what targeting depends on changed (not on heartbeats)."""
    if type == "DELETED":
        _node_prints.pop(name, None)
        triggers.wake_all()
        return
    fingerprint = convert.node_fingerprint(convert.node_info(body))
    if _node_prints.get(name) != fingerprint:
        _node_prints[name] = fingerprint
        triggers.wake_all()


@kopf.on.event("", "v1", "pods", labels=OURS)
async def holder_changed(body: kopf.Body, **_: Any) -> None:
    key = convert.owner_key(body)
    if key:
        triggers.wake(key)


@kopf.on.event("apps", "v1", "daemonsets", labels=OURS)
async def daemonset_changed(body: kopf.Body, **_: Any) -> None:
    key = convert.owner_key(body)
    if key:
        triggers.wake(key)
