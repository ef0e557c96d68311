"""The Prometheus alert rules: promtool accepts and unit-tests them; their metrics exist."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from e2e.chart.observability import PROMTOOL, exposed_names, metric_names

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
RULES_TEST = REPO / "deploy" / "prometheus" / "rules_test.yaml"

REQUIRED_ALERTS = {
    "ModelPrefetchStuck",
    "ModelPrefetchNodesFailing",
    "ModelPrefetchWebhookErrors",
    "ModelPrefetchWebhookSlow",
    "ModelUnresolved",
}


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PROMTOOL), *args], capture_output=True, text=True, check=False)


def test_promtool_check_rules_passes() -> None:
    """promtool check rules accepts the rule file."""
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_passes() -> None:
    """The promtool unit tests of every alert pass."""
    result = promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_alerts_exist() -> None:
    """Prefetch stuck, nodes failing, webhook errors/slow and model unresolved are alerted."""
    assert {rule["alert"] for rule in alerts()} >= REQUIRED_ALERTS


def test_every_alert_has_a_unit_test() -> None:
    """rules_test.yaml fires (and holds back) each alert at least once."""
    doc = yaml.safe_load(RULES_TEST.read_text())
    fired = {
        case["alertname"]
        for test in doc["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    quiet = {
        case["alertname"]
        for test in doc["tests"]
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    names = {rule["alert"] for rule in alerts()}
    assert fired == names
    assert quiet == names


def test_every_alert_has_severity_summary_and_description() -> None:
    """Alerts carry a severity label and summary/description annotations."""
    for rule in alerts():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]


def test_every_alert_metric_is_defined_in_metrics() -> None:
    """Each metric an alert selects is one that modelprefetch.metrics exposes."""
    used = {name for rule in alerts() for name in metric_names(rule["expr"])}
    assert used
    assert used - exposed_names() == set()
