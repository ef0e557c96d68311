"""Operator settings: one object, from MODELPREFETCH_* environment variables, loaded once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelprefetch.logs import LogFormat


class Settings(BaseSettings):
    """Everything `modelprefetch run` can be told; the Helm chart sets these."""

    model_config = SettingsConfigDict(env_prefix="MODELPREFETCH_", frozen=True)

    namespace: str = Field("modelprefetch-system", description="Namespace the operator runs in.")
    pod_name: str = Field("", description="This replica's pod name (leader identity).")
    kubeconfig: str | None = Field(None, description="Kubeconfig path; in-cluster when unset.")
    holder_image: str = Field(
        "ghcr.io/modelprefetch/modelprefetch:0.1.0",
        description="Image of the prefetch holder pods (the operator's own image).",
    )
    holder_image_pull_policy: str = Field("IfNotPresent", description="Holder pull policy.")
    insecure_registries: list[str] = Field(
        default_factory=list,
        description="Registry hosts (host:port) spoken to over plain HTTP, e.g. local ones.",
    )
    leader_election: bool = Field(True, description="Only the Lease holder reconciles.")
    lease_name: str = Field("modelprefetch-leader", description="Leader election Lease name.")
    lease_duration_seconds: int = Field(
        15, description="A standby takes the Lease after it saw no renewal for this long."
    )
    lease_renew_deadline_seconds: float = Field(
        10.0, description="The leader steps down when it could not renew for this long."
    )
    lease_retry_period_seconds: float = Field(2.0, description="Lease renewal/attempt period.")
    health_port: int = Field(8081, description="/healthz and /readyz port.")
    metrics_port: int = Field(8080, description="Prometheus /metrics port.")
    bind_address: str = Field("0.0.0.0", description="Address the HTTP servers bind to.")  # noqa: S104
    require_verification: bool = Field(
        False,
        description="ModelDeployments must set spec.model.verify; else nothing is pulled.",
    )
    webhook_enabled: bool = Field(True, description="Serve the admission webhooks.")
    webhook_port: int = Field(9443, description="HTTPS port of the admission webhooks.")
    webhook_service: str = Field("modelprefetch-webhook", description="Webhook Service name.")
    webhook_url: str | None = Field(
        None, description="Base URL the API server calls instead of the Service (no kube-proxy)."
    )
    webhook_cert_secret: str = Field(
        "modelprefetch-webhook-tls", description="Secret holding the webhook serving cert."
    )
    webhook_cert_dir: str = Field(
        "/etc/modelprefetch/tls", description="Mounted tls.crt/tls.key in certmanager mode."
    )
    cert_mode: Literal["self", "certmanager"] = Field(
        "self", description="`self` (operator-managed) or `certmanager`."
    )
    cert_reload_seconds: float = Field(
        30.0, description="How often the certmanager-mode certificate files are re-read."
    )
    mutating_webhook_name: str = Field("modelprefetch-pods", description="Mutating config name.")
    validating_webhook_name: str = Field(
        "modelprefetch-modeldeployments", description="Validating config name."
    )
    resync_seconds: float = Field(60.0, description="Reconcile every ModelDeployment this often.")
    registry_retry_max_seconds: float = Field(
        300.0, description="Longest back-off between failed registry attempts."
    )
    node_patch_concurrency: int = Field(
        16,
        ge=1,
        le=256,
        description=(
            "Node label patches in flight at once. One pass may label every targeted node; "
            "sent one by one that serialises a rollout at 1,000 nodes. Bounded so one "
            "operator does not crowd other clients out of the API server's priority & "
            "fairness queue for its flow."
        ),
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_format: LogFormat = Field(
        "text", description="`text` lines, or `json`: one object per line with namespace/name."
    )
    capacity_check: Literal["enforce", "off"] = Field(
        "enforce",
        description=(
            "`enforce`: a node joins a wave only when the kubelet's Summary API shows the "
            "model fits on its image filesystem; `off`: no check (nodes without a reachable "
            "kubelet, e.g. simulated ones)."
        ),
    )
    image_gc_high_threshold_percent: int = Field(
        85, ge=1, le=100, description="Default kubelet imageGCHighThresholdPercent."
    )
    eviction_imagefs_available_percent: int = Field(
        15, ge=0, le=99, description="Default kubelet evictionHard imagefs.available, in %."
    )
    storage_headroom_percent: int = Field(
        5, ge=0, le=100, description="Share of the image filesystem kept free below both."
    )
    kubelet_ca_file: str | None = Field(
        None,
        description=(
            "CA bundle that signed the kubelets' serving certificates; default the cluster "
            "CA of the operator's own credentials."
        ),
    )
    kubelet_insecure_skip_tls_verify: bool = Field(
        False,
        description=(
            "Do not verify kubelet serving certificates (self-signed kubelet certs). The "
            "operator's token then goes to whoever answers on the node's address."
        ),
    )
    kubelet_timeout_seconds: float = Field(
        5.0, gt=0, description="Total time for one kubelet /stats/summary request."
    )
    kubelet_stats_ttl_seconds: float = Field(
        15.0, ge=0, description="How long a node's image filesystem stats are reused."
    )
    # Startup taint (docs/startup-taint.md): opt-in; the chart's startupTaint values.
    startup_taint_enabled: bool = Field(
        False,
        description=(
            "Remove `startup_taint_key` from nodes once every ModelDeployment targeting "
            "them is Ready there (or at the deadline); holder pods tolerate it."
        ),
    )
    startup_taint_key: str = Field(
        "modelprefetch.io/warming",
        min_length=1,
        max_length=316,
        description="Key of the taint nodes register with (Karpenter startupTaints, kubelet).",
    )
    startup_taint_effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        "NoSchedule", description="Effect of that taint; only a taint with it is removed."
    )
    startup_taint_deadline: timedelta = Field(
        timedelta(minutes=30),
        description=(
            "Since the node's creation: after this the taint is removed even if models are "
            "not warm (Warning Event, metric), so a broken registry never keeps capacity "
            "out of service. A Go-style duration (30m, 1h30m, 45s) or seconds."
        ),
    )

    @field_validator("startup_taint_deadline", mode="before")
    @classmethod
    def _go_duration(cls, value: object) -> object:
        return parse_go_duration(value) if isinstance(value, str) else value

    @field_validator("startup_taint_deadline")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the startup taint deadline must be longer than 0s")
        return value


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_go_duration(value: str) -> timedelta:
    """ "1h30m", "45s" or bare seconds ("45") -> timedelta; a clear error otherwise.

    The chart writes durations the way the CRD spells them; settings sit below `api` in
    the layers, so this small parser cannot reuse `api.types.parse_duration`.
    """
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _DURATION.fullmatch(text)
    if not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 45s, 30m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
