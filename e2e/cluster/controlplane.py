"""etcd + kube-apiserver + controller-manager + scheduler + kwok as local processes.

Fake nodes are Node objects annotated `kwok.x-k8s.io/node=fake`; kwok manages only those
(so a real kubelet can join later). Pods on nodes named `held-*` never become Ready on
their own: they stay scheduled-but-not-ready ("pulling") until a test marks them Ready,
which is how the wave tests watch the throttle.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster import kwok_pull, procs
from e2e.cluster.netns import CONTROL_PLANE_IP, SERVICE_CIDR
from e2e.cluster.pki import PKI
from e2e.cluster.tools import bin_dir, free_port, tool_path

FAKE_ANNOTATION = "kwok.x-k8s.io/node"
HELD_NODE_PREFIX = "held-"


def kwok_stages(
    dest: Path,
    pull_delay_ms: tuple[int, int] | None = None,
    heartbeat_ms: tuple[int, int] | None = None,
) -> Path:
    """kwok's stock node/pod stages, with pod-ready skipping pods on held-* nodes (and, with
    `pull_delay_ms`, pods with an image volume taking that long: kwok_pull; with
    `heartbeat_ms` (delay, jitter), node status heartbeats that far apart)."""
    docs: list[dict[str, Any]] = []
    names = [
        "node-initialize",
        "node-heartbeat",
        "pod-create",
        "pod-init-container-running",
        "pod-init-container-completed",
        "pod-ready",
        "pod-complete",
        "pod-delete",
    ]
    for name in names:
        stage = yaml.safe_load((bin_dir() / "kwok-stages" / f"{name}.yaml").read_text())
        if name == "pod-ready":
            stage["spec"]["selector"]["matchExpressions"].append(
                {
                    "key": f'.spec.nodeName | startswith("{HELD_NODE_PREFIX}")',
                    "operator": "NotIn",
                    "values": ["true"],
                }
            )
            # Fake pulls take 0.2-1s instead of 1-6s; tests wait less, nothing else changes.
            stage["spec"]["delay"]["durationMilliseconds"] = 200
            stage["spec"]["delay"]["jitterDurationMilliseconds"] = 800
            if pull_delay_ms is not None:
                docs.append(kwok_pull.split_pod_ready(stage, pull_delay_ms))
        if name == "node-heartbeat":
            stage["spec"]["delay"]["durationMilliseconds"] = 15000
            if heartbeat_ms is not None:
                stage["spec"]["delay"]["durationMilliseconds"] = heartbeat_ms[0]
                stage["spec"]["delay"]["jitterDurationMilliseconds"] = heartbeat_ms[1]
        docs.append(stage)
    dest.write_text(yaml.safe_dump_all(docs))
    return dest


@dataclass
class LocalCluster:
    """A control plane rooted at `workdir`; `kubeconfig` is admin. For benchmarks:
    `audit_policy` logs to `audit_log`; `node_monitor_grace_seconds` tolerates late kwok
    heartbeats (1,000+ fake nodes on 2 cores); `pull_delay_ms`: see kwok_stages."""

    workdir: Path
    logdir: Path
    procs: list[procs.Proc] = field(default_factory=list)
    apiserver_port: int = 0
    audit_policy: dict[str, Any] | None = None
    node_monitor_grace_seconds: int | None = None
    pull_delay_ms: tuple[int, int] | None = None
    # Benchmarks with thousands of fake nodes (e2e/bench/scale_cluster.scale_tuning):
    # extra flags per process name, kwok's heartbeat period and its KwokConfiguration.
    extra_args: dict[str, list[str]] = field(default_factory=dict)
    node_heartbeat_ms: tuple[int, int] | None = None
    kwok_options: dict[str, Any] | None = None

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def _audit_flags(self) -> list[str]:
        if self.audit_policy is None:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(self.audit_policy))
        # batch mode writes off the request path, so auditing does not slow requests down
        log = self.audit_log
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={log}",
            "--audit-log-mode=batch",
        ]

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> PKI:
        return PKI(self.workdir / "pki")

    @property
    def egress_socket(self) -> Path:
        """The apiserver sends traffic for the cluster network (Service-backed webhooks,
        kubelets, the proxy subresources) as HTTP CONNECT over this Unix socket; the real
        nodes' network serves it (netns.PodNetwork), else such calls fail to dial."""
        return self.workdir / "egress.sock"

    def _write_egress_config(self) -> Path:
        path = self.workdir / "egress-selector.yaml"
        config = {
            "apiVersion": "apiserver.k8s.io/v1beta1",
            "kind": "EgressSelectorConfiguration",
            "egressSelections": [
                {
                    "name": "cluster",
                    "connection": {
                        "proxyProtocol": "HTTPConnect",
                        "transport": {"uds": {"udsName": str(self.egress_socket)}},
                    },
                }
            ],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises with stderr when check fails."""
        result = subprocess.run(
            [str(tool_path("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{result.stderr}{result.stdout}")
        return result

    def _write_kubeconfig(
        self, path: Path, cert: Path, key: Path, server: str | None = None
    ) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": server or f"https://127.0.0.1:{self.apiserver_port}",
                        "certificate-authority": str(self.pki.ca_crt),
                    },
                }
            ],
            "users": [
                {"name": "user", "user": {"client-certificate": str(cert), "client-key": str(key)}}
            ],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
            "current-context": "local",
        }
        path.write_text(yaml.safe_dump(config))

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logdir.mkdir(parents=True, exist_ok=True)
        pki = self.pki
        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            server=True,
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", "10.96.0.1", CONTROL_PLANE_IP),
        )
        admin = pki.issue("admin", "admin", org="system:masters")
        sa_key, sa_pub = pki.service_account_keys()
        etcd_port, peer_port = free_port(), free_port()
        self.apiserver_port = free_port()
        self._write_kubeconfig(self.kubeconfig, *admin)
        kc = str(self.kubeconfig)

        etcd = procs.start(
            "etcd",
            [
                str(tool_path("etcd")),
                "--name",
                "local",
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"local=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
                "--listen-metrics-urls",
                f"http://127.0.0.1:{free_port()}",
                *self.extra_args.get("etcd", []),
            ],
            self.logdir,
        )
        self.procs.append(etcd)
        procs.wait_until(
            "etcd", lambda: procs.http_ok(f"http://127.0.0.1:{etcd_port}/health"), 60, etcd
        )

        apiserver = procs.start(
            "kube-apiserver",
            [
                str(tool_path("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                # The address real nodes and pods reach the apiserver at (a relay in the
                # nodes' LAN namespace); the `kubernetes` Service's endpoint.
                f"--advertise-address={CONTROL_PLANE_IP}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={serving[0]}",
                f"--tls-private-key-file={serving[1]}",
                f"--client-ca-file={pki.ca_crt}",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=lease",
                f"--egress-selector-config-file={self._write_egress_config()}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                "--profiling=false",
                f"--kubelet-client-certificate={admin[0]}",
                f"--kubelet-client-key={admin[1]}",
                "--enable-priority-and-fairness=false",
                *self._audit_flags(),
                *self.extra_args.get("kube-apiserver", []),
            ],
            self.logdir,
        )
        self.procs.append(apiserver)
        procs.wait_until(
            "kube-apiserver",
            lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
            120,
            apiserver,
        )

        grace = self.node_monitor_grace_seconds
        stages = kwok_stages(
            self.workdir / "kwok-stages.yaml", self.pull_delay_ms, self.node_heartbeat_ms
        )
        if self.kwok_options:
            config = {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokConfiguration",
                "options": self.kwok_options,
            }
            stages.write_text(stages.read_text() + "---\n" + yaml.safe_dump(config))
        common = [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]
        self.procs.append(
            procs.start(
                "kube-controller-manager",
                [
                    str(tool_path("kube-controller-manager")),
                    *common,
                    f"--secure-port={free_port()}",
                    f"--service-account-private-key-file={sa_key}",
                    f"--root-ca-file={pki.ca_crt}",
                    "--use-service-account-credentials=true",
                    f"--cluster-signing-cert-file={pki.ca_crt}",
                    f"--cluster-signing-key-file={pki.ca_key}",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle",
                    *([f"--node-monitor-grace-period={grace}s"] if grace else []),
                    *self.extra_args.get("kube-controller-manager", []),
                ],
                self.logdir,
            )
        )
        self.procs.append(
            procs.start(
                "kube-scheduler",
                [
                    str(tool_path("kube-scheduler")),
                    *common,
                    f"--secure-port={free_port()}",
                    *self.extra_args.get("kube-scheduler", []),
                ],
                self.logdir,
            )
        )
        self.procs.append(
            procs.start(
                "kwok",
                [
                    str(tool_path("kwok")),
                    f"--kubeconfig={kc}",
                    "--manage-all-nodes=false",
                    f"--manage-nodes-with-annotation-selector={FAKE_ANNOTATION}=fake",
                    f"--server-address=127.0.0.1:{free_port()}",
                    f"--config={stages}",
                    *self.extra_args.get("kwok", []),
                ],
                self.logdir,
            )
        )
        # The default ServiceAccount appears once the controller-manager runs.
        procs.wait_until(
            "default ServiceAccount",
            lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
            90,
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            procs.stop(proc)
        self.procs.clear()

    # Fake nodes -------------------------------------------------------------------------

    def add_fake_node(
        self,
        name: str,
        *,
        runtime: str = "containerd://2.2.1",
        labels: dict[str, str] | None = None,
        taints: list[dict[str, str]] | None = None,
    ) -> None:
        """Register a kwok-managed node reporting `runtime` as containerRuntimeVersion."""
        node = fake_node_manifest(name, runtime=runtime, labels=labels, taints=taints)
        self.kubectl("apply", "-f", "-", input=json.dumps(node))
        procs.wait_until(f"node {name} Ready", lambda: self.node_ready(name), 60)

    def node_ready(self, name: str) -> bool:
        out = self.kubectl(
            "get",
            "node",
            name,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            check=False,
        )
        return out.returncode == 0 and out.stdout.strip() == "True"

    def delete_node(self, name: str) -> None:
        self.kubectl("delete", "node", name, "--ignore-not-found", "--wait=true")


def fake_node_manifest(
    name: str,
    *,
    runtime: str = "containerd://2.2.1",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A kwok-managed Node (annotation FAKE_ANNOTATION) with 32 CPUs, 256Gi and 110 pods,
    reporting `runtime` as containerRuntimeVersion and kubelet v1.35.4."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **(labels or {}),
            },
        },
        "spec": {"taints": taints or []},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "containerRuntimeVersion": runtime,
                "kubeletVersion": "v1.35.4",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }
