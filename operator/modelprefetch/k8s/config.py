"""Where the API server is and how to authenticate: in-cluster or from kubeconfig files.

kubernetes_asyncio reads the files (a `KUBECONFIG` may list several; they merge as
kubectl merges them: the first file to name a cluster, user, context or the
current-context wins), resolves relative paths against the file that named them, runs
exec plugins and refreshes OIDC tokens. TLS material stays in memory: a client key is
on disk only for the instant `ssl` needs a path, in a private directory removed at once.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader
from kubernetes_asyncio.config.kube_config import ConfigNode, FileOrData, KubeConfigMerger

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.auth import (
    Authenticator,
    ExecAuth,
    OidcAuth,
    StaticAuth,
    TokenFileAuth,
)

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ClusterConfig:
    """Connection settings; secrets stay out of repr."""

    server: str
    auth: Authenticator = field(default_factory=lambda: StaticAuth(None))
    ca_pem: bytes | None = None  # None: the system's trust store
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    namespace: str = "default"

    def __repr__(self) -> str:
        return f"ClusterConfig(server={self.server!r}, namespace={self.namespace!r})"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode() if self.ca_pem else None)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_pem and self.key_pem:
            # ssl loads a client certificate from paths only; mkdtemp's folder is 0700.
            with tempfile.TemporaryDirectory(prefix="modelprefetch-tls-") as folder:
                cert, key = Path(folder, "tls.crt"), Path(folder, "tls.key")
                cert.write_bytes(self.cert_pem)
                key.write_bytes(self.key_pem)
                ctx.load_cert_chain(cert, key)
        return ctx


async def load_config(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    sa_dir: Path = SA_DIR,
) -> ClusterConfig:
    """Explicit kubeconfig(s), else in-cluster ServiceAccount, else $KUBECONFIG (all its
    paths) or ~/.kube/config."""
    if kubeconfig:
        return await from_kubeconfig(kubeconfig, context)
    if (
        environ.get("KUBERNETES_SERVICE_HOST")
        and environ.get("KUBERNETES_SERVICE_PORT")
        and (sa_dir / "token").exists()
    ):
        return in_cluster(environ, sa_dir)
    return await from_kubeconfig(
        environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config"), context
    )


def in_cluster(environ: Mapping[str, str], sa_dir: Path = SA_DIR) -> ClusterConfig:
    """The pod's ServiceAccount: its token file is re-read whenever the kubelet rotates it."""
    loader = InClusterConfigLoader(
        str(sa_dir / "token"),
        str(sa_dir / "ca.crt"),
        try_refresh_token=False,
        environ=dict(environ),
    )
    resolved = Configuration()
    try:
        loader.load_and_set(resolved)
        ca_pem = (sa_dir / "ca.crt").read_bytes()
        namespace_file = sa_dir / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.exists() else ""
    except (ConfigException, OSError) as exc:
        raise KubernetesError(f"In-cluster configuration in {sa_dir}: {exc}") from exc
    return ClusterConfig(
        server=str(resolved.host),
        auth=TokenFileAuth(sa_dir / "token"),
        ca_pem=ca_pem,
        namespace=namespace or "default",
    )


async def from_kubeconfig(paths: str, context: str | None = None) -> ClusterConfig:
    """`paths` is one file or several joined by os.pathsep, like $KUBECONFIG."""
    config = read_kubeconfig(paths, context)
    if isinstance(config.auth, ExecAuth):
        config = await _first_exec_run(config, config.auth)
    return config


