"""In-memory views of nodes, holder pods and prefetch DaemonSets (kopf indexes, fed by
one watch per kind), and the wake-ups they send to the reconcile loops.

The reconcile reads the world from these indexes: no list call per reconcile.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch import constants
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo
from modelprefetch.handlers.memo import services_of
from modelprefetch.reconciler import objects

OURS = {constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE}


@kopf.index("", "v1", "nodes")
def nodes_index(body: kopf.Body, name: str, **_: Any) -> dict[str, NodeInfo]:
    return {name: objects.node_info(body)}


@kopf.index("", "v1", "pods", labels=OURS)
def holders_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], HolderPod]:
    key = objects.owner_key(body)
    return {key: objects.holder_pod(body)} if key else {}


@kopf.index("apps", "v1", "daemonsets", labels=OURS)
def daemonsets_index(body: kopf.Body, **_: Any) -> dict[tuple[str, str], ExistingDaemonSet]:
    key, existing = objects.owner_key(body), objects.existing_daemonset(body)
    return {key: existing} if key and existing else {}


@kopf.on.event("", "v1", "nodes")
async def node_changed(
    body: kopf.Body, name: str, type: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """Wake every loop when what targeting depends on changed (not on heartbeats)."""
    fingerprint = None if type == "DELETED" else objects.node_fingerprint(objects.node_info(body))
    services_of(memo).wakeups.node_changed(name, fingerprint)


@kopf.on.event("", "v1", "pods", labels=OURS)
async def holder_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    key = objects.owner_key(body)
    if key:
        services_of(memo).wakeups.wake(key)


@kopf.on.event("apps", "v1", "daemonsets", labels=OURS)
async def daemonset_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    key = objects.owner_key(body)
    if key:
        services_of(memo).wakeups.wake(key)
