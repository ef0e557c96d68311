"""The operator's views of nodes, holder pods and prefetch DaemonSets (reconciler.views)
run for as long as kopf does: started before any handler, stopped at cleanup.

They are our own list-then-watch loops rather than kopf indexes because kopf watches a
resource whole: its label filters apply after every pod of the cluster has been sent
and processed, and each node heartbeat costs a handler call (about 4 ms of CPU per node
update; a core at 5,000 nodes). Ours are narrowed by label selector on the server and
drop a node event when nothing the planner reads changed.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelprefetch.handlers.memo import services_of


@kopf.on.startup()
async def start_views(memo: kopf.Memo, **_: Any) -> None:
    services = services_of(memo)
    services.views.start(services.kube)


@kopf.on.cleanup()
async def stop_views(memo: kopf.Memo, **_: Any) -> None:
    await services_of(memo).views.stop()
