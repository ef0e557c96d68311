"""A kubelet's Summary API for kwok nodes: HTTPS on 127.0.0.1, one server per node.

Like the real kubelet with `authentication.webhook` and `authorization.mode: Webhook`,
it accepts a bearer token only after a TokenReview and a SubjectAccessReview (`get
nodes/stats` on its node) answered yes by the API server, so a test passes only if the
chart's RBAC lets the operator read stats. Its serving certificate is signed by the
cluster CA with IP SAN 127.0.0.1, as kubelet certificates from the CSR API are.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from e2e.cluster.controlplane import LocalCluster, fake_node_manifest
from e2e.cluster.procs import wait_until
from e2e.operator_process import OperatorProcess


@dataclass
class FakeKubelet:
    cluster: LocalCluster
    node: str
    capacity: int
    available: int
    requests: int = 0
    denied: int = 0
    _allowed: dict[str, bool] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def set_fs(self, capacity: int, available: int) -> None:
        self.capacity, self.available = capacity, available

    def summary(self) -> dict[str, Any]:
        fs = {
            "capacityBytes": self.capacity,
            "availableBytes": self.available,
            "usedBytes": self.capacity - self.available,
        }
        return {"node": {"nodeName": self.node, "fs": fs, "runtime": {"imageFs": fs}}, "pods": []}

    def authorized(self, token: str) -> bool:
        """TokenReview then SubjectAccessReview, as the kubelet's webhook authorizer does."""
        if token not in self._allowed:
            review = {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
            out = self.cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review))
            status = json.loads(out.stdout).get("status") or {}
            allowed = False
            if status.get("authenticated"):
                user = status["user"]
                access = {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": {
                        "user": user.get("username"),
                        "groups": user.get("groups") or [],
                        "uid": user.get("uid"),
                        "resourceAttributes": {
                            "verb": "get",
                            "resource": "nodes",
                            "subresource": "stats",
                            "name": self.node,
                        },
                    },
                }
                out = self.cluster.kubectl(
                    "create", "-o", "json", "-f", "-", input=json.dumps(access)
                )
                allowed = bool((json.loads(out.stdout).get("status") or {}).get("allowed"))
            self._allowed[token] = allowed
        return self._allowed[token]

    def start(self) -> None:
        crt, key = self.cluster.pki.issue(
            f"fake-kubelet-{self.node}", self.node, server=True, ips=("127.0.0.1",)
        )
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ").strip()
                if self.path != "/stats/summary":
                    self._reply(404, {"message": "not found"})
                elif not token or not fake.authorized(token):
                    fake.denied += 1
                    self._reply(403, {"message": "Forbidden (user=?, verb=get, nodes/stats)"})
                else:
                    self._reply(200, fake.summary())

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(crt, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def add_node_with_kubelet(
    cluster: LocalCluster, name: str, pool: str, capacity: int, available: int
) -> FakeKubelet:
    """A kwok node whose InternalIP is 127.0.0.1 and kubelet port is a FakeKubelet's."""
    kubelet = FakeKubelet(cluster, name, capacity, available)
    kubelet.start()
    node = fake_node_manifest(name, labels={"pool": pool})
    node["status"]["addresses"] = [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": name},
    ]
    node["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": kubelet.port}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(node))
    wait_until(f"node {name} Ready", lambda: cluster.node_ready(name), 60)
    # kwok's node-initialize stage writes its own kubelet port when it has one: ours wins.
    patch_node_status(
        cluster, name, {"daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}
    )
    return kubelet


def patch_node_status(cluster: LocalCluster, name: str, status: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch",
        "node",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def set_disk_pressure(cluster: LocalCluster, name: str, pressure: bool) -> None:
    """Set the DiskPressure condition (kwok's heartbeat resets it: call again while needed)."""
    condition = {
        "type": "DiskPressure",
        "status": "True" if pressure else "False",
        "reason": "KubeletHasDiskPressure" if pressure else "KubeletHasNoDiskPressure",
        "message": "set by the e2e test",
    }
    patch = {"status": {"conditions": [condition]}}  # merged by type
    cluster.kubectl(
        "patch",
        "node",
        name,
        "--subresource=status",
        "--type=strategic",
        "-p",
        json.dumps(patch),
    )


@contextlib.contextmanager
def capacity_enforced(operator: OperatorProcess, ttl_seconds: float = 1.0) -> Iterator[None]:
    """The session operator restarted with the capacity check on (restored after)."""
    saved = dict(operator.extra_env)
    operator.stop()
    operator.extra_env = {
        **saved,
        "MODELPREFETCH_CAPACITY_CHECK": "enforce",
        "MODELPREFETCH_KUBELET_STATS_TTL_SECONDS": str(ttl_seconds),
    }
    operator.start()
    try:
        yield
    finally:
        operator.stop()
        operator.extra_env = saved
        operator.start()
