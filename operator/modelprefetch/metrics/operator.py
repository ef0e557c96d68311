"""Operator-wide metrics: reconciles, admission reviews, leadership, build info."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from modelprefetch import __version__
from modelprefetch.metrics.models import forget_all_models
from modelprefetch.metrics.registry import REGISTRY

WEBHOOK_MUTATE_PODS: Final = "mutate-pods"
WEBHOOK_VALIDATE_MODELDEPLOYMENTS: Final = "validate-modeldeployments"
DECISION_ALLOWED: Final = "allowed"
DECISION_PATCHED: Final = "patched"
DECISION_DENIED: Final = "denied"
DECISION_ERROR: Final = "error"
"""Webhook decisions; `error` means the webhook itself failed (alerted on)."""

RECONCILE_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Admission is answered from memory: fine-grained below 10 ms, up to the 5 s timeout.
WEBHOOK_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
)

RECONCILE_DURATION: Final = Histogram(
    "modelprefetch_reconcile_duration_seconds",
    "Time of one ModelDeployment reconcile.",
    buckets=RECONCILE_BUCKETS,
    registry=REGISTRY,
)
RECONCILE_ERRORS: Final = Counter(
    "modelprefetch_reconcile_errors_total",
    "Reconciles that ended in an error.",
    registry=REGISTRY,
)
WEBHOOK_REQUESTS: Final = Counter(
    "modelprefetch_webhook_requests_total",
    "Admission reviews answered, by webhook and decision (allowed, patched, denied, error).",
    ("webhook", "decision"),
    registry=REGISTRY,
)
WEBHOOK_LATENCY: Final = Histogram(
    "modelprefetch_webhook_request_duration_seconds",
    "Time to answer one admission review.",
    ("webhook",),
    buckets=WEBHOOK_BUCKETS,
    registry=REGISTRY,
)
LEADER: Final = Gauge(
    "modelprefetch_leader",
    "1 if this replica holds the leader lease and reconciles, else 0.",
    registry=REGISTRY,
)
BUILD_INFO: Final = Gauge(
    "modelprefetch_build_info",
    "Always 1; the version label names the running operator.",
    ("version",),
    registry=REGISTRY,
)
BUILD_INFO.labels(version=__version__).set(1)
LEADER.set(0)
# Make the unlabelled series exist from the start, so dashboards show zeros, not gaps.
RECONCILE_ERRORS.inc(0)


def observe_reconcile(seconds: float, error: bool) -> None:
    """Record one reconcile and whether it ended in an error."""
    RECONCILE_DURATION.observe(seconds)
    if error:
        RECONCILE_ERRORS.inc()


def observe_webhook(webhook: str, decision: str, seconds: float) -> None:
    """Record one admission review: which webhook, its decision (DECISION_*), its latency."""
    WEBHOOK_REQUESTS.labels(webhook, decision).inc()
    WEBHOOK_LATENCY.labels(webhook).observe(seconds)


def set_leader(is_leader: bool) -> None:
    """Report whether this replica holds the leader lease; losing it forgets all models.

    Only the leader reconciles, so only it reports per-model series; a former leader's
    would otherwise stay frozen next to the new leader's.
    """
    LEADER.set(1 if is_leader else 0)
    if not is_leader:
        forget_all_models()
