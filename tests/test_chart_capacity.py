"""The chart's capacity values reach `Settings`; the CA bundle is mounted; RBAC grants
nodes/stats (never nodes/proxy) only while the check is on. Needs `make binaries`' helm."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from e2e.chart.render import render_chart

from modelprefetch.settings import Settings
from tests.test_chart_operator_env import operator_env


def _rules(*sets: str) -> list[dict[str, Any]]:
    rendered = render_chart(sets=[*sets], show_only=["templates/rbac.yaml"])
    role = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ClusterRole")
    return list(role["rules"])


def test_capacity_values_reach_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds, TTL, timeout and TLS choice arrive as the operator reads them."""
    env = operator_env(
        "capacity.imageGCHighThresholdPercent=90",
        "capacity.evictionImagefsAvailablePercent=10",
        "capacity.headroomPercent=3",
        "capacity.statsTTLSeconds=30",
        "capacity.kubelet.timeoutSeconds=3",
        "capacity.kubelet.insecureSkipTLSVerify=true",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.capacity_check == "enforce"
    assert (
        settings.image_gc_high_threshold_percent,
        settings.eviction_imagefs_available_percent,
        settings.storage_headroom_percent,
    ) == (90, 10, 3)
    assert settings.kubelet_stats_ttl_seconds == 30
    assert settings.kubelet_timeout_seconds == 3
    assert settings.kubelet_insecure_skip_tls_verify is True
    assert settings.kubelet_ca_file is None


def test_ca_bundle_is_mounted_from_a_configmap() -> None:
    """capacity.kubelet.caBundle: a ConfigMap, mounted, and its path in the env."""
    pem = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----"
    rendered = render_chart(sets=[f"capacity.kubelet.caBundle={pem}"])
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    configmap = next(
        d for d in docs if d["kind"] == "ConfigMap" and "kubelet-ca" in d["metadata"]["name"]
    )
    assert "BEGIN CERTIFICATE" in configmap["data"]["ca.crt"]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    path = env["MODELPREFETCH_KUBELET_CA_FILE"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kubelet-ca")
    assert path.startswith(mount["mountPath"] + "/")
    volume = next(v for v in pod["volumes"] if v["name"] == "kubelet-ca")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]


def test_nodes_stats_only_while_the_check_is_on() -> None:
    """nodes/stats get is granted with the check on and dropped with it off; nodes/proxy
    never appears."""
    on, off = _rules(), _rules("capacity.check=off")
    stats = {"apiGroups": [""], "resources": ["nodes/stats"], "verbs": ["get"]}
    assert stats in on and stats not in off
    for rules in (on, off):
        assert not [r for r in rules if "nodes/proxy" in r.get("resources", [])]
