"""ModelDeployment status: what the operator reports. Written by the operator only.

The models describe the CRD's status schema and let tests check that what
`modelprefetch.core.status` produces is valid. Unknown fields are ignored so an older
status can always be read back.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, WithJsonSchema

from modelprefetch.api.base import ApiModel
from modelprefetch.api.conditions import Condition

MAX_LISTED_NODES = 20  # failedNodes / unmountableNodes are bounded to keep status small

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Count = Annotated[int, Field(ge=0)]


class StatusModel(ApiModel):
    """Status models tolerate fields they do not know (written by another version)."""

    model_config = ConfigDict(extra="ignore")


class MountedReference(StatusModel):
    """One reference prefetched for the nodes whose runtimes mount it as files."""

    reference: str
    """Digest-pinned reference in the prefetch pods' image volume."""
    digest: str
    """Manifest digest of that reference."""
    runtimes: list[str] = Field(default_factory=list)
    """containerRuntimeVersion values of the nodes using it."""
    nodes: Count = 0
    """Number of targeted nodes using it."""
    ready: Count = 0
    """Nodes where it is prefetched and verified."""
    node_label: str = ""
    """Node label set (to "true") on nodes where it is prefetched and Ready."""
    current: bool = True
    """False for a previous digest kept on nodes until the new one is Ready there."""


class ResolvedModel(StatusModel):
    """What the reference resolved to."""

    reference: str
    """The reference as written in spec.model.reference."""
    digest: str
    """Manifest digest the reference resolved to."""
    short_digest: str
    """First 12 hex digits of the digest, for display."""
    mounted_reference: str | None = None
    """The reference the webhook mounts into new pods: the one Ready on most nodes (during
    a rollout, the previous digest until the new one catches up)."""
    mounts: list[MountedReference] = Field(default_factory=list)
    """Every reference prefetched, by runtime group."""
    kind: str
    """ModelPack, DockerModel or OCIImage."""
    format: str | None = None
    """Weights format: safetensors, gguf, onnx, pt..."""
    name: str | None = None
    """Model name from the ModelPack config."""
    family: str | None = None
    """Model family, e.g. llama3."""
    param_size: str | None = None
    """Parameter count as published, e.g. 8b."""
    size_bytes: Count = 0
    """Bytes each node downloads."""
    file_count: Count = 0
    """Files in the mounted model tree."""
    resolved_at: Timestamp | None = None
    """When the reference was last resolved (RFC 3339)."""
    format_source: str | None = None
    """Where format came from: config (the artifact's config says it) or files (inferred
    from file names and layer media types, e.g. modctl leaves config.format empty)."""


class NodeCounts(StatusModel):
    """How many targeted nodes are in each prefetch state."""

    desired: Count = 0
    """Nodes targeted that can mount the model."""
    ready: Count = 0
    """Nodes that hold the current model and verified its files."""
    pulling: Count = 0
    """Nodes admitted to the current wave, not Ready yet."""
    waiting: Count = 0
    """Nodes waiting for a slot in a wave."""
    failed: Count = 0
    """Nodes that failed or timed out and wait for a retry."""
    unmountable: Count = 0
    """Matching nodes whose runtime cannot mount the model (not targeted)."""
    summary: str = "0/0"
    """ready/desired, for kubectl get."""


class FailedNode(StatusModel):
    """A node where prefetching failed."""

    name: str
    """Node name."""
    reason: str
    """CamelCase cause, e.g. Timeout, ErrImagePull, FilesMissing."""
    message: str = ""
    """What went wrong, from the prefetch pod when available."""
    failed_at: Timestamp
    """When it last failed (RFC 3339)."""
    attempts: Count = 1
    """Consecutive failed attempts; retries back off exponentially."""
    retry_at: Timestamp | None = None
    """When the node is admitted again (RFC 3339)."""


class UnmountableNode(StatusModel):
    """A node matching spec.nodes whose runtime cannot mount the model."""

    name: str
    """Node name."""
    runtime: str
    """Its containerRuntimeVersion."""
    reason: str
    """CamelCase cause, e.g. EmptyMountOnContainerd, RuntimeTooOld."""
    message: str = ""
    """Why, and what would help."""


