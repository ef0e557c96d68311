"""The e2e secret-leak grep finds each form of a secret, and only where it is."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from e2e import secret_leaks
from e2e.secret_leaks import (
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
