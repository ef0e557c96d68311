"""What the planner returns: the changes the handler applies, then the status it writes.

Apply in this order (each step is idempotent, so a failure part-way is repaired by the
next reconcile):

1. server-side apply every manifest in `daemonsets`;
2. patch node labels from `node_labels` (value None removes the label);
3. delete the DaemonSets named in `delete_daemonsets`;
4. if `publish_derived_image`, publish it (oci) and reconcile again;
5. emit `events`, write `status`, requeue after `requeue_after` seconds if set.

If any step fails, raise before writing the status: the status records what was
applied (failure history, label keys in use), and the next plan starts from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelprefetch.api.status import ModelDeploymentStatus

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes Event to emit on the ModelDeployment."""

    type: str  # Normal | Warning
    reason: str  # CamelCase
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Desired changes for one ModelDeployment, computed from one World."""

    status: ModelDeploymentStatus  # the complete new .status
    daemonsets: tuple[dict[str, Any], ...] = ()  # desired holder DaemonSet manifests
    delete_daemonsets: tuple[str, ...] = ()  # names, in the ModelDeployment's namespace
    # node name -> {label key: value, or None to remove}; only nodes that change.
    node_labels: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None  # seconds until a timeout, retry or poll is due
    publish_derived_image: bool = False  # some runtimes need the derived OCI image
    # For metrics: every targeted node's state for the current digest (ready, pulling,
    # waiting, failed; back-off counts as failed), and the nodes that became warm in
    # this plan with the seconds from admission to Ready (the prefetch duration).
    node_states: Mapping[str, str] = field(default_factory=dict)
    prefetched: Mapping[str, float] = field(default_factory=dict)