MAX_PROGRESS_NODES = 10  # progress.slowest / progress.failing: the status stays small at 5,000


class PhaseCounts(StatusModel):
    """Targeted nodes per progress phase (see `modelprefetch.core.node_phases`)."""

    pending: Count = 0
    """Not pulling yet: waiting for a wave slot, or admitted without a holder pod yet."""
    pulling: Count = 0
    """The kubelet is pulling the model."""
    verifying: Count = 0
    """Pulled; the holder pod checks the mounted files."""
    ready: Count = 0
    """Pulled and verified."""
    failed: Count = 0
    """Failed or timed out, waiting for a retry."""


class NodeProgressEntry(StatusModel):
    """One node's progress, listed when it is among the slowest or failing nodes."""

    name: str
    """Node name."""
    phase: str
    """Pending, Pulling, Verifying, Ready or Failed."""
    since: Timestamp | None = None
    """When the node entered this phase, as far as known (RFC 3339)."""
    reason: str = ""
    """For Failed (and a Pulling node the kubelet has trouble with): CamelCase cause."""
    message: str = ""
    """Details, from the holder pod or the kubelet."""


class ProgressStatus(StatusModel):
    """Prefetch progress across the targeted nodes: counts, ETA and a few named nodes."""

    phases: PhaseCounts = Field(default_factory=PhaseCounts)
    """Nodes per phase."""
    percent: Annotated[int, Field(ge=0, le=100)] = 0
    """Ready nodes out of targeted nodes, in percent."""
    eta: Timestamp | None = None
    """Estimated time all targeted nodes are Ready, from the durations of finished nodes
    and the wave size; absent until a node finished."""
    node_seconds: Count | None = None
    """Mean seconds a finished node took from admission to Ready."""
    pulled_bytes_per_second: Count | None = None
    """Mean pull throughput of one node, from the kubelet's Pulled events."""
    slowest: list[NodeProgressEntry] = Field(default_factory=list, max_length=MAX_PROGRESS_NODES)
    """The nodes pulling or verifying for the longest time (at most 10)."""
    failing: list[NodeProgressEntry] = Field(default_factory=list, max_length=MAX_PROGRESS_NODES)
    """Failed nodes (at most 10)."""


class StorageWaitingNode(StatusModel):
    """A node not admitted to a wave because of its image filesystem."""

    name: str
    """Node name."""
    reason: str
    """InsufficientStorage (with the numbers), DiskPressure or StorageUnknown."""
    message: str = ""
    """The capacity, free bytes, the model's cost and the limit it would cross."""


class ModelDeploymentStatus(StatusModel):
    """Observed state of a ModelDeployment."""

    observed_generation: Count | None = None
    """The .metadata.generation this status was computed from."""
    resolved: ResolvedModel | None = None
    """The resolved model, once the reference resolved."""
    nodes: NodeCounts = Field(default_factory=NodeCounts)
    """Node counts by prefetch state."""
    failed_nodes: list[FailedNode] = Field(default_factory=list, max_length=MAX_LISTED_NODES)
    """Failing nodes with reason and message (at most 20)."""
    unmountable_nodes: list[UnmountableNode] = Field(
        default_factory=list, max_length=MAX_LISTED_NODES
    )
    """Matching nodes that cannot mount the model (at most 20)."""
    node_label_keys: list[str] = Field(default_factory=list)
    """Node label keys the operator set for this ModelDeployment and has not removed yet
    (bookkeeping for cleanup)."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Resolved, Mountable, Prefetched and Ready."""
    progress: ProgressStatus | None = None
    """Per-phase node counts, an ETA and the slowest and failing nodes."""
    storage_waiting_nodes: list[StorageWaitingNode] = Field(
        default_factory=list, max_length=MAX_LISTED_NODES
    )
    """Nodes waiting for space on their image filesystem (at most 20); re-checked at every
    pass and admitted when the model fits."""
