"""ModelDeployment (modelprefetch.io/v1alpha1): the spec, the source of truth of the CRD.

`crds/` is generated from these models (`modelprefetch crd`); the validating webhook and
the operator parse specs with `parse_spec`, so all three agree on what is valid.
"""

from __future__ import annotations

import enum
import posixpath
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema, field_validator

from modelprefetch.api.base import ApiModel
from modelprefetch.api.scheduling import (
    Affinity,
    LabelSelector,
    LocalObjectReference,
    ResourceRequirements,
    Toleration,
)
from modelprefetch.api.types import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    Duration,
    IntOrPercent,
    format_duration,
)
from modelprefetch.api.verification import VerifyPolicy

# An OCI reference: [registry[:port]/]repository[:tag][@algorithm:hex] (distribution's
# grammar, lower-case repository components).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?)"
REFERENCE_PATTERN = (
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,})?$"
)
_DIGEST_SUFFIX = re.compile(r"@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")

DEFAULT_REFRESH_INTERVAL = timedelta(minutes=10)
DEFAULT_MAX_CONCURRENT_NODES = "25%"
DEFAULT_NODE_TIMEOUT = timedelta(minutes=30)
MOUNT_ROOT = "/models"
MAX_PULL_SECRETS = 16
MAX_REFERENCE_LENGTH = 512
# Lets the API server create the object so it fills in the defaults inside it.
_SERVER_DEFAULT_EMPTY: dict[str, Any] = {"default": {}}
# Mounting over these would break the container.
RESERVED_PATHS = ("/proc", "/sys", "/dev")


def _duration_default(default: timedelta) -> dict[str, Any]:
    # pydantic would write the default as ISO 8601 ("PT10M"); the CRD wants Go style.
    return {"default": format_duration(default)}


def _check_reference(reference: str) -> str:
    if len(reference) > MAX_REFERENCE_LENGTH or not re.fullmatch(REFERENCE_PATTERN, reference):
        raise ValueError(
            f"{reference!r} is not an OCI reference like registry.example.com/models/llama:8b"
            " or registry.example.com/models/llama@sha256:<digest>"
        )
    return reference


class Scheduling(enum.StrEnum):
    """How the webhook steers workload pods towards nodes that hold the model."""

    PREFERRED = "Preferred"
    REQUIRED = "Required"
    NONE = "None"


class ModelSource(ApiModel):
    """Which model to prefetch and how to reach its registry."""

    reference: Annotated[
        str,
        AfterValidator(_check_reference),
        WithJsonSchema(
            {"type": "string", "pattern": REFERENCE_PATTERN, "maxLength": MAX_REFERENCE_LENGTH}
        ),
    ]
    """OCI reference of the model: registry/repository:tag or registry/repository@sha256:...
    A tag is resolved to a digest and re-resolved every refreshInterval."""
    pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, max_length=MAX_PULL_SECRETS
    )
    """kubernetes.io/dockerconfigjson Secrets in this namespace used to resolve the model and
    given to the prefetch and workload pods as imagePullSecrets."""
    refresh_interval: Duration = Field(
        default=DEFAULT_REFRESH_INTERVAL,
        json_schema_extra=_duration_default(DEFAULT_REFRESH_INTERVAL),
    )
    """How often a tag is resolved again (Go duration, e.g. 10m); a tag that moved rolls out
    the new digest in waves. At least 30s; 0s never re-resolves. Ignored for digest
    references."""
    allow_derivation: bool = True
    """Publish a mountable OCI image derived from the model (an OCI 1.1 referrer in the same
    repository, needs push access) when a node's runtime cannot mount the model itself."""
    verify: VerifyPolicy | None = None
    """Verify the model's signatures before any node pulls it (see docs/verification.md)."""

    @property
    def is_digest(self) -> bool:
        """Whether the reference pins a digest (so refreshing is pointless)."""
        return _DIGEST_SUFFIX.search(self.reference) is not None

    @field_validator("pull_secrets")
    @classmethod
    def _unique_secrets(cls, secrets: list[LocalObjectReference]) -> list[LocalObjectReference]:
        names = [secret.name for secret in secrets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"pull secret listed twice: {', '.join(duplicates)}")
        return secrets

    @field_validator("refresh_interval")
    @classmethod
    def _refresh_not_too_often(cls, interval: timedelta) -> timedelta:
        if timedelta(0) < interval < timedelta(seconds=30):
            raise ValueError("must be at least 30s (or 0s to never refresh)")
        return interval


class NodeTargeting(ApiModel):
    """Which nodes receive the model. All conditions must hold; empty means every node."""

    node_selector: dict[Annotated[str, StringConstraints(min_length=1)], str] = Field(
        default_factory=dict
    )
    """Labels a node must carry with exactly these values."""
    affinity: Affinity | None = None
    """Node affinity (requiredDuringSchedulingIgnoredDuringExecution terms)."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Tolerations of the prefetch pods; nodes with NoSchedule or NoExecute taints they do
    not tolerate are not targeted."""


