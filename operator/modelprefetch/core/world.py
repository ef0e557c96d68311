"""Everything the planner decides on, gathered into one frozen object.

`modelprefetch.reconciler.gather` (the I/O side) fills a `World` from the API server
and the registry; the pure `modelprefetch.core.planner.plan(world)` turns it into a
`Plan`. Nothing here does I/O.

How to fill it:

* `spec`: the parsed spec, or None with `spec_error` saying why it does not parse (the
  planner then only reports it; reachable with the validating webhook off).

* `nodes`: every Node of the cluster (the planner filters), with ALL their labels (the
  planner reads its own wave labels from them), taints from `spec.taints`, the runtime
  from `status.nodeInfo.containerRuntimeVersion`, `ready` from the Ready condition and
  `unschedulable` from `spec.unschedulable`.
* `holder_pods`: pods labelled `modelprefetch.io/modeldeployment=<name>` in the
  namespace, `daemonset` = their controller owner's name; `ready` False while the pod
  is terminating; `terminated_*` from `state.terminated`, else `lastState.terminated`
  of the holder container (exit code 3 = `hold` found the wrong files: the node fails
  at once).
* `daemonsets`: DaemonSets labelled the same way; reference/digest/label key from the
  annotations the builder writes (`core.builders.ANNOTATION_*`).
* `previous_status`: the ModelDeployment's current `.status` (or None).
* `resolved` / `resolve_error`: the result of resolving `spec.model.reference` (one of
  them is set); `resolved_at`: when that resolution happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelprefetch.api.scheduling import Toleration
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.core.capacity import NodeStorage, StoragePolicy
from modelprefetch.core.pulls import PodPulls
from modelprefetch.oci.artifact import ResolvedArtifact


@dataclass(frozen=True, slots=True)
class Problem:
    """Why something failed: CamelCase reason and a human message."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    """spec.model.verify's verdict on the resolved digest (`World.verification`; None: off).

    Not verified: the planner creates nothing and changes no node (see `core.planner`).
    """

    digest: str
    verified: bool
    reason: str  # Verified, SignatureMissing, SignatureInvalid, UntrustedSigner, ...
    message: str
    proof: str = ""  # how the derived image is known to carry the verified content


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint (`spec.taints[]`)."""

    key: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute
    value: str = ""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One Node, reduced to what targeting and waves need."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    runtime_version: str = ""  # status.nodeInfo.containerRuntimeVersion
    ready: bool = True  # Ready condition is True
    unschedulable: bool = False  # spec.unschedulable (cordoned)
    disk_pressure: bool = False  # DiskPressure condition is True
    internal_ip: str = ""  # status.addresses[type=InternalIP]: where the kubelet listens
    kubelet_port: int = 0  # status.daemonEndpoints.kubeletEndpoint.Port


@dataclass(frozen=True, slots=True)
class HolderPod:
    """A prefetch holder pod of one of our DaemonSets."""

    name: str
    node_name: str | None  # spec.nodeName; None while unscheduled
    daemonset: str  # name of the owning DaemonSet
    ready: bool  # the Ready condition: files verified, image held
    phase: str = "Pending"
    created: datetime | None = None
    # The holder container's current waiting state (ErrImagePull, ImagePullBackOff,
    # CrashLoopBackOff, ContainerCreating...) and the last termination of a previous
    # run (`lastState.terminated`, or `state.terminated`): `modelprefetch hold` writes
    # why the mounted files are wrong to the termination message.
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_message: str | None = None
    terminated_exit_code: int | None = None
    restart_count: int = 0
    ready_since: datetime | None = None  # the Ready condition's lastTransitionTime, if Ready
    running: bool = False  # the holder container runs: the image was pulled, hold verifies


@dataclass(frozen=True, slots=True)
class ExistingDaemonSet:
    """A prefetch DaemonSet that exists for this ModelDeployment."""

    name: str
    reference: str  # the digest-pinned reference its pods mount
    digest: str
    label_key: str  # the prefetch node label key its pods require


@dataclass(frozen=True, slots=True)
class PlannerSettings:
    """Operator-wide settings the planner and builders need."""

    holder_image: str  # image running `modelprefetch hold` (the operator's own)
    holder_image_pull_policy: str = "IfNotPresent"
    holder_command: tuple[str, ...] = ("modelprefetch", "hold")
    # The readiness probe runs every 10s inside the holder's memory limit: the module
    # entry point skips the full CLI's imports (about 12 MB and 20 ms instead of 40 MB
    # and 250 ms).
    probe_command: tuple[str, ...] = ("python", "-m", "modelprefetch.hold")
    retry_backoff: timedelta = timedelta(minutes=2)  # first retry after a node failed
    retry_backoff_max: timedelta = timedelta(hours=1)
    poll_interval: timedelta = timedelta(seconds=15)  # requeue while nodes are pulling
    # Added to every holder pod, and counted by targeting: the startup taint's
    # toleration when that is enabled (core/startup_taint.py).
    holder_tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True, slots=True)
class World:
    """One ModelDeployment and everything around it, at one instant."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: ModelDeploymentSpec | None  # None: the spec does not parse, see spec_error
    now: datetime  # timezone-aware
    settings: PlannerSettings
    spec_error: Problem | None = None
    previous_status: Mapping[str, Any] | None = None
    resolved: ResolvedArtifact | None = None
    resolve_error: Problem | None = None
    resolved_at: datetime | None = None
    derive_error: Problem | None = None  # publishing the derived image failed
    verification: Verification | None = None  # None: verification is not asked for
    nodes: tuple[NodeInfo, ...] = ()
    holder_pods: tuple[HolderPod, ...] = ()
    daemonsets: tuple[ExistingDaemonSet, ...] = ()
    # Holder pod name -> its kubelet Pulling/Pulled Events (read only while nodes pull).
    pull_events: Mapping[str, PodPulls] = field(default_factory=dict)
    # Image filesystem of the candidate nodes, by name (core.capacity); None: capacity
    # checks are off. A candidate missing from the mapping is not admitted.
    storage: Mapping[str, NodeStorage] | None = None
    storage_policy: StoragePolicy = field(default_factory=StoragePolicy)

    @property
    def previous(self) -> Mapping[str, Any]:
        """The previous status, {} when there is none."""
        return self.previous_status or {}
