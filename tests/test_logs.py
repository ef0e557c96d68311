"""Log lines: text or JSON, with the object's namespace/name from kopf's per-object logger."""

from __future__ import annotations

import json
import logging

import pytest

from modelprefetch.cli import build_parser
from modelprefetch.logs import JsonFormatter, QuietKopf, TextFormatter, configure_logging
from modelprefetch.settings import Settings

REF = {"apiVersion": "modelprefetch.io/v1alpha1", "kind": "ModelDeployment", "uid": "u1"}


def record(msg: str, name: str = "modelprefetch.x", **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, (), None)
    made.__dict__.update(extra)
    return made


def test_json_line_carries_namespace_and_name() -> None:
    """A per-object record becomes one JSON object with namespace and name fields."""
    line = JsonFormatter().format(
        record("Deleted DaemonSet", k8s_ref={**REF, "namespace": "ml", "name": "llama"})
    )
    entry = json.loads(line)
    assert (entry["message"], entry["namespace"], entry["name"], entry["level"]) == (
        "Deleted DaemonSet",
        "ml",
        "llama",
        "INFO",
    )


def test_json_line_without_an_object_has_no_object_fields() -> None:
    """Process-wide records carry no namespace/name keys."""
    assert {"namespace", "name"}.isdisjoint(json.loads(JsonFormatter().format(record("up"))))


def test_text_line_prefixes_the_object() -> None:
    """Text lines name the object as [namespace/name] before the message."""
    line = TextFormatter().format(
        record("Cleaned up", k8s_ref={**REF, "namespace": "ml", "name": "m"})
    )
    assert line.endswith("modelprefetch.x: [ml/m] Cleaned up")


def test_kopf_chatter_is_dropped_but_our_lines_kept() -> None:
    """kopf's per-call INFO lines go; our INFO lines and kopf's warnings stay."""
    quiet = QuietKopf()
    chatter = record("Handler 'spec_changed' succeeded.", name="kopf.objects")
    ours = record("Deleted DaemonSet ml/x", name="kopf.objects")
    activity = record("Activity 'login' succeeded.", name="kopf.activities.authentication")
    warning = record("Handler 'cleanup' succeeded.", name="kopf.objects")
    warning.levelno = logging.WARNING
    found = [quiet.filter(r) for r in (chatter, activity, ours, warning)]
    assert found == [False, False, True, True]


def test_configure_logging_writes_json(capsys: pytest.CaptureFixture[str]) -> None:
    """With format json, what is logged reaches stderr as JSON lines."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("info", "json")
        logging.getLogger("modelprefetch.test").info("Started %s", "now")
        assert json.loads(capsys.readouterr().err.strip())["message"] == "Started now"
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_log_format_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """MODELPREFETCH_LOG_FORMAT=json selects JSON; other values are refused."""
    monkeypatch.setenv("MODELPREFETCH_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("MODELPREFETCH_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()


def test_run_takes_a_log_format_flag() -> None:
    """`modelprefetch run --log-format json` parses; another format is refused."""
    parser = build_parser()
    assert parser.parse_args(["run", "--log-format", "json"]).log_format == "json"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--log-format", "xml"])
