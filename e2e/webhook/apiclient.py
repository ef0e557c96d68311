"""Just enough of a Kubernetes client for the benchmark: kubeconfig TLS and /metrics parsing."""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path

import yaml


def kube_session(kubeconfig: Path) -> tuple[str, ssl.SSLContext, dict[str, str]]:
    """Server URL, TLS context (client certificate) and headers from a kubeconfig."""
    config = yaml.safe_load(kubeconfig.read_text())
    context_name = config["current-context"]
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-kube-"))

    def material(key: str) -> str | None:
        if f"{key}-data" in user or f"{key}-data" in cluster:
            path = tmp / key
            path.write_bytes(base64.b64decode((user | cluster)[f"{key}-data"]))
            return str(path)
        return (user | cluster).get(key)

    ctx = ssl.create_default_context(cafile=material("certificate-authority"))
    cert, key = material("client-certificate"), material("client-key")
    if cert and key:
        ctx.load_cert_chain(cert, key)
    headers = {"Authorization": f"Bearer {user['token']}"} if "token" in user else {}
    return cluster["server"].rstrip("/"), ctx, headers


def webhook_histogram(metrics: str, webhook: str) -> dict[float, float]:
    """Cumulative bucket counts of the API server's admission duration for one webhook."""
    out: dict[float, float] = {}
    for line in metrics.splitlines():
        if (
            line.startswith("apiserver_admission_webhook_admission_duration_seconds_bucket{")
            and f'name="{webhook}"' in line
        ):
            le = line.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def operator_histogram(metrics: str, webhook: str = "mutate-pods") -> dict[float, float]:
    """Cumulative bucket counts of the operator's own admission latency for one webhook."""
    out: dict[float, float] = {}
    for line in metrics.splitlines():
        if (
            line.startswith("modelprefetch_webhook_request_duration_seconds_bucket{")
            and f'webhook="{webhook}"' in line
        ):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def histogram_quantile(
    before: dict[float, float], after: dict[float, float], q: float
) -> float | None:
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            return bound * 1000
    return None
