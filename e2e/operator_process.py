"""The real operator (`python -m modelprefetch run`) as a child process of the test session.

It runs exactly as in production, with the chart's own ServiceAccount and RBAC (rendered
by `helm template`, authenticated by a token of that ServiceAccount, never admin), except
for where things are: a kubeconfig holding that token instead of the in-cluster mount,
the webhook reached by the API server at https://127.0.0.1:PORT (no kube-proxy here, so
URL clientConfig and a certificate with IP SAN 127.0.0.1), and the local registries
spoken to over plain HTTP. The webhook configurations are the chart's own render for an
operator outside the cluster (replicaCount=0, webhook.url), without caBundle: the
operator patches it in, as in production.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from e2e.chart.render import NAMESPACE, RELEASE, external_operator_webhooks, render_chart
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.procs import tail
from e2e.cluster.registries import Registries
from e2e.cluster.tools import REPO_ROOT, free_port

HOLDER_IMAGE = "127.0.0.1:5000/modelprefetch:e2e"  # fake nodes never pull it
# The chart's names for release RELEASE (the operator's defaults name the same objects).
MUTATING = f"{RELEASE}-pods"
VALIDATING = f"{RELEASE}-modeldeployments"
# How the RBAC authorizer words a refusal. Other 403s (e.g. writing into a namespace
# being deleted) are not about permissions.
RBAC_DENIAL = re.compile(r'forbidden: User "[^"]+" cannot ')


@dataclass
class OperatorProcess:
    cluster: LocalCluster
    registries: Registries
    logdir: Path
    kubeconfig: Path | None = None  # default: the cluster's admin kubeconfig
    health_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    webhook_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # --set values for the chart's RBAC render. The session's tests put pull secrets in fresh
    # namespaces no list can name in advance, hence the cluster-wide opt-in by default;
    # e2e/operator_tests/test_pull_secret_rbac.py runs the chart's default with a list.
    chart_sets: tuple[str, ...] = ("rbac.clusterWideSecrets=true",)

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}"

    @property
    def log(self) -> Path:
        return self.logdir / "operator.log"

    def env(self) -> dict[str, str]:
        hosts = [r.host for r in self.registries.all()]
        return {
            **os.environ,
            "MODELPREFETCH_KUBECONFIG": str(self.kubeconfig or self.cluster.kubeconfig),
            "MODELPREFETCH_NAMESPACE": NAMESPACE,
            "MODELPREFETCH_POD_NAME": "e2e-operator",
            "MODELPREFETCH_HOLDER_IMAGE": HOLDER_IMAGE,
            "MODELPREFETCH_INSECURE_REGISTRIES": json.dumps(hosts),
            "MODELPREFETCH_BIND_ADDRESS": "127.0.0.1",
            "MODELPREFETCH_HEALTH_PORT": str(self.health_port),
            "MODELPREFETCH_METRICS_PORT": str(self.metrics_port),
            "MODELPREFETCH_WEBHOOK_PORT": str(self.webhook_port),
            "MODELPREFETCH_WEBHOOK_URL": self.webhook_url,
            "MODELPREFETCH_RESYNC_SECONDS": "20",
            "MODELPREFETCH_LOG_LEVEL": "INFO",
            # kwok nodes have no kubelet to read image filesystems from (and their
            # addresses must never be dialled): e2e/operator_tests/test_capacity.py and the
            # real-node capacity test turn the check on.
            "MODELPREFETCH_CAPACITY_CHECK": "off",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def install(self, *, as_service_account: bool = True) -> None:
        """CRD, namespace, the chart's ServiceAccount + RBAC, and the chart's webhook
        configurations pointing at this process (webhook.url)."""
        self.cluster.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds"))
        self.cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/modeldeployments.modelprefetch.io",
        )
        self.cluster.kubectl("create", "namespace", NAMESPACE, check=False)
        if as_service_account:
            self.kubeconfig = self._service_account_kubeconfig()
        webhooks = external_operator_webhooks(self.webhook_url)
        self.cluster.kubectl("apply", "-f", "-", input=webhooks)

    def _service_account_kubeconfig(self) -> Path:
        rendered = render_chart(
            sets=self.chart_sets,
            show_only=["templates/serviceaccount.yaml", "templates/rbac.yaml"],
        )
        self.cluster.kubectl("apply", "-f", "-", input=rendered)
        token = self.cluster.kubectl(
            "create", "token", RELEASE, "-n", NAMESPACE, "--duration=24h"
        ).stdout.strip()
        admin = yaml.safe_load(self.cluster.kubeconfig.read_text())
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": admin["clusters"],
            "users": [{"name": "operator", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "operator",
                    "context": {
                        "cluster": admin["clusters"][0]["name"],
                        "user": "operator",
                        "namespace": NAMESPACE,
                    },
                }
            ],
            "current-context": "operator",
        }
        path = self.cluster.workdir / "operator-sa.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def forbidden_lines(self) -> list[str]:
        """Log lines where the API server refused the operator something."""
        if not self.log.exists():
            return []
        return [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if RBAC_DENIAL.search(line)
        ]

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelprefetch", "run"],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited at start:\n{tail(self.log, 40)}")
            if self._ready():
                return
            time.sleep(0.3)
        raise TimeoutError(f"operator not ready in 60s:\n{tail(self.log, 40)}")

    def _ready(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())
