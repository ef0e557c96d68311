"""kopf entry points of ModelDeployments: one level-based loop each, and deletion.

Thin adapters: they read kopf's indexes and arguments and call `reconciler.loop`.
The finalizer (kopf's, named constants.FINALIZER) holds a deleted object until
`cleanup` removed its DaemonSets and node labels.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch import constants
from modelprefetch.core.plan import Event
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo
from modelprefetch.handlers.memo import services_of
from modelprefetch.reconciler import loop
from modelprefetch.reconciler.gather import Surroundings

RESOURCE = (constants.GROUP, constants.VERSION, constants.PLURAL)
NodesIndex = kopf.Index[str, NodeInfo]
HoldersIndex = kopf.Index[tuple[str, str], HolderPod]
DaemonSetsIndex = kopf.Index[tuple[str, str], ExistingDaemonSet]


def surroundings(
    key: tuple[str, str],
    nodes: NodesIndex,
    holders: HoldersIndex | None,
    daemonsets: DaemonSetsIndex,
) -> Surroundings:
    """What the indexes (observe.py) hold about the ModelDeployment `key`."""
    return Surroundings(
        nodes=tuple(node for store in nodes.values() for node in store),
        holder_pods=tuple(holders.get(key, [])) if holders is not None else (),
        daemonsets=tuple(daemonsets.get(key, [])),
    )


@kopf.daemon(*RESOURCE, cancellation_timeout=2.0)
async def reconcile_loop(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    key = (namespace or "", name)
    # kopf passes the indexes (observe.py) by their function names
    nodes: NodesIndex = kwargs["nodes_index"]
    holders: HoldersIndex = kwargs["holders_index"]
    daemonsets: DaemonSetsIndex = kwargs["daemonsets_index"]

    def emit(event: Event) -> None:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)

    await loop.run(
        services_of(memo),
        body,
        lambda: surroundings(key, nodes, holders, daemonsets),
        lambda: bool(stopped),
        emit,
        logger,
    )


@kopf.on.event(*RESOURCE)
async def spec_changed(namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any) -> None:
    if namespace and name:
        services_of(memo).wakeups.wake((namespace, name))


@kopf.on.delete(*RESOURCE)
async def cleanup(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    """Remove the DaemonSets and every node label this ModelDeployment set."""
    key = (body.metadata.namespace or "", body.metadata.name or "")
    found = surroundings(key, kwargs["nodes_index"], None, kwargs["daemonsets_index"])
    await loop.cleanup(services_of(memo), body, found, logger)
