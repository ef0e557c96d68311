"""Loading API server connection settings: kubeconfig files (one or several) and in-cluster."""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.auth import TokenFileAuth
from modelprefetch.k8s.config import load_config
from modelprefetch.webhook.certs import issue

NO_SA = Path("/nonexistent/serviceaccount")


def _kubeconfig(
    user: dict[str, Any], cluster: dict[str, Any], *, current: str | None = "c"
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}}],
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }
    if current:
        doc["current-context"] = current
    return doc


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_token_kubeconfig(tmp_path: Path) -> None:
    """Server, namespace and token come from the current context."""
    path = _write(
        tmp_path / "kc", _kubeconfig({"token": "abc"}, {"server": "https://127.0.0.1:6443/"})
    )
    cfg = await load_config(str(path))
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.namespace == "team"
    assert await cfg.auth.authorization() == "Bearer abc"


async def test_embedded_data_stays_in_memory_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """*-data fields are decoded in memory; loading and building the TLS context (client
    certificate included) leave no file in the temp directory."""
    bundle = issue(["api"], now=dt.datetime.now(dt.UTC))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    user = {"client-certificate-data": b64(bundle.cert_pem), "client-key-data": b64(bundle.key_pem)}
    cluster = {"server": "https://h:1", "certificate-authority-data": b64(bundle.ca_pem)}
    cfg = await load_config(str(_write(tmp_path / "kc", _kubeconfig(user, cluster))))
    cfg.ssl_context()
    assert (cfg.ca_pem, cfg.cert_pem, cfg.key_pem) == (
        bundle.ca_pem,
        bundle.cert_pem,
        bundle.key_pem,
    )
    assert list(scratch.iterdir()) == []


async def test_relative_paths_resolve_next_to_the_kubeconfig(tmp_path: Path) -> None:
    """certificate-authority relative to the kubeconfig's folder, like kubectl."""
    (tmp_path / "ca.crt").write_bytes(b"PEM")
    doc = _kubeconfig({"token": "t"}, {"server": "https://h:1", "certificate-authority": "ca.crt"})
    cfg = await load_config(str(_write(tmp_path / "kc", doc)))
    assert cfg.ca_pem == b"PEM"


async def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    """repr() never shows the token."""
    doc = _kubeconfig({"token": "sup3rsecret"}, {"server": "https://h:1"})
    cfg = await load_config(str(_write(tmp_path / "kc", doc)))
    assert "sup3rsecret" not in repr(cfg)
    assert "sup3rsecret" not in repr(cfg.auth)


async def test_unknown_context_is_a_clear_error(tmp_path: Path) -> None:
    """A context that is not there names itself in the error."""
    path = _write(tmp_path / "kc", _kubeconfig({"token": "t"}, {"server": "https://h:1"}))
    with pytest.raises(KubernetesError, match="no context 'other'"):
        await load_config(str(path), context="other")


async def test_kubeconfig_paths_merge_like_kubectl(tmp_path: Path) -> None:
    """$KUBECONFIG lists several files: a missing one is skipped, the first file to name a
    user or the current-context wins, and each file's relative paths are its own."""
    first = _write(
        tmp_path / "a" / "config",
        {"current-context": "c", "users": [{"name": "u", "user": {"token": "from-a"}}]},
    )
    second_doc = _kubeconfig(
        {"token": "from-b"}, {"server": "https://h:1", "certificate-authority": "ca.crt"}
    )
    second_doc["current-context"] = "elsewhere"
    second = _write(tmp_path / "b" / "config", second_doc)
    (tmp_path / "b" / "ca.crt").write_bytes(b"CA-OF-B")
    paths = f"{first}:{tmp_path / 'missing'}:{second}"
    cfg = await load_config(environ={"KUBECONFIG": paths}, sa_dir=NO_SA)
    assert await cfg.auth.authorization() == "Bearer from-a"
    assert (cfg.server, cfg.namespace, cfg.ca_pem) == ("https://h:1", "team", b"CA-OF-B")


async def test_no_kubeconfig_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    """Neither in-cluster nor a file: the error names where it looked."""
    with pytest.raises(KubernetesError, match="No kubeconfig found"):
        await load_config(environ={"KUBECONFIG": str(tmp_path / "nope")}, sa_dir=NO_SA)


async def test_missing_current_context_is_a_clear_error(tmp_path: Path) -> None:
    """No current-context and no context asked for: say so."""
    path = _write(tmp_path / "kc", _kubeconfig({"token": "t"}, {"server": "s"}, current=None))
    with pytest.raises(KubernetesError, match="sets no current-context"):
        await load_config(str(path))


async def test_basic_auth(tmp_path: Path) -> None:
    """username/password become a Basic Authorization header."""
    doc = _kubeconfig({"username": "ann", "password": "pw"}, {"server": "https://h:1"})
    cfg = await load_config(str(_write(tmp_path / "kc", doc)))
    assert await cfg.auth.authorization() == "Basic " + base64.b64encode(b"ann:pw").decode()


async def test_unsupported_auth_provider_is_a_clear_error(tmp_path: Path) -> None:
    """The removed in-tree gcp/azure providers point to their exec plugins."""
    doc = _kubeconfig({"auth-provider": {"name": "gcp"}}, {"server": "https://h:1"})
    with pytest.raises(KubernetesError, match=r"'gcp' is not supported.*exec credential plugin"):
        await load_config(str(_write(tmp_path / "kc", doc)))


def _service_account(tmp_path: Path, token: str) -> Path:
    sa = tmp_path / "sa"
    sa.mkdir(exist_ok=True)
    (sa / "ca.crt").write_bytes(b"CLUSTER-CA")
    (sa / "namespace").write_text("ops\n")
    _rotate(sa, token)
    return sa


def _rotate(sa: Path, token: str) -> None:
    """Like the kubelet: write aside, then rename over (an atomic swap)."""
    staged = sa / ".token.new"
    staged.write_text(token)
    staged.replace(sa / "token")


async def test_in_cluster_service_account(tmp_path: Path) -> None:
    """In a pod: the Service address (IPv6 bracketed), the mounted CA and namespace, and the
    token file, re-read when the kubelet rotates it."""
    sa = _service_account(tmp_path, "first")
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    cfg = await load_config(environ=environ, sa_dir=sa)
    assert cfg.server == "https://[fd00::1]:443"
    assert (cfg.namespace, cfg.ca_pem) == ("ops", b"CLUSTER-CA")
    assert isinstance(cfg.auth, TokenFileAuth)
    assert await cfg.auth.authorization() == "Bearer first"
    _rotate(sa, "second")
    assert await cfg.auth.authorization() == "Bearer second"


async def test_token_file_kubeconfig_is_reread_after_rotation(tmp_path: Path) -> None:
    """A kubeconfig `tokenFile` (relative to the kubeconfig) is read again when it changes."""
    (tmp_path / "tok").write_text("one")
    doc = _kubeconfig({"tokenFile": "tok", "token": "ignored"}, {"server": "https://h:1"})
    cfg = await load_config(str(_write(tmp_path / "kc", doc)))
    assert await cfg.auth.authorization() == "Bearer one"
    staged = tmp_path / "tok.new"
    staged.write_text("two")
    staged.replace(tmp_path / "tok")
    assert await cfg.auth.authorization() == "Bearer two"
