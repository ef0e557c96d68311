"""The chart's operator env: log format and Lease timings reach `Settings`, and values the
operator would refuse fail at render time with a message naming the value.

Needs the helm that `make binaries` builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.chart.render import render_chart

from modelprefetch.settings import Settings

DEPLOYMENT = "templates/deployment.yaml"


def operator_env(*sets: str, values_file: Path | None = None) -> dict[str, str]:
    """The literal env values of the rendered operator container."""
    files = [values_file] if values_file else []
    rendered = render_chart(sets=[*sets], values_files=files, show_only=[DEPLOYMENT])
    deployment: dict[str, Any] = yaml.safe_load(rendered)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """(log format, lease duration, renew deadline, retry period) the operator would use."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    return (
        settings.log_format,
        settings.lease_duration_seconds,
        settings.lease_renew_deadline_seconds,
        settings.lease_retry_period_seconds,
    )


def test_defaults_reach_the_operator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(operator_env(), monkeypatch) == ("text", 15, 10.0, 2.0)


def test_json_logs_and_custom_lease_timings_reach_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"  # a file: `--set` would pass 2.5 as a string
    values.write_text(
        "logFormat: json\n"
        "leaderElection: {leaseDurationSeconds: 60, renewDeadlineSeconds: 40, "
        "retryPeriodSeconds: 2.5}\n"
    )
    env = operator_env(values_file=values)
    assert settings_from(env, monkeypatch) == ("json", 60, 40.0, 2.5)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("logFormat=yaml", "/logFormat"),
        ("leaderElection.leaseDurationSeconds=0", "/leaderElection/leaseDurationSeconds"),
        ("leaderElection.renewDeadlineSeconds=-1", "/leaderElection/renewDeadlineSeconds"),
        ("leaderElection.retryPeriodSeconds=0", "/leaderElection/retryPeriodSeconds"),
        ("leaderElection.leaseDurationSeconds=10", "leaseDurationSeconds > renewDeadlineSeconds"),
        ("leaderElection.retryPeriodSeconds=10", "leaseDurationSeconds > renewDeadlineSeconds"),
    ],
)
def test_values_the_operator_would_refuse_fail_the_render(value: str, complaint: str) -> None:
    with pytest.raises(RuntimeError, match="helm template failed") as caught:
        operator_env(value)
    assert complaint in str(caught.value)


def test_verification_required_reaches_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """verification.required (chart) -> MODELPREFETCH_REQUIRE_VERIFICATION -> Settings."""
    for sets, required in ((("verification.required=true",), True), ((), False)):
        env = operator_env(*sets)
        monkeypatch.delenv("MODELPREFETCH_REQUIRE_VERIFICATION", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert Settings().require_verification is required
