"""Loading API server connection settings from kubeconfig files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.config import load_config


def _write(path: Path, user: dict[str, object], cluster: dict[str, object]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [
                    {"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}
                ],
                "clusters": [{"name": "k", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


def test_token_kubeconfig(tmp_path: Path) -> None:
    """Server, namespace and token come from the current context."""
    cfg = load_config(
        str(_write(tmp_path / "kc", {"token": "abc"}, {"server": "https://127.0.0.1:6443/"}))
    )
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.namespace == "team"
    assert cfg.bearer_token() == "abc"


def test_embedded_data_becomes_private_files(tmp_path: Path) -> None:
    """*-data fields are written to 0600 temp files the ssl module can load."""
    pem = b"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
    cfg = load_config(
        str(
            _write(
                tmp_path / "kc",
                {
                    "client-certificate-data": base64.b64encode(pem).decode(),
                    "client-key-data": base64.b64encode(b"key").decode(),
                },
                {
                    "server": "https://h:1",
                    "certificate-authority-data": base64.b64encode(pem).decode(),
                },
            )
        )
    )
    assert cfg.ca_file and Path(cfg.ca_file).read_bytes() == pem
    assert cfg.key_file and Path(cfg.key_file).stat().st_mode & 0o077 == 0


def test_relative_paths_resolve_next_to_the_kubeconfig(tmp_path: Path) -> None:
    """certificate-authority relative to the kubeconfig's folder, like kubectl."""
    cfg = load_config(
        str(
            _write(
                tmp_path / "kc",
                {"token": "t"},
                {"server": "https://h:1", "certificate-authority": "ca.crt"},
            )
        )
    )
    assert cfg.ca_file == str(tmp_path / "ca.crt")


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    """repr() never shows the token."""
    cfg = load_config(
        str(_write(tmp_path / "kc", {"token": "sup3rsecret"}, {"server": "https://h:1"}))
    )
    assert "sup3rsecret" not in repr(cfg)


def test_unknown_context_is_a_clear_error(tmp_path: Path) -> None:
    """A context that is not there names itself in the error."""
    path = _write(tmp_path / "kc", {"token": "t"}, {"server": "https://h:1"})
    with pytest.raises(KubernetesError, match="no context 'other'"):
        load_config(str(path), context="other")
