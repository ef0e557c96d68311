"""Where the API server is and how to authenticate: in-cluster or from a kubeconfig."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelprefetch.errors import KubernetesError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ClusterConfig:
    """Connection settings; secrets stay out of repr."""

    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token_file: str | None = None  # re-read on use: projected tokens rotate
    token: str | None = None
    insecure: bool = False
    namespace: str = "default"

    def __repr__(self) -> str:
        return f"ClusterConfig(server={self.server!r}, namespace={self.namespace!r})"

    def bearer_token(self) -> str | None:
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _materialise(data_b64: str, suffix: str) -> str:
    """kubeconfig *-data fields become private temp files (ssl wants paths)."""
    fd, path = tempfile.mkstemp(prefix="modelprefetch-", suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(data_b64))
    return path


def _from_kubeconfig(path: Path, context: str | None) -> ClusterConfig:
    try:
        doc: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KubernetesError(f"Cannot read kubeconfig {path}: {exc}") from exc
    ctx_name = context or doc.get("current-context")
    by_name = {
        k: {i["name"]: i.get(k[:-1], {}) for i in doc.get(k) or []}
        for k in ("contexts", "clusters", "users")
    }
    ctx = by_name["contexts"].get(ctx_name or "")
    if ctx is None:
        raise KubernetesError(f"kubeconfig {path} has no context {ctx_name!r}")
    cluster = by_name["clusters"].get(ctx.get("cluster", ""), {})
    user = by_name["users"].get(ctx.get("user", ""), {})
    base = path.parent

    def file_or_data(file_key: str, data_key: str, src: dict[str, Any], sfx: str) -> str | None:
        if src.get(data_key):
            return _materialise(src[data_key], sfx)
        if src.get(file_key):
            return str((base / src[file_key]).resolve())
        return None

    if "server" not in cluster:
        raise KubernetesError(f"kubeconfig {path}: cluster of context {ctx_name!r} has no server")
    return ClusterConfig(
        server=cluster["server"].rstrip("/"),
        ca_file=file_or_data(
            "certificate-authority", "certificate-authority-data", cluster, ".crt"
        ),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        cert_file=file_or_data("client-certificate", "client-certificate-data", user, ".crt"),
        key_file=file_or_data("client-key", "client-key-data", user, ".key"),
        token=user.get("token"),
        token_file=user.get("tokenFile"),
        namespace=ctx.get("namespace") or "default",
    )


def load_config(kubeconfig: str | None = None, context: str | None = None) -> ClusterConfig:
    """Explicit kubeconfig, else in-cluster ServiceAccount, else $KUBECONFIG / ~/.kube/config."""
    if kubeconfig:
        return _from_kubeconfig(Path(kubeconfig), context)
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if host and port and (SA_DIR / "token").exists():
        namespace = (SA_DIR / "namespace").read_text().strip()
        server_host = f"[{host}]" if ":" in host else host
        return ClusterConfig(
            server=f"https://{server_host}:{port}",
            ca_file=str(SA_DIR / "ca.crt"),
            token_file=str(SA_DIR / "token"),
            namespace=namespace,
        )
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return _from_kubeconfig(Path(env) if env else Path.home() / ".kube" / "config", context)
