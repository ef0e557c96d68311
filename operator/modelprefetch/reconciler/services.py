"""What the reconcile services are given to work with, in one explicit object.

`modelprefetch run` builds one `Services` and hands it to kopf as its memo
(`handlers.memo`); every handler reaches the same instance through its `memo`
argument. Tests build their own. No module-level state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelprefetch.k8s.client import KubeClient
from modelprefetch.reconciler.capacity import Capacity
from modelprefetch.reconciler.wakeups import Wakeups
from modelprefetch.settings import Settings


@dataclass
class Services:
    """The operator's settings, its Kubernetes client, the loops' wake-ups and the
    shared storage-check state."""

    settings: Settings
    kube: KubeClient
    wakeups: Wakeups = field(default_factory=Wakeups)
    capacity: Capacity | None = None  # storage checks before admission; None: off
