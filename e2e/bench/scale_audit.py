"""Who asked the API server for what: an audit policy for a few users, and its log read
back as request counts, bytes written and latency per (verb, resource).

The policy logs the named users only: writes at level Request (the body sent, so its
size is what the user wrote), everything else at Metadata. One request is one event:
ResponseComplete, or ResponseStarted for a watch (a watch completes only when it ends,
perhaps long after the window being measured).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def audit_policy(users: Sequence[str]) -> dict[str, Any]:
    """An audit.k8s.io/v1 Policy logging `users` only (writes with their request body)."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Request", "users": list(users), "verbs": list(WRITE_VERBS)},
            {"level": "Metadata", "users": list(users)},
            {"level": "None"},
        ],
    }


def resource_of(event: Mapping[str, Any]) -> str:
    """`pods`, `nodes`, `modeldeployments/status`, or the URL for non-resource requests."""
    ref = event.get("objectRef") or {}
    resource = str(ref.get("resource") or "")
    if not resource:
        return str(event.get("requestURI", "?")).split("?", 1)[0]
    sub = ref.get("subresource")
    return f"{resource}/{sub}" if sub else resource


def scope_of(event: Mapping[str, Any]) -> str:
    """For list and watch: ` [cluster|namespace, selector|no selector]`, else ``."""
    if event.get("verb") not in ("list", "watch"):
        return ""
    where = "namespace" if (event.get("objectRef") or {}).get("namespace") else "cluster"
    query = str(event.get("requestURI", "")).partition("?")[2]
    selected = "labelSelector=" in query or "fieldSelector=" in query
    return f" [{where}, {'selector' if selected else 'no selector'}]"


def counts_as_request(event: Mapping[str, Any]) -> bool:
    """Whether this event stands for one request (see the module docstring)."""
    if event.get("verb") == "watch":
        return event.get("stage") == "ResponseStarted"
    return event.get("stage") == "ResponseComplete"


def _millis(event: Mapping[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(event["requestReceivedTimestamp"]))
        end = datetime.fromisoformat(str(event["stageTimestamp"]))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds() * 1000


@dataclass
class RequestStats:
    """Requests of one verb on one resource by one user."""

    count: int = 0
    bytes_sent: int = 0  # request bodies (writes only)
    errors: int = 0  # response code >= 400
    millis: list[float] = field(default_factory=list)

    def add(self, event: Mapping[str, Any]) -> None:
        self.count += 1
        body = event.get("requestObject")
        if body is not None:
            self.bytes_sent += len(json.dumps(body, separators=(",", ":")))
        if int((event.get("responseStatus") or {}).get("code") or 0) >= 400:
            self.errors += 1
        if event.get("verb") != "watch" and (ms := _millis(event)) is not None:
            self.millis.append(ms)

    def figures(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"count": self.count, "bytes": self.bytes_sent}
        if self.errors:
            out["errors"] = self.errors
        if self.millis:
            out["p50_ms"] = round(statistics.median(self.millis), 1)
            out["max_ms"] = round(max(self.millis), 1)
        return out


def summarize(events: Iterable[Mapping[str, Any]], users: Mapping[str, str]) -> dict[str, Any]:
    """Per user label (`users` maps username -> label): requests by "verb resource",
    with totals. Users with no request get empty figures, so a table has every row."""
    stats: dict[str, dict[str, RequestStats]] = {label: {} for label in users.values()}
    for event in events:
        label = users.get(str((event.get("user") or {}).get("username", "")))
        if label is None or not counts_as_request(event):
            continue
        key = f"{event.get('verb')} {resource_of(event)}{scope_of(event)}"
        stats[label].setdefault(key, RequestStats()).add(event)
    out: dict[str, Any] = {}
    for label, by_key in stats.items():
        writes = [s for k, s in by_key.items() if k.split(" ", 1)[0] in WRITE_VERBS]
        out[label] = {
            "requests": sum(s.count for s in by_key.values()),
            "writes": sum(s.count for s in writes),
            "bytes_written": sum(s.bytes_sent for s in writes),
            "by_verb_resource": {k: by_key[k].figures() for k in sorted(by_key)},
        }
    return out


class AuditLog:
    """Reads an audit log file in windows: each `take()` returns the events appended
    since the previous one (complete lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def skip(self) -> None:
        """Start the next window here."""
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def take(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a line being written stays for the next window
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]
