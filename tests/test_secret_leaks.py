"""The e2e secret-leak grep finds each form of a secret, and only where it is."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from e2e import secret_leaks
from e2e.secret_leaks import (
    SessionAudit,
    dockerconfigjson,
    leaks_in_text,
    leaks_in_tree,
    pull_secret,
    secret_needles,
)

NEEDLES = secret_needles("127.0.0.1:5001", "modeluser", "pa55-word-xyz")


def test_clean_tree_has_no_leak(tmp_path: Path) -> None:
    (tmp_path / "operator.log").write_text("resolved 127.0.0.1:5001/m:v1 as modeluser\n")
    assert leaks_in_tree(tmp_path, NEEDLES) == []


@pytest.mark.parametrize("form", sorted(NEEDLES))
def test_each_form_is_found_in_a_nested_log(tmp_path: Path, form: str) -> None:
    """A log holding one form of the secret fails the check, naming the file and form."""
    nested = tmp_path / "components" / "kube-apiserver.log"
    nested.parent.mkdir()
    nested.write_bytes(b"line one\nrequest body: " + NEEDLES[form] + b"\nline three\n")
    leaks = leaks_in_tree(tmp_path, NEEDLES)
    assert form in {leak.form for leak in leaks}
    assert all(leak.where == str(nested) for leak in leaks)
    assert all(NEEDLES["password"].decode() not in str(leak) for leak in leaks)


def test_needle_across_a_chunk_boundary_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big logs are read in chunks; a secret split by a chunk edge is still seen."""
    monkeypatch.setattr(secret_leaks, "_CHUNK", 8)
    monkeypatch.setattr(secret_leaks, "_OVERLAP", 64)
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 13 + NEEDLES["password"] + b"y" * 5)
    assert [leak.form for leak in leaks_in_tree(tmp_path, NEEDLES)] == ["password"]


def test_text_sources_and_secret_shape() -> None:
    """Events/status/metrics text is checked the same way; the Secret holds the config."""
    metrics = b'modelprefetch_resolve_total{reason="x"} 1\n'
    assert leaks_in_text("/metrics", metrics, NEEDLES) == []
    status = json.dumps({"message": f"auth {NEEDLES['base64 user:password'].decode()}"})
    assert [leak.form for leak in leaks_in_text("status", status.encode(), NEEDLES)] == [
        "base64 user:password"
    ]
    config = dockerconfigjson("127.0.0.1:5001", "modeluser", "pa55-word-xyz")
    secret = pull_secret("regcred", "ns", config)
    data = secret["data"]
    assert isinstance(data, dict)
    assert base64.b64decode(data[".dockerconfigjson"]).decode() == config
    assert data[".dockerconfigjson"].encode() == NEEDLES["base64 dockerconfigjson"]


def test_session_audit_finds_captures_live_sources_and_files(tmp_path: Path) -> None:
    """The per-session audit (e2e/conftest.py) sees the operator's captured /metrics, the
    live Events/statuses it is handed, and the log folder."""
    (tmp_path / "operator.log").write_text("clean\n")
    audit = SessionAudit.for_credential("127.0.0.1:5001", "modeluser", "pa55-word-xyz")
    audit.require_file(tmp_path / "operator.log")
    assert audit.leaks(tmp_path, {"events": "{}"}) == []
    audit.capture("/metrics", f'm{{v="{NEEDLES["password"].decode()}"}} 1')
    live = {"modeldeployments": NEEDLES["dockerconfigjson"].decode()}
    found = {(leak.where, leak.form) for leak in audit.leaks(tmp_path, live)}
    assert {("/metrics", "password"), ("modeldeployments", "dockerconfigjson")} <= found
    assert {where for where, _ in found} == {"/metrics", "modeldeployments"}


def test_session_audit_refuses_to_pass_without_its_required_files(tmp_path: Path) -> None:
    """A moved operator log must not make the audit pass by searching nothing."""
    audit = SessionAudit.for_credential("127.0.0.1:5001", "modeluser", "pa55-word-xyz")
    audit.require_file(tmp_path / "operator.log")
    with pytest.raises(AssertionError, match="missing"):
        audit.leaks(tmp_path, {})