def read_kubeconfig(paths: str, context: str | None = None) -> ClusterConfig:
    """The files' settings for `context` (default: the current one); runs no plugin yet."""
    listed = [Path(p).expanduser() for p in paths.split(os.pathsep) if p]
    if not any(p.exists() for p in listed):
        raise KubernetesError(f"No kubeconfig found at {paths!r}")
    try:
        merger = KubeConfigMerger(paths)
    except (OSError, yaml.YAMLError, AttributeError, TypeError, KeyError) as exc:
        raise KubernetesError(f"Cannot read kubeconfig {paths}: {exc}") from exc
    files: list[dict[str, Any]] = [f for f in merger.config_files.values() if f]
    # kubectl: the first file that sets current-context wins (the merger keeps the last).
    name = context or next((f["current-context"] for f in files if f.get("current-context")), "")
    if not name:
        raise KubernetesError(f"kubeconfig {paths} sets no current-context")
    root = merger.config
    try:
        entry = _node(root)["contexts"].get_with_name(name, safe=True)
        if entry is None:
            raise KubernetesError(f"kubeconfig {paths} has no context {name!r}")
        ctx = _node(entry["context"])
        cluster = _node(_node(root)["clusters"].get_with_name(ctx["cluster"]))["cluster"]
        user = _user(_node(root), ctx.safe_get("user"))
        if not cluster.safe_get("server"):
            raise KubernetesError(f"kubeconfig {paths}: cluster of context {name!r} has no server")
        config = ClusterConfig(
            server=str(cluster["server"]).rstrip("/"),
            auth=_authenticator(user),
            ca_pem=_pem(cluster, "certificate-authority"),
            cert_pem=_pem(user, "client-certificate"),
            key_pem=_pem(user, "client-key"),
            insecure=bool(cluster.safe_get("insecure-skip-tls-verify")),
            tls_server_name=cluster.safe_get("tls-server-name"),
            namespace=ctx.safe_get("namespace") or "default",
        )
    except ConfigException as exc:
        raise KubernetesError(f"kubeconfig {paths}: {exc}") from exc
    return config


def _node(value: Any) -> ConfigNode:
    """A map or list of the kubeconfig; anything else is a malformed file."""
    if not isinstance(value, ConfigNode):
        raise ConfigException(f"Invalid kube-config file: expected a map or list, got {value!r}")
    return value


def _user(root: ConfigNode, name: str | None) -> ConfigNode:
    entry = _node(root["users"]).get_with_name(name, safe=True) if name else None
    return _node(entry["user"]) if entry and entry.safe_get("user") else ConfigNode("user", {})


def _base(node: ConfigNode) -> str:
    return str(Path(node.path).absolute().parent) if node.path else ""


def _pem(node: ConfigNode, key: str) -> bytes | None:
    """`key`-data (base64) or `key` (a path, relative to its kubeconfig), in memory."""
    try:
        data = FileOrData(node, key, file_base_path=_base(node)).as_data()
    except OSError as exc:
        raise KubernetesError(f"kubeconfig {key}: {exc}") from exc
    return base64.standard_b64decode(data) if data else None


def _authenticator(user: ConfigNode) -> Authenticator:
    provider = user.safe_get("auth-provider")
    if provider:
        if provider.get("name") == "oidc":
            return OidcAuth(provider)
        raise KubernetesError(
            f"kubeconfig auth-provider {provider.get('name')!r} is not supported (only oidc);"
            " use the provider's exec credential plugin instead"
        )
    if user.safe_get("exec"):
        return ExecAuth(user["exec"])
    if user.safe_get("tokenFile"):  # client-go: a token file wins over a token
        return TokenFileAuth(Path(_base(user), str(user["tokenFile"])))
    if user.safe_get("token"):
        return StaticAuth(f"Bearer {user['token']}")
    if user.safe_get("username") and user.safe_get("password"):
        return StaticAuth.basic(str(user["username"]), str(user["password"]))
    return StaticAuth(None)


async def _first_exec_run(config: ClusterConfig, auth: ExecAuth) -> ClusterConfig:
    """Run the plugin at start (fail fast); a plugin may answer with a client certificate
    instead of a token, which then becomes part of the TLS settings."""
    status = await auth.run()
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        return ClusterConfig(
            server=config.server,
            auth=StaticAuth(None),
            ca_pem=config.ca_pem,
            cert_pem=str(status["clientCertificateData"]).encode(),
            key_pem=str(status["clientKeyData"]).encode(),
            insecure=config.insecure,
            tls_server_name=config.tls_server_name,
            namespace=config.namespace,
        )
    auth.accept(status)
    return config
