"""The in-cluster steps of `make demo` (hack/demo.sh), on the cluster that
`python -m e2e.cluster up --real-nodes 2` started (state in $MODELPREFETCH_CLUSTER_DIR):

    install IMAGE_REF        helm install as the README says (operator in the cluster,
                             2 replicas), waited for until both are Ready on different nodes
    modeldeployment REF      the sample ModelDeployment for the real nodes, as YAML on stdout
    readers MODEL_DIR        a labelled pod on each real node reads every file of the model;
                             its sha256 sums are printed and compared with MODEL_DIR's

The helm install and the operator-pod checks are the in-cluster suite's own
(e2e/incluster/helm.py). `lan_registry` is a copy of that suite's `pod_registry` fixture
body (a pytest fixture cannot be called from here). Usage:
PYTHONPATH=. python hack/demo_incluster.py install|modeldeployment|readers ARG
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from e2e.cluster.__main__ import workdir
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.project_image import PINNED, ProjectImage
from e2e.cluster.realnode import TOLERATION
from e2e.cluster.tools import REPO_ROOT
from e2e.incluster.helm import (
    NAMESPACE,
    RELEASE,
    Helm,
    diagnostics,
    is_ready,
    operator_pods,
    toleration_values,
)
from e2e.operator_tests.helpers import wait_for
from e2e.realnode.helpers import CHECKSUM_SCRIPT, DONE, checksums, parse_checksums

SAMPLE = REPO_ROOT / "deploy" / "samples" / "modeldeployment.yaml"
GPU_LABEL = "nvidia.com/gpu.present"  # what the sample's nodeSelector asks for
WORKLOAD_NAMESPACE = "default"


def state_file() -> Path:
    return workdir() / "state.json"


def attach() -> tuple[RealNodes, dict[str, Any]]:
    state = json.loads(state_file().read_text())
    if not state.get("realNodes"):
        raise SystemExit(f"{state_file()}: no real nodes (run `make cluster-up REAL_NODES=2`)")
    cluster = LocalCluster(workdir=workdir(), logdir=workdir() / "logs")
    return RealNodes.attach(cluster, state), state


def lan_registry(nodes: RealNodes, state: dict[str, Any]) -> str:
    """The crane registry as pods see it: CONTROL_PLANE_IP:PORT on the node LAN (a pod's
    127.0.0.1 is its own), as e2e/incluster/conftest.py `pod_registry` does: one relay on
    the LAN address (PodNetwork.serve_registry_on_lan) and a plain-HTTP hosts.toml on every
    node. The relay is saved in state.json; `make cluster-down` stops it."""
    port = int(state["registries"]["crane"]["host"].rsplit(":", 1)[1])
    host = nodes.network.serve_registry_on_lan(port)
    state["network"] = nodes.network.to_state()
    state_file().write_text(json.dumps(state, indent=1))
    for node in nodes.nodes:
        node.trust_plain_http([host])
    return host


def install(image_ref: str) -> None:
    nodes, state = attach()
    cluster = nodes.cluster
    match = PINNED.match(image_ref)
    if match is None:
        raise SystemExit(f"{image_ref}: expected <registry>/<repo>@sha256:... (make image)")
    registry = state["registries"]["crane"]["host"]
    pod_registry = lan_registry(nodes, state)
    for node in nodes.nodes:  # GPU nodes, as the sample ModelDeployment selects them
        cluster.kubectl("label", "node", node.name, f"{GPU_LABEL}=true", "--overwrite")
    image = ProjectImage(image_ref, image_ref, match["digest"], 0.0)
    print(
        f"$ helm install {RELEASE} charts/modelprefetch -n {NAMESPACE} --create-namespace"
        f" --set image.repository={registry}/modelprefetch --set image.digest={image.digest}"
        f" --set-json 'insecureRegistries=[\"{pod_registry}\"]' {' '.join(toleration_values())}"
    )
    started = time.monotonic()
    Helm(cluster).install(image, registry, pod_registry)

    def ready_on_two_nodes() -> list[dict[str, Any]] | None:
        pods = operator_pods(cluster)
        nodes_of = {p["spec"].get("nodeName") for p in pods}
        ok = len(pods) == 2 and all(is_ready(p) for p in pods) and len(nodes_of) == 2
        return pods if ok else None

    try:
        wait_for("2 operator replicas Ready on 2 nodes", ready_on_two_nodes, 300, 2)
    except AssertionError as exc:
        raise SystemExit(f"{exc}\n{diagnostics(cluster)}") from None
    print(f"2 operator replicas Ready in {time.monotonic() - started:.0f}s")


def modeldeployment(reference: str) -> None:
    """The sample, pointed at the demo's model; the real nodes' harness taint tolerated.
    The crane registry takes no credentials, so the sample's pull secret is dropped."""
    md = yaml.safe_load(SAMPLE.read_text())
    md["spec"]["model"]["reference"] = reference
    md["spec"]["model"].pop("pullSecrets", None)
    md["spec"]["nodes"]["tolerations"].append(TOLERATION)
    print(yaml.safe_dump(md, sort_keys=False), end="")


def reader(node: str, busybox: str, md: dict[str, Any]) -> dict[str, Any]:
    """A pod labelled like the sample's workload, on `node`, that prints the sha256 of
    every file under the mount path (the webhook adds the volume and the mount)."""
    mount = md["spec"]["mount"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"reader-{node}",
            "namespace": WORKLOAD_NAMESPACE,
            "labels": dict(mount["podSelector"]["matchLabels"]),
        },
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [TOLERATION],
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": mount["containers"][0],
                    "image": busybox,
                    "command": ["sh", "-c", f"{CHECKSUM_SCRIPT}; exec sleep 86400", "sh"],
                    "args": [mount["path"]],
                }
            ],
        },
    }


def readers(model_dir: str) -> None:
    nodes, state = attach()
    cluster = nodes.cluster
    md = yaml.safe_load(SAMPLE.read_text())
    busybox = f"{state['registries']['crane']['host']}/e2e/busybox:latest"
    expected = checksums(Path(model_dir))
    for node in nodes.nodes:
        pod = reader(node.name, busybox, md)
        created = json.loads(
            cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(pod)).stdout
        )
        volume = next((v for v in created["spec"]["volumes"] if "image" in v), None)
        if volume is None:
            raise SystemExit(f"{pod['metadata']['name']}: the webhook did not add the model")
        print(f"pod/{pod['metadata']['name']} on {node.name}: volume {json.dumps(volume)}")
    failed = []
    for node in nodes.nodes:
        name = f"reader-{node.name}"

        def logs(name: str = name) -> str | None:
            out = cluster.kubectl("logs", "-n", WORKLOAD_NAMESPACE, name, check=False)
            return out.stdout if DONE in out.stdout else None

        try:
            text = wait_for(f"{name} checksums", logs, timeout=180, interval=1)
        except AssertionError as exc:
            raise SystemExit(f"{exc}\n{diagnostics(cluster)}") from None
        got = parse_checksums(text)
        print(f"$ kubectl logs {name}")
        for path, digest in got.items():
            print(f"  {digest}  {path}  {'ok' if expected.get(path) == digest else 'WRONG'}")
        if got != expected:
            failed.append(name)
    if failed:
        raise SystemExit(f"checksums differ from {model_dir} in {failed}")
    print(f"{len(nodes.nodes)} pods read all {len(expected)} files with the right sha256")


def main() -> None:
    commands = {"install": install, "modeldeployment": modeldeployment, "readers": readers}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: {sys.argv[0]} {'|'.join(commands)} ARG")
    commands[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
