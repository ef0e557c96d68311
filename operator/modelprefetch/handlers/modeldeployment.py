"""kopf entry points of ModelDeployments: one level-based loop each, and deletion.

Thin adapters: they read the operator's views (reconciler.views, started by observe.py)
and kopf's arguments and call `reconciler.loop`.
The finalizer (kopf's, named constants.FINALIZER) holds a deleted object until
`cleanup` removed its DaemonSets and node labels.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch import constants
from modelprefetch.core.plan import Event
from modelprefetch.handlers.memo import services_of
from modelprefetch.reconciler import loop

RESOURCE = (constants.GROUP, constants.VERSION, constants.PLURAL)


@kopf.daemon(*RESOURCE, cancellation_timeout=2.0)
async def reconcile_loop(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    key = (namespace or "", name)
    services = services_of(memo)
    await services.views.wait_synced()

    def emit(event: Event) -> None:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)

    await loop.run(
        services,
        body,
        lambda: services.views.surroundings(key),
        lambda: bool(stopped),
        emit,
        logger,
    )


@kopf.on.event(*RESOURCE)
async def spec_changed(namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any) -> None:
    if namespace and name:
        services_of(memo).wakeups.wake((namespace, name))


@kopf.on.delete(*RESOURCE)
async def cleanup(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Remove the DaemonSets and every node label this ModelDeployment set."""
    key = (body.metadata.namespace or "", body.metadata.name or "")
    services = services_of(memo)
    await services.views.wait_synced()
    await loop.cleanup(services, body, services.views.surroundings(key, holders=False), logger)
