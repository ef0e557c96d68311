"""Two real nodes as separate machines: pod-to-pod across nodes, pods to the API server
through the `kubernetes` Service, and the API server into the cluster network through
its egress proxy (kubelet logs/exec, the Service proxy). The last test removes the nodes
and checks that nothing of them is left on the host."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import images, netns
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.realnode import RealNode
from e2e.cluster.registries import Registries
from e2e.operator_tests.helpers import wait_for
from e2e.realnode import nettool
from e2e.realnode.helpers import on_real_node

pytestmark = pytest.mark.realnode

NET_LABEL = "net"  # LABEL_KEY value of these nodes: the operator tests' selectors skip them


class Pair:
    def __init__(self, group: RealNodes, a: RealNode, b: RealNode, busybox: str, tool: str):
        self.group, self.a, self.b, self.busybox, self.tool = group, a, b, busybox, tool
        self.cluster: LocalCluster = group.cluster


@pytest.fixture(scope="module")
def pair(real_nodes: RealNodes, registries: Registries) -> Iterator[Pair]:
    busybox = f"{registries.crane.host}/e2e/busybox:latest"
    images.push(images.busybox_image(), busybox)
    tool = nettool.build_image(registries.crane.host)
    added: list[RealNode] = []
    try:
        for name in ("netnode-a", "netnode-b"):
            added.append(real_nodes.add(name, label_value=NET_LABEL))
        yield Pair(real_nodes, added[0], added[1], busybox, tool)
    finally:
        for node in added:
            if node in real_nodes.nodes:
                real_nodes.remove(node)


@pytest.fixture(scope="module")
def net_namespace(pair: Pair) -> Iterator[str]:
    name = f"net-{uuid.uuid4().hex[:6]}"
    pair.cluster.kubectl("create", "namespace", name)
    yield name
    pair.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def run_pod(
    pair: Pair, namespace: str, node: RealNode, script: str, **extra: Any
) -> tuple[str, dict[str, Any]]:
    """A busybox pod on `node` running `script`; returns (name, pod once Running)."""
    return _pod(
        pair, namespace, node, {"image": pair.busybox, "command": ["sh", "-c", script]}, **extra
    )


def run_tool(pair: Pair, namespace: str, node: RealNode, *args: str, **extra: Any) -> str:
    """`nettool ARGS` in a pod on `node`; its output once the pod has finished."""
    name, _ = _pod(pair, namespace, node, {"image": pair.tool, "args": list(args)}, **extra)

    def finished() -> str | None:
        phase = get_pod_status(pair, namespace, name)["status"].get("phase")
        return str(phase) if phase in ("Succeeded", "Failed") else None

    wait_for(f"{name} finished", finished, 120)
    return node.container_log(namespace, name, "c")


def _pod(
    pair: Pair, namespace: str, node: RealNode, container: dict[str, Any], **extra: Any
) -> tuple[str, dict[str, Any]]:
    name = f"p-{uuid.uuid4().hex[:6]}"
    spec = on_real_node(
        {"restartPolicy": "Never", "containers": [{"name": "c", **container}]}, node.name
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {**spec, **extra},
    }
    pair.cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def started() -> dict[str, Any] | None:
        got = get_pod_status(pair, namespace, name)
        return got if got["status"].get("phase") in ("Running", "Succeeded") else None

    return name, dict(wait_for(f"{name} on {node.name} running", started, 120))


def get_pod_status(pair: Pair, namespace: str, name: str) -> dict[str, Any]:
    return dict(
        json.loads(pair.cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
    )


def http_server(pair: Pair, namespace: str, node: RealNode, token: str) -> tuple[str, str]:
    """busybox httpd on :8080 serving `token`; returns (pod name, pod IP)."""
    script = f"mkdir -p /www && echo {token} > /www/index.html && exec httpd -f -p 8080 -h /www"
    name, pod = run_pod(pair, namespace, node, script)
    return name, pod["status"]["podIP"]


def test_two_nodes_ready_each_with_its_own_address_and_pod_cidr(pair: Pair) -> None:
    seen = {}
    for node in (pair.a, pair.b):
        obj = json.loads(pair.cluster.kubectl("get", "node", node.name, "-o", "json").stdout)
        ready = {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Ready"]
        internal = [a["address"] for a in obj["status"]["addresses"] if a["type"] == "InternalIP"]
        seen[node.name] = (ready, internal, obj["spec"]["podCIDR"])
        assert (Path("/run/netns") / node.netns).exists()
    assert seen == {
        pair.a.name: ("True", [pair.a.address], netns.pod_cidr(pair.a.index)),
        pair.b.name: ("True", [pair.b.address], netns.pod_cidr(pair.b.index)),
    }
    assert pair.a.address != pair.b.address
    # kube-proxy in each node's namespace programmed the kubernetes Service: ClusterIP ->
    # the control plane address on the LAN; the host's own nat table has none of it.
    for node in (pair.a, pair.b):
        assert f"--to-destination {netns.CONTROL_PLANE_IP}:" in node.iptables_nat()
    host_nat = netns.run("iptables-save", "-t", "nat").stdout
    assert "KUBE-SVC" not in host_nat and netns.CONTROL_PLANE_IP not in host_nat


def test_pod_reaches_pod_on_the_other_node_by_pod_ip(pair: Pair, net_namespace: str) -> None:
    token = uuid.uuid4().hex
    _, server_ip = http_server(pair, net_namespace, pair.b, token)
    assert server_ip.startswith(netns.pod_cidr(pair.b.index).rsplit(".", 2)[0])
    log = run_tool(pair, net_namespace, pair.a, "get", f"http://{server_ip}:8080/")
    assert f"STATUS 200\n{token}" in log


def test_pod_reaches_the_api_server_through_the_kubernetes_service(
    pair: Pair, net_namespace: str
) -> None:
    """As an in-cluster client does: https://<ClusterIP>:443, the server certificate
    verified against the mounted ServiceAccount CA, the pod's token authenticated
    (SelfSubjectReview names the pod's ServiceAccount)."""
    svc = json.loads(pair.cluster.kubectl("get", "service", "kubernetes", "-o", "json").stdout)
    cluster_ip = svc["spec"]["clusterIP"]
    review = '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
    url = f"https://{cluster_ip}:443"
    mounted = {"automountServiceAccountToken": True}
    log = run_tool(pair, net_namespace, pair.b, "get", f"{url}/version", **mounted)
    assert "STATUS 200" in log and '"gitVersion": "v1.35.4"' in log
    review_url = f"{url}/apis/authentication.k8s.io/v1/selfsubjectreviews"
    log = run_tool(pair, net_namespace, pair.b, "get", review_url, review, **mounted)
    assert "STATUS 201" in log
    assert f"system:serviceaccount:{net_namespace}:default" in log


def test_api_server_reaches_kubelets_through_its_egress_proxy(
    pair: Pair, net_namespace: str
) -> None:
    """`kubectl logs` and `kubectl exec` go apiserver -> egress proxy -> node address."""
    marker = uuid.uuid4().hex
    name, _ = run_pod(pair, net_namespace, pair.b, f"echo {marker}; exec sleep 3600")

    def logs() -> str | None:
        out = pair.cluster.kubectl("logs", "-n", net_namespace, name, check=False)
        return out.stdout if marker in out.stdout else None

    assert marker in str(wait_for("kubectl logs", logs, 60))
    out = pair.cluster.kubectl("exec", "-n", net_namespace, name, "--", "cat", "/etc/hostname")
    assert out.stdout.strip() == name


def test_api_server_reaches_a_service_through_its_egress_proxy(
    pair: Pair, net_namespace: str
) -> None:
    """The Service proxy subresource: apiserver -> egress proxy -> the Service's pod."""
    token = uuid.uuid4().hex
    server, _ = http_server(pair, net_namespace, pair.a, token)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": net_namespace},
        "spec": {"selector": {"app": server}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    pair.cluster.kubectl("apply", "-f", "-", input=json.dumps(service))
    path = f"/api/v1/namespaces/{net_namespace}/services/http:web:80/proxy/"

    def proxied() -> str | None:
        out = pair.cluster.kubectl("get", "--raw", path, check=False)
        return out.stdout if out.returncode == 0 else None

    assert token in str(wait_for("the Service proxy", proxied, 60))


def test_api_server_calls_a_webhook_served_by_a_pod_through_its_service(
    pair: Pair, net_namespace: str
) -> None:
    """A ValidatingWebhookConfiguration with `service:` (not `url:`): the API server dials
    the Service's ClusterIP through its egress proxy; the pod on a real node answers."""
    config = nettool.deploy(pair.cluster, net_namespace, pair.a, pair.tool)

    def configmap(name: str, deny: str) -> subprocess.CompletedProcess[str]:
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": net_namespace, "labels": {"deny": deny}},
        }
        return pair.cluster.kubectl("create", "-f", "-", input=json.dumps(obj), check=False)

    def denied() -> str | None:
        err = configmap("bad", "yes").stderr
        return err if "denied by webhook pod netwebhook" in err else None

    try:
        assert "admission webhook" in str(wait_for("the webhook denies", denied, 60))
        assert configmap("good", "no").returncode == 0
    finally:
        pair.cluster.kubectl("delete", "validatingwebhookconfiguration", config, check=False)
    served = pair.a.container_log(net_namespace, "netwebhook", "c")
    assert "allowed=false" in served and "allowed=true" in served


def test_removing_nodes_leaves_nothing_behind(pair: Pair, net_namespace: str) -> None:
    """Stop both nodes with a pod running on each: no namespace, process, mount, cgroup,
    link or Node object of theirs is left, and the LAN has no route to their pods."""
    for node in (pair.a, pair.b):
        run_pod(pair, net_namespace, node, "exec sleep 3600")
    nodes = [pair.a, pair.b]
    workdirs = [str(n.workdir.resolve()) for n in nodes]
    cgroups = [n.cgroup_root for n in nodes]
    names = [(n.netns, n.name, pod_cidr_of(n)) for n in nodes]
    for node in nodes:
        pair.group.remove(node)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert not [w for w in workdirs if w in mounts]
    assert not netns.tagged_pids(*workdirs[:1]) and not netns.tagged_pids(workdirs[1])
    assert not [c for c in cgroups if list(Path("/sys/fs/cgroup").glob(f"*/{c.lstrip('/')}"))]
    lan_routes = netns.run("ip", "-n", pair.group.network.lan, "route").stdout
    for ns_name, node_name, cidr in names:
        assert not (Path("/run/netns") / ns_name).exists()
        assert cidr not in lan_routes
        got = pair.cluster.kubectl("get", "node", node_name, "--ignore-not-found", "-o", "name")
        assert got.stdout.strip() == ""
    # Their bridges and veths lived in the LAN and node namespaces, never in the host's.
    host_links = netns.run("ip", "-o", "link", "show").stdout
    for index in (pair.a.index, pair.b.index):
        assert f": n{index}@" not in host_links and f": n{index}:" not in host_links
    assert ": cni0" not in host_links and ": lan0" not in host_links


def pod_cidr_of(node: RealNode) -> str:
    return netns.pod_cidr(node.index)
