"""What the kubelet's Pulling / Pulled Events say about the pull of a holder pod's model.

The kubelet posts `Pulling` when it starts pulling an image (an image volume included)
and `Pulled` when done: `Successfully pulled image "<ref>" in 1m2.5s (1m4s including
waiting). Image size: 123 bytes.` (kubelet >= 1.30 adds the size), or `Container image
"<ref>" already present on machine` when there was nothing to pull. Pure: the operator's
Event views (reconciler.pull_events) fold each Event as it arrives (`fold_pull_event`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PULLING = "Pulling"
PULLED = "Pulled"


@dataclass(frozen=True, slots=True)
class KubeletPull:
    """What a kubelet `Pulled` event says about one image (volume) pull."""

    pull_seconds: float
    total_seconds: float  # including the wait for the node's (serialized) image puller
    size_bytes: int | None  # kubelet >= 1.30 appends "Image size: N bytes."


@dataclass(frozen=True, slots=True)
class PodPulls:
    """One holder pod's pull, as far as its kubelet Events tell."""

    pulling_since: datetime | None = None  # the first Pulling event
    pulled_at: datetime | None = None  # the last Pulled event (a pull or already present)
    pull: KubeletPull | None = None  # None when the image was already present
    event_uid: str = ""  # the Pulled event's uid: a pull is observed once in metrics


_PULLED = re.compile(
    r'^Successfully pulled image ".*" in (?P<pull>\S+) \((?P<total>\S+) including waiting\)'
    r"(?:\. Image size: (?P<size>\d+) bytes\.)?$"
)
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _go_duration(text: str) -> float | None:
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_kubelet_pull(message: str) -> KubeletPull | None:
    """Parse the message of a kubelet `Pulled` event; None for any other message
    ("already present" is not a pull)."""
    match = _PULLED.match(message.strip())
    if not match:
        return None
    pull, total = _go_duration(match["pull"]), _go_duration(match["total"])
    if pull is None or total is None:
        return None
    size = int(match["size"]) if match["size"] else None
    return KubeletPull(pull_seconds=pull, total_seconds=total, size_bytes=size)


def _event_time(event: Mapping[str, Any], *keys: str) -> datetime | None:
    for key in keys:
        value = event.get(key)
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


def pulls_by_pod(events: Iterable[Mapping[str, Any]], pods: Collection[str]) -> dict[str, PodPulls]:
    """The Pulling/Pulled Events (core/v1 dicts) of the pods named in `pods`, per pod."""
    found: dict[str, PodPulls] = {}
    for event in events:
        pod = (event.get("involvedObject") or {}).get("name")
        if not isinstance(pod, str) or pod not in pods:
            continue
        folded = fold_pull_event(found.get(pod), event)
        if folded is not None:
            found[pod] = folded
    return found


def fold_pull_event(current: PodPulls | None, event: Mapping[str, Any]) -> PodPulls | None:
    """What one more Pulling/Pulled Event of a pod adds to what its earlier ones said:
    the first Pulling, the last Pulled. None when the event is neither; the result does
    not depend on the order the events arrive in (a watch, a listing)."""
    reason = event.get("reason")
    if reason not in (PULLING, PULLED):
        return None
    current = current or PodPulls()
    if reason == PULLING:
        first = _event_time(event, "firstTimestamp", "eventTime", "lastTimestamp")
        if first is not None and (current.pulling_since is None or first < current.pulling_since):
            return _replace(current, pulling_since=first)
        return current
    at = _event_time(event, "lastTimestamp", "eventTime", "firstTimestamp")
    if current.pulled_at is not None and at is not None and at <= current.pulled_at:
        return current
    uid = str((event.get("metadata") or {}).get("uid") or "")
    pull = parse_kubelet_pull(str(event.get("message") or ""))
    return PodPulls(current.pulling_since, at, pull, uid)


def merge_pulls(pulling: PodPulls | None, pulled: PodPulls | None) -> PodPulls | None:
    """One pod's pull from the folds of its Pulling and of its Pulled Events, kept apart
    (two watches, each re-listed on its own)."""
    if pulling is None or pulled is None:
        return pulled or pulling
    return _replace(pulled, pulling_since=pulling.pulling_since)


def _replace(pulls: PodPulls, *, pulling_since: datetime | None) -> PodPulls:
    return PodPulls(pulling_since, pulls.pulled_at, pulls.pull, pulls.event_uid)
