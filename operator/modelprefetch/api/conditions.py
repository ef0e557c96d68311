"""Status conditions of a ModelDeployment: types, reasons, and the transition rule.

Kubernetes API conventions: a condition has type, status (True/False/Unknown), a
CamelCase reason, a human message, lastTransitionTime (changed only when status
changes) and observedGeneration. `Ready` summarises the others.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from modelprefetch.api.base import ApiModel


class ConditionType(enum.StrEnum):
    """The conditions a ModelDeployment reports, in display order."""

    RESOLVED = "Resolved"  # the reference resolved to a digest and its contents are known
    VERIFIED = "Verified"  # spec.model.verify: the digest's signature checked (only then)
    MOUNTABLE = "Mountable"  # every targeted runtime has a reference it mounts as files
    PREFETCHED = "Prefetched"  # every targeted node holds the model
    READY = "Ready"  # summary: pods can mount the model on every targeted node


class ConditionStatus(enum.StrEnum):
    """The value of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(ApiModel):
    """One aspect of the ModelDeployment's state."""

    model_config = ConfigDict(extra="ignore")

    type: ConditionType
    """Resolved, Verified, Mountable, Prefetched or Ready."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, StringConstraints(pattern=CONDITION_REASON_PATTERN, max_length=1024)]
    """Machine-readable CamelCase cause of the last transition."""
    message: Annotated[str, StringConstraints(max_length=32768)] = ""
    """Human-readable details."""
    last_transition_time: str
    """When the status last changed (RFC 3339)."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this condition was computed from."""


def merge_condition(
    previous: Iterable[Mapping[str, Any]],
    *,
    type_: ConditionType,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: str,
    generation: int,
) -> Condition:
    """The new condition, keeping lastTransitionTime when the status did not change.

    `previous` is the conditions list as read back from the API server (plain dicts).
    """
    old = next((c for c in previous if c.get("type") == type_), None)
    kept = old.get("lastTransitionTime") if old and old.get("status") == status else None
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=kept if isinstance(kept, str) and kept else now,
        observed_generation=generation,
    )
