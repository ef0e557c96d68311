"""The chart's startupTaint values reach the operator's settings; off by default; values
the operator would refuse fail at render time. Needs the helm that `make binaries` builds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelprefetch.settings import Settings
from tests.test_chart_operator_env import operator_env


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """No startup taint env at all: the operator never touches taints."""
    env = operator_env()
    assert not [name for name in env if "STARTUP_TAINT" in name]
    assert settings_from(env, monkeypatch).startup_taint_enabled is False


def test_enabled_values_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key, effect and the Go-style deadline arrive as the operator reads them."""
    env = operator_env(
        "startupTaint.enabled=true",
        "startupTaint.key=example.com/cold",
        "startupTaint.effect=NoExecute",
        "startupTaint.deadline=1h30m",
    )
    settings = settings_from(env, monkeypatch)
    assert settings.startup_taint_enabled is True
    assert settings.startup_taint_key == "example.com/cold"
    assert settings.startup_taint_effect == "NoExecute"
    assert settings.startup_taint_deadline == timedelta(hours=1, minutes=30)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("startupTaint.effect=Evict", "/startupTaint/effect"),
        ("startupTaint.deadline=3d", "/startupTaint/deadline"),
        ("startupTaint.key=bad key", "/startupTaint/key"),
    ],
)
def test_values_the_operator_would_refuse_fail_the_render(value: str, complaint: str) -> None:
    with pytest.raises(RuntimeError, match="helm template failed") as caught:
        operator_env("startupTaint.enabled=true", value)
    assert complaint in str(caught.value)