Percent = Annotated[int, Field(ge=0, le=100)]


class StorageThresholds(ApiModel):
    """Image filesystem limits a pull must keep a node below (unset: the operator's defaults,
    which are the kubelet's documented defaults). Set them to what your kubelets use."""

    image_gc_high_threshold_percent: Percent | None = Field(
        default=None, alias="imageGCHighThresholdPercent"
    )
    """The kubelet's imageGCHighThresholdPercent (kubelet default 85): above it the kubelet
    deletes unused images, such as other models."""
    eviction_imagefs_available_percent: Percent | None = None
    """The kubelet's evictionHard imagefs.available, in percent (kubelet default 15): below
    that much free space the node gets DiskPressure and evicts pods."""
    headroom_percent: Percent | None = None
    """Share of the image filesystem kept free below both thresholds (operator default 5)."""


class PrefetchPolicy(ApiModel):
    """How fast and with which resources nodes pull the model."""

    max_concurrent_nodes: IntOrPercent = Field(default=DEFAULT_MAX_CONCURRENT_NODES)
    """Nodes pulling at once: a number, or a percentage of targeted nodes rounded up (at
    least one). 0 pauses prefetching; nodes that hold the model keep it."""
    timeout: Duration = Field(
        default=DEFAULT_NODE_TIMEOUT, json_schema_extra=_duration_default(DEFAULT_NODE_TIMEOUT)
    )
    """How long one node may take to pull and verify the model before it is reported
    failed and frees its slot (Go duration). It is retried later with backoff."""
    priority_class_name: (
        Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] | None
    ) = None
    """PriorityClass of the prefetch pods."""
    resources: ResourceRequirements | None = None
    """Resources of the prefetch holder container; default requests cpu 5m, memory 32Mi
    and limits memory 128Mi."""
    storage: StorageThresholds | None = None
    """Image filesystem thresholds for admitting a node to a wave: a node is pulled to only
    if the model (as the node's runtime stores it) fits below them."""

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, timeout: timedelta) -> timedelta:
        if timeout < timedelta(seconds=10):
            raise ValueError("must be at least 10s")
        return timeout


class MountPolicy(ApiModel):
    """How the webhook mounts the model into workload pods."""

    path: Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$", max_length=1024)] | None = None
    """Absolute mount path in the containers; default /models/<ModelDeployment name>."""
    pod_selector: LabelSelector | None = None
    """Pods that get the model mounted; default: pods labelled
    modelprefetch.io/model=<ModelDeployment name>."""
    containers: list[Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN)]] = Field(
        default_factory=list
    )
    """Names of the containers that get the mount; empty means all (not init) containers."""
    sub_path: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Relative path inside the model to mount instead of its root (needs a runtime that
    supports subPath on image volumes)."""
    scheduling: Scheduling = Scheduling.PREFERRED
    """Preferred: prefer nodes that hold the model; Required: only such nodes;
    None: do not touch scheduling."""

    @field_validator("path")
    @classmethod
    def _normalised_path(cls, path: str | None) -> str | None:
        if path is None:
            return None
        if posixpath.normpath(path) != path or path == "/":
            raise ValueError("must be a normalised absolute path other than /")
        if any(path == root or path.startswith(root + "/") for root in RESERVED_PATHS):
            raise ValueError(f"must not be under {', '.join(RESERVED_PATHS)}")
        return path

    @field_validator("sub_path")
    @classmethod
    def _relative_sub_path(cls, sub_path: str | None) -> str | None:
        if sub_path is None:
            return None
        parts = sub_path.split("/")
        if sub_path.startswith("/") or ".." in parts or not sub_path:
            raise ValueError("must be a relative path without ..")
        return sub_path

    def effective_path(self, deployment_name: str) -> str:
        """The mount path, with the default applied."""
        return self.path or f"{MOUNT_ROOT}/{deployment_name}"


class ModelDeploymentSpec(ApiModel):
    """Desired state: a model, the nodes to prefetch it on, and how pods mount it."""

    model: ModelSource
    """The model to prefetch."""
    nodes: NodeTargeting = Field(
        default_factory=NodeTargeting, json_schema_extra=_SERVER_DEFAULT_EMPTY
    )
    """Which nodes to prefetch on; default every schedulable node."""
    prefetch: PrefetchPolicy = Field(
        default_factory=PrefetchPolicy, json_schema_extra=_SERVER_DEFAULT_EMPTY
    )
    """Waves, timeouts and resources of prefetching."""
    mount: MountPolicy = Field(default_factory=MountPolicy, json_schema_extra=_SERVER_DEFAULT_EMPTY)
    """How workload pods mount the model (used by the webhook)."""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Validate a `spec` dict as stored in Kubernetes; raises pydantic.ValidationError."""
        return cls.model_validate(dict(data))


def parse_spec(data: Mapping[str, Any]) -> ModelDeploymentSpec:
    """Validate a ModelDeployment `spec` dict; raises pydantic.ValidationError."""
    return ModelDeploymentSpec.parse(data)
