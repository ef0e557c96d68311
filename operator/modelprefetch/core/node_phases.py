"""Per-node progress phases, an ETA, and the bounded `status.progress` block.

A targeted node is in one phase, derived from its wave state (`core.waves`), its holder
pod and the kubelet's Pulling/Pulled Events about that pod (`core.pulls`):

    Pending    not admitted yet, or admitted and no holder pod on the node yet
    Pulling    the holder pod is on the node, its image (the model) is not pulled yet
    Verifying  the kubelet pulled the image (Pulled event, or the container runs) and
               `modelprefetch hold` checks the files before the pod turns Ready
    Ready      the holder pod is Ready
    Failed     failed or timed out; retried after a back-off

The status stays small whatever the node count: counts per phase, the ETA and at most
MAX_PROGRESS_NODES slowest and failing nodes by name (5,000 nodes would otherwise be
about a megabyte, beyond what etcd accepts for one object).
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelprefetch.api.status import (
    MAX_PROGRESS_NODES,
    NodeProgressEntry,
    PhaseCounts,
    ProgressStatus,
)
from modelprefetch.core.pulls import KubeletPull, PodPulls
from modelprefetch.core.status import rfc3339
from modelprefetch.core.waves import NodeProgress, NodeState, parse_time
from modelprefetch.core.world import HolderPod

MAX_MESSAGE = 200  # characters of a listed node's message
# Waiting reasons of a holder container that mean the pull itself is in trouble.
PULL_TROUBLE = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


class Phase(enum.StrEnum):
    """Where a node is in the prefetch, as users see it."""

    PENDING = "Pending"
    PULLING = "Pulling"
    VERIFYING = "Verifying"
    READY = "Ready"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class NodePhase:
    """One node's phase and what is known about its timing."""

    name: str
    phase: Phase
    since: datetime | None = None
    reason: str = ""
    message: str = ""
    admitted: datetime | None = None
    took: float | None = None  # seconds from admission to Ready, for Ready nodes
    pull: KubeletPull | None = None


def node_phase(
    progress: NodeProgress,
    holder: HolderPod | None,
    pulls: PodPulls | None,
    previous_failure: Mapping[str, Any] | None = None,
    *,
    now: datetime,
) -> NodePhase:
    """The phase of one node (`previous_failure`: its status.failedNodes entry)."""
    name, admitted = progress.node.name, progress.admitted
    pull = pulls.pull if pulls is not None else None
    state = progress.state
    if state is NodeState.READY:
        since = holder.ready_since if holder is not None else None
        took = None
        if since is not None and admitted is not None and not progress.restart_clock:
            took = max(0.0, (since - admitted).total_seconds())
        return NodePhase(name, Phase.READY, since, admitted=admitted, took=took, pull=pull)
    if state is NodeState.FAILED and progress.failure is not None:
        failure = progress.failure
        return NodePhase(name, Phase.FAILED, now, failure.reason, failure.message, admitted)
    if state in (NodeState.FAILED, NodeState.BACKOFF):
        entry = previous_failure or {}
        return NodePhase(
            name,
            Phase.FAILED,
            parse_time(entry.get("failedAt")),
            str(entry.get("reason") or "Backoff"),
            str(entry.get("message") or ""),
        )
    if state is NodeState.WAITING:
        return NodePhase(name, Phase.PENDING)
    # PULLING in the wave sense: admitted, holder not Ready.
    if holder is None or holder.node_name is None:
        return NodePhase(name, Phase.PENDING, admitted, admitted=admitted)
    if holder.running or (pulls is not None and pulls.pulled_at is not None):
        since = pulls.pulled_at if pulls is not None and pulls.pulled_at else None
        return NodePhase(name, Phase.VERIFYING, since, admitted=admitted, pull=pull)
    since = pulls.pulling_since if pulls is not None and pulls.pulling_since else admitted
    reason, message = "", ""
    if holder.waiting_reason in PULL_TROUBLE:
        reason, message = holder.waiting_reason or "", holder.waiting_message or ""
    return NodePhase(name, Phase.PULLING, since, reason, message, admitted)


