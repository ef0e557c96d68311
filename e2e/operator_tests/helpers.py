"""Small helpers for operator e2e tests: polling, ModelDeployment manifests, node pools."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from e2e.cluster.controlplane import LocalCluster

T = TypeVar("T")


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.5
) -> T:
    """Poll until `check` returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def model_deployment(
    name: str, namespace: str, reference: str, pool: str, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"reference": reference},
            "nodes": {"nodeSelector": {"pool": pool}},
            "mount": {"path": f"/models/{name}"},
        },
    }
    for key, value in spec.items():
        body["spec"][key] = {**body["spec"].get(key, {}), **value}
    return body


def apply(cluster: LocalCluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


def get_md(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    return json.loads(
        cluster.kubectl("get", "modeldeployment", name, "-n", namespace, "-o", "json").stdout
    )


def condition(md: dict[str, Any], ctype: str) -> dict[str, Any]:
    for cond in (md.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


def ready_summary(cluster: LocalCluster, namespace: str, name: str) -> str:
    md = get_md(cluster, namespace, name)
    return str(((md.get("status") or {}).get("nodes") or {}).get("summary", ""))


def wait_ready(
    cluster: LocalCluster, namespace: str, name: str, summary: str, timeout: float = 120.0
) -> dict[str, Any]:
    """Wait for Ready=True with `summary` nodes (e.g. "3/3")."""
    seen: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        md = get_md(cluster, namespace, name)
        seen["status"] = md.get("status")
        ok = condition(md, "Ready").get("status") == "True"
        return md if ok and md["status"]["nodes"]["summary"] == summary else None

    try:
        return wait_for(f"{namespace}/{name} Ready {summary}", check, timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast status: {json.dumps(seen.get('status'))}") from None


def wait_reason(
    cluster: LocalCluster, namespace: str, name: str, ctype: str, reason: str, timeout: float = 90.0
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        cond = condition(get_md(cluster, namespace, name), ctype)
        return cond if cond.get("reason") == reason else None

    return wait_for(f"{ctype} reason {reason}", check, timeout)


def pods(cluster: LocalCluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def mark_ready(cluster: LocalCluster, namespace: str, pod: str) -> None:
    """Play the kubelet of a held node: the pull finished and `hold` saw every file."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
        }
    }
    cluster.kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def node_labels(cluster: LocalCluster, node: str) -> dict[str, str]:
    out = cluster.kubectl("get", "node", node, "-o", "json")
    return dict(json.loads(out.stdout)["metadata"].get("labels") or {})


def make_pool(
    cluster: LocalCluster, names: list[str], pool: str, runtime: str = "containerd://2.2.1"
) -> None:
    for name in names:
        cluster.add_fake_node(name, runtime=runtime, labels={"pool": pool})


def delete_nodes(cluster: LocalCluster, names: list[str]) -> None:
    for name in names:
        cluster.kubectl("delete", "node", name, "--ignore-not-found", "--wait=false", check=False)
