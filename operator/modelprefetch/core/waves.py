"""Per-node prefetch state for the current digests, and who joins the next wave.

A node targeted for a mounted reference is in exactly one state:

    READY     labelled, holder Ready
    PULLING   labelled, holder not Ready, within the timeout
    FAILED    labelled and timed out, or the holder reported wrong files: label removed
    BACKOFF   failed before, its retry time has not come yet
    WAITING   everything else: may join a wave when a slot is free

Admission is level-based: the admission time is the label value, failures and retry
times live in status.failedNodes, and candidates are ranked by node name, so a restart
at any point computes the same waves.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelprefetch.api.types import scale_int_or_percent
from modelprefetch.backoff import exponential_delay
from modelprefetch.core.labels import admitted_at, warm_key_for
from modelprefetch.core.world import HolderPod, NodeInfo, Problem
from modelprefetch.hold import EXIT_VERIFICATION_FAILED

# hold exits with EXIT_VERIFICATION_FAILED when the mounted files are wrong: retrying
# cannot help until the node or the model changes, so the node fails at once.
VERIFICATION_FAILED = "VerificationFailed"
TIMEOUT = "Timeout"


class NodeState(enum.StrEnum):
    """Where a node is in the prefetch of the current digest."""

    READY = "Ready"
    PULLING = "Pulling"
    FAILED = "Failed"
    BACKOFF = "Backoff"
    WAITING = "Waiting"


@dataclass(frozen=True, slots=True)
class NodeProgress:
    """One targeted node and its state for one prefetch label key."""

    node: NodeInfo
    label_key: str
    state: NodeState
    admitted: datetime | None = None  # from the label value, for PULLING/READY
    failure: Problem | None = None  # for FAILED: why
    restart_clock: bool = False  # PULLING again after being Ready: admitted is now


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """A node's failure history, read from status.failedNodes."""

    attempts: int
    retry_at: datetime | None


def classify(
    node: NodeInfo,
    label_key: str,
    holder: HolderPod | None,
    *,
    timeout: timedelta,
    now: datetime,
    failure: FailureRecord | None,
) -> NodeProgress:
    """The state of one targeted node for one label key."""
    value = node.labels.get(label_key)
    if value is None:
        waiting = failure is None or failure.retry_at is None or failure.retry_at <= now
        return NodeProgress(node, label_key, NodeState.WAITING if waiting else NodeState.BACKOFF)
    admitted = admitted_at(value)
    if holder is not None and holder.ready:
        return NodeProgress(node, label_key, NodeState.READY, admitted)
    if holder is not None and holder.terminated_exit_code == EXIT_VERIFICATION_FAILED:
        message = (holder.terminated_message or "").strip() or "The model files are wrong"
        problem = Problem(VERIFICATION_FAILED, message)
        return NodeProgress(node, label_key, NodeState.FAILED, admitted, problem)
    if warm_key_for(label_key) in node.labels:
        # Ready at the last reconcile (warm), not now: the holder restarted (node reboot,
        # eviction). Give it a fresh timeout instead of failing it on the old admission.
        return NodeProgress(node, label_key, NodeState.PULLING, now, restart_clock=True)
    if admitted is not None and now - admitted >= timeout:
        problem = timeout_problem(holder, timeout)
        return NodeProgress(node, label_key, NodeState.FAILED, admitted, problem)
    return NodeProgress(node, label_key, NodeState.PULLING, admitted)


def timeout_problem(holder: HolderPod | None, timeout: timedelta) -> Problem:
    """Why a node timed out, in the words of its holder pod when it has some."""
    limit = f"Prefetch did not complete within {_minutes(timeout)}"
    if holder is None:
        return Problem(TIMEOUT, f"{limit}: no prefetch pod was created on the node")
    if holder.waiting_reason and holder.waiting_reason != "ContainerCreating":
        detail = holder.waiting_message or holder.waiting_reason
        return Problem(holder.waiting_reason, f"{limit}: pod {holder.name}: {detail}")
    if holder.terminated_message:
        return Problem(TIMEOUT, f"{limit}: pod {holder.name}: {holder.terminated_message.strip()}")
    return Problem(TIMEOUT, f"{limit}: pod {holder.name} is {holder.phase}")


def _minutes(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def failure_records(previous_status: Mapping[str, Any]) -> dict[str, FailureRecord]:
    """Failure history by node name from the previous status."""
    records: dict[str, FailureRecord] = {}
    for entry in previous_status.get("failedNodes") or ():
        name = entry.get("name")
        if isinstance(name, str):
            records[name] = FailureRecord(
                attempts=int(entry.get("attempts") or 1), retry_at=parse_time(entry.get("retryAt"))
            )
    return records


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp from status, None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff: base, 2*base, 4*base... capped."""
    seconds = exponential_delay(attempts, base.total_seconds(), cap.total_seconds())
    return timedelta(seconds=seconds)


def wave_size(max_concurrent: int | str, desired: int) -> int:
    """Nodes allowed to pull at once: 0 pauses, otherwise at least one."""
    if max_concurrent == 0 or max_concurrent == "0%":
        return 0
    return max(1, scale_int_or_percent(max_concurrent, desired))


def admit(
    progress: Sequence[NodeProgress],
    slots: int,
    fits: Callable[[NodeProgress], bool] | None = None,
) -> list[NodeProgress]:
    """The WAITING nodes that join the wave now: Ready, schedulable, first by name.

    With `fits` (the storage check, core.admission), a candidate it refuses is skipped
    and the next one by name takes the slot; candidates after the last slot is filled
    are not asked.
    """
    candidates = [
        p
        for p in progress
        if p.state is NodeState.WAITING and p.node.ready and not p.node.unschedulable
    ]
    candidates.sort(key=lambda p: p.node.name)
    if fits is None:
        return candidates[: max(slots, 0)]
    chosen: list[NodeProgress] = []
    for candidate in candidates:
        if len(chosen) >= slots:
            break
        if fits(candidate):
            chosen.append(candidate)
    return chosen
