"""What the reconcile services are given to work with, in one explicit object.

`modelprefetch run` builds one `Services` and hands it to kopf as its memo
(`handlers.memo`); every handler reaches the same instance through its `memo`
argument. Tests build their own. No module-level state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from modelprefetch.k8s.client import KubeClient
from modelprefetch.reconciler.capacity import Capacity
from modelprefetch.reconciler.startup_taint import (
    NODE_EVENTS_NAMESPACE,
    TaintedNodes,
    startup_taint,
)
from modelprefetch.reconciler.views import ClusterViews
from modelprefetch.reconciler.wakeups import Wakeups
from modelprefetch.settings import Settings


@dataclass
class Services:
    """The operator's settings, its Kubernetes client, the loops' wake-ups, the views of
    the cluster they reconcile against (fed by watches that wake them) and the shared
    storage-check state."""

    settings: Settings
    kube: KubeClient
    wakeups: Wakeups = field(default_factory=Wakeups)
    views: ClusterViews = field(init=False)
    # When the startup taint is enabled: fed by the node view, started by
    # handlers/startup_taint.py.
    tainted_nodes: TaintedNodes | None = field(init=False, default=None)
    capacity: Capacity | None = None  # storage checks before admission; None: off
    # Node label patches in flight, all ModelDeployments together: 20 loops labelling at
    # once must not send 20 x node_patch_concurrency requests (the bench's 20 models at
    # once starved the operator's event loop until its Lease renewal missed the deadline).
    node_patches: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.node_patches = asyncio.Semaphore(max(1, self.settings.node_patch_concurrency))
        taint = startup_taint(self.settings)
        if taint is not None:
            self.tainted_nodes = TaintedNodes(taint, events_namespace=NODE_EVENTS_NAMESPACE)
        observer = self.tainted_nodes.node_seen if self.tainted_nodes else None
        self.views = ClusterViews(self.wakeups, node_observer=observer)
