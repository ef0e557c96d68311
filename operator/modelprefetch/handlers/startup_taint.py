"""kopf entry points of the startup taint (registered only when it is enabled).

Node events feed `reconciler.startup_taint.TaintedNodes`; one task, started with the
operator, removes the taint when due, reading the ModelDeployments' targets from a kopf
index (kopf handles no event before every index is complete, so a node is never judged
untargeted from a half-read list); ModelDeployment events only wake it. No kopf timer
or daemon on Nodes: those would put kopf's finalizer on every tainted Node.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch import constants
from modelprefetch.core.startup_taint import ModelTargets, model_targets
from modelprefetch.handlers.memo import services_of
from modelprefetch.reconciler.startup_taint import (
    NODE_EVENTS_NAMESPACE,
    TaintedNodes,
    startup_taint,
)

RESOURCE = (constants.GROUP, constants.VERSION, constants.PLURAL)
ModelsIndex = kopf.Index[tuple[str, str], ModelTargets]


@kopf.on.startup()
async def start_startup_taint(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    services = services_of(memo)
    taint = startup_taint(services.settings)
    if taint is None:
        return
    services.tainted_nodes = TaintedNodes(taint, events_namespace=NODE_EVENTS_NAMESPACE)
    services.tainted_nodes.start(services.kube, logger)
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


def _targets(body: kopf.Body, namespace: str | None, name: str | None) -> ModelTargets | None:
    if not namespace or not name or body.metadata.get("deletionTimestamp"):
        return None  # being deleted: its cleanup takes its labels away
    return model_targets(namespace, name, body.spec, body.status)


@kopf.index(*RESOURCE)
def startup_taint_models(
    body: kopf.Body, namespace: str | None, name: str | None, **_: Any
) -> dict[tuple[str, str], ModelTargets]:
    targets = _targets(body, namespace, name)
    return {(targets.namespace, targets.name): targets} if targets else {}


@kopf.on.event("", "v1", "nodes")
async def startup_taint_node(
    body: kopf.Body,
    name: str,
    type: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    nodes = services_of(memo).tainted_nodes
    if nodes is not None:
        index: ModelsIndex = kwargs["startup_taint_models"]  # kopf passes indexes by name

        def models() -> list[ModelTargets]:
            return [targets for store in index.values() for targets in store]

        nodes.node_seen(name, None if type == "DELETED" else body, models)


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
    if nodes is not None and namespace and name:
        targets = None if type == "DELETED" else _targets(body, namespace, name)
        nodes.model_seen((namespace, name), targets)
