"""What the reconcile services are given to work with, in one explicit object.

`modelprefetch run` builds one `Services` and hands it to kopf as its memo
(`handlers.memo`); every handler reaches the same instance through its `memo`
argument. Tests build their own. No module-level state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelprefetch.k8s.client import KubeClient
from modelprefetch.reconciler.capacity import Capacity
from modelprefetch.reconciler.startup_taint import TaintedNodes
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
    # Set by handlers/startup_taint.py at start when the startup taint is enabled.
    tainted_nodes: TaintedNodes | None = None
    capacity: Capacity | None = None  # storage checks before admission; None: off

    def __post_init__(self) -> None:
        self.views = ClusterViews(self.wakeups)