def node_phases(
    progress: Sequence[NodeProgress],
    holder_of: Callable[[NodeProgress], HolderPod | None],
    pull_events: Mapping[str, PodPulls],
    previous_status: Mapping[str, Any],
    *,
    now: datetime,
) -> list[NodePhase]:
    """Every targeted node's phase."""
    failures = {e.get("name"): e for e in previous_status.get("failedNodes") or ()}
    phases = []
    for p in progress:
        holder = holder_of(p)
        pulls = pull_events.get(holder.name) if holder is not None else None
        phases.append(node_phase(p, holder, pulls, failures.get(p.node.name), now=now))
    return phases


def estimate_eta(
    phases: Sequence[NodePhase], *, wave: int, now: datetime, mean_seconds: float
) -> datetime:
    """When the last node should be Ready: in-flight nodes finish `mean_seconds` after
    admission (now, when overdue); pending nodes take the next free slot of the wave."""
    duration = timedelta(seconds=mean_seconds)
    slots: list[datetime] = []
    pending = 0
    for p in phases:
        if p.phase in (Phase.PULLING, Phase.VERIFYING) or (p.admitted and p.phase is Phase.PENDING):
            start = p.admitted or now
            slots.append(max(now, start + duration))
        elif p.phase is Phase.PENDING:
            pending += 1
    width = max(1, wave)
    ordered = sorted(slots)
    # More in flight than the wave allows (it shrank): a slot frees only as they finish.
    free = ordered[-width:] if len(ordered) >= width else ordered + [now] * (width - len(ordered))
    heapq.heapify(free)
    finish = max(slots, default=now)
    for _ in range(pending):
        done = heapq.heappop(free) + duration
        finish = max(finish, done)
        heapq.heappush(free, done)
    return finish


def summarize(
    phases: Sequence[NodePhase], *, desired: int, wave: int, now: datetime, extra_pending: int = 0
) -> ProgressStatus:
    """The bounded status.progress block (`extra_pending`: nodes awaiting a derived image)."""
    counts = dict.fromkeys(Phase, 0)
    for p in phases:
        counts[p.phase] += 1
    counts[Phase.PENDING] += extra_pending
    took = [p.took for p in phases if p.took is not None]
    mean = sum(took) / len(took) if took else None
    rates = [
        p.pull.size_bytes / p.pull.pull_seconds
        for p in phases
        if p.pull is not None and p.pull.size_bytes and p.pull.pull_seconds > 0
    ]
    remaining = sum(1 for p in phases if p.phase is not Phase.READY) + extra_pending
    eta = None
    if mean is not None and remaining and wave > 0:
        eta = rfc3339(estimate_eta(phases, wave=wave, now=now, mean_seconds=mean))
    in_flight = [p for p in phases if p.phase in (Phase.PULLING, Phase.VERIFYING)]
    in_flight.sort(key=lambda p: (p.since or now, p.name))
    failing = sorted((p for p in phases if p.phase is Phase.FAILED), key=lambda p: p.name)
    return ProgressStatus(
        phases=PhaseCounts(
            pending=counts[Phase.PENDING],
            pulling=counts[Phase.PULLING],
            verifying=counts[Phase.VERIFYING],
            ready=counts[Phase.READY],
            failed=counts[Phase.FAILED],
        ),
        percent=min(100, counts[Phase.READY] * 100 // desired) if desired else 0,
        eta=eta,
        node_seconds=round(mean) if mean is not None else None,
        pulled_bytes_per_second=round(sum(rates) / len(rates)) if rates else None,
        slowest=[_entry(p) for p in in_flight[:MAX_PROGRESS_NODES]],
        failing=[_entry(p) for p in failing[:MAX_PROGRESS_NODES]],
    )


def _entry(p: NodePhase) -> NodeProgressEntry:
    return NodeProgressEntry(
        name=p.name,
        phase=p.phase.value,
        since=rfc3339(p.since) if p.since is not None else None,
        reason=p.reason,
        message=p.message[:MAX_MESSAGE],
    )
