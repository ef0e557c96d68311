"""kopf entry points of the startup taint (registered only when it is enabled).

Node and ModelDeployment events feed `reconciler.startup_taint.TaintedNodes`; one task,
started with the operator, removes the taint when due. No kopf timer or daemon on
Nodes: those would put kopf's finalizer on every tainted Node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf

from modelprefetch import constants
from modelprefetch.core.startup_taint import model_targets
from modelprefetch.handlers.memo import services_of
from modelprefetch.reconciler.startup_taint import PostEvent, TaintedNodes, startup_taint

RESOURCE = (constants.GROUP, constants.VERSION, constants.PLURAL)


def _poster(body: Mapping[str, Any]) -> PostEvent:
    def post(type_: str, reason: str, message: str) -> None:
        kopf.event(
            kopf.Body(cast(kopf.RawBody, dict(body))), type=type_, reason=reason, message=message
        )

    return post


@kopf.on.startup()
async def start_startup_taint(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    services = services_of(memo)
    taint = startup_taint(services.settings)
    if taint is None:
        return
    services.tainted_nodes = TaintedNodes(taint)
    services.tainted_nodes.start(services.kube, _poster, logger)
    logger.info(
        "Removing startup taint %s:%s when nodes are warm (deadline %s)",
        taint.key,
        taint.effect,
        taint.deadline,
    )


@kopf.on.cleanup()
async def stop_startup_taint(memo: kopf.Memo, **_: Any) -> None:
    nodes = services_of(memo).tainted_nodes
    if nodes is not None:
        await nodes.stop()


@kopf.on.event("", "v1", "nodes")
async def startup_taint_node(
    body: kopf.Body, name: str, type: str | None, memo: kopf.Memo, **_: Any
) -> None:
    nodes = services_of(memo).tainted_nodes
    if nodes is not None:
        nodes.node_seen(name, None if type == "DELETED" else body)


@kopf.on.event(*RESOURCE)
async def startup_taint_model(
    body: kopf.Body,
    namespace: str | None,
    name: str | None,
    type: str | None,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    nodes = services_of(memo).tainted_nodes
    if nodes is None or not namespace or not name:
        return
    gone = type == "DELETED" or body.metadata.get("deletionTimestamp")
    targets = None if gone else model_targets(namespace, name, body.spec, body.status)
    nodes.model_seen((namespace, name), targets)
