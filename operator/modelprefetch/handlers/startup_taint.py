"""kopf entry points of the startup taint (registered only when it is enabled).

The operator's node view (reconciler.views, one watch for everything) feeds
`reconciler.startup_taint.TaintedNodes`; one task, started with the operator, removes the
taint when due, reading the ModelDeployments' targets from a kopf index. kopf calls no
ModelDeployment handler before every index is complete, so the first such call tells
the task the targets are whole (no node judged untargeted from a half-read list);
ModelDeployment events also wake it. No kopf handler, timer or daemon on Nodes: a
handler costs ~4 ms of CPU per node heartbeat, a timer or daemon would put kopf's
finalizer on every tainted Node.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch import constants
from modelprefetch.core.startup_taint import ModelTargets, model_targets
from modelprefetch.handlers.memo import services_of
from modelprefetch.reconciler.startup_taint import startup_taint

RESOURCE = (constants.GROUP, constants.VERSION, constants.PLURAL)
ModelsIndex = kopf.Index[tuple[str, str], ModelTargets]


@kopf.on.startup()
async def start_startup_taint(memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
    services = services_of(memo)
    taint = startup_taint(services.settings)
    nodes = services.tainted_nodes
    if taint is None or nodes is None:
        return
    index: ModelsIndex = kwargs["startup_taint_models"]  # kopf passes indexes by name

    def models() -> list[ModelTargets]:
        return [targets for store in index.values() for targets in store]

    nodes.use_models(models)
    nodes.start(services.kube, logger)
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
