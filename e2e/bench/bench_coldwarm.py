"""Workload start on a real node with a 1 GiB model: cold (no prefetch) vs warm (prefetched).

    python e2e/bench/bench_coldwarm.py                 # 1 GiB, one cold and one warm start
    python e2e/bench/bench_coldwarm.py --mib 256 --rounds 3

Starts the local control plane, the registries, the real operator and a real node
(containerd 2.2 + kubelet 1.35, e2e/cluster/realnode.py). Each round pushes two fresh
models of random bytes (so nothing is cached), then:

* cold: a pod mounts the model's mountable OCI image (derived exactly as the operator
  derives it) as an image volume; no ModelDeployment, so the kubelet pulls at start;
* warm: a ModelDeployment prefetches the other model onto the node (the holder is Ready),
  then a pod labelled `modelprefetch.io/model=<md>` gets the webhook's image volume.

Time = from `kubectl create` of the pod to its phase Running (watched by `kubectl wait`).
"Transferred" = growth of containerd's content store during the start: the warm start
must transfer nothing. Needs root (it runs containerd, runc and a kubelet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (`make bench`): make `e2e` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from e2e.cluster import images, project_image
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.realnode import LABEL_KEY, TOLERATION, RealNode
from e2e.cluster.registries import Registries, start_registries
from e2e.models import push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import apply, get_md, wait_ready
from e2e.realnode.helpers import MiB, make_big_model, on_real_node

from modelprefetch.oci import ensure_derived_image, resolve
from modelprefetch.oci.client import RegistryClient

NAMESPACE = "bench-coldwarm"


async def _derive(reference: str) -> str:
    async with RegistryClient(plain_http=True) as client:
        return await ensure_derived_image(client, await resolve(client, reference))


def _pod(name: str, busybox: str, *, labels: dict[str, str], volume_ref: str | None) -> Any:
    container: dict[str, Any] = {"name": "app", "image": busybox, "command": ["sleep", "3600"]}
    spec: dict[str, Any] = {"containers": [container]}
    if volume_ref is not None:
        spec["volumes"] = [
            {"name": "model", "image": {"reference": volume_ref, "pullPolicy": "IfNotPresent"}}
        ]
        container["volumeMounts"] = [{"name": "model", "mountPath": "/model", "readOnly": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": on_real_node(spec),
    }


def _start(cluster: LocalCluster, node: RealNode, pod: dict[str, Any]) -> tuple[float, int]:
    """Create `pod`, wait for Running; (seconds, bytes added to containerd's content store)."""
    before = node.content_bytes()
    started = time.monotonic()
    cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    cluster.kubectl(
        "wait",
        "pod",
        pod["metadata"]["name"],
        "-n",
        NAMESPACE,
        "--for=jsonpath={.status.phase}=Running",
        "--timeout=900s",
        timeout=960,
    )
    seconds = time.monotonic() - started
    return seconds, node.content_bytes() - before


def run_round(
    i: int,
    workdir: Path,
    size: int,
    cluster: LocalCluster,
    regs: Registries,
    node: RealNode,
    busybox: str,
) -> dict[str, float]:
    host = regs.crane.host
    cold_ref, warm_ref = f"{host}/bench/cold-{i}:v1", f"{host}/bench/warm-{i}:v1"
    for ref, name in ((cold_ref, "cold"), (warm_ref, "warm")):
        push_model(make_big_model(workdir / f"{name}-{i}", size), ref)
    cold_image = asyncio.run(_derive(cold_ref))

    apply(
        cluster,
        {
            "apiVersion": "modelprefetch.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": f"warm-{i}", "namespace": NAMESPACE},
            "spec": {
                "model": {"reference": warm_ref},
                "nodes": {"nodeSelector": {LABEL_KEY: "true"}, "tolerations": [TOLERATION]},
                "mount": {"path": "/model"},
            },
        },
    )
    prefetch_started = time.monotonic()
    wait_ready(cluster, NAMESPACE, f"warm-{i}", "1/1", timeout=900)
    prefetch = time.monotonic() - prefetch_started
    warm_image = get_md(cluster, NAMESPACE, f"warm-{i}")["status"]["resolved"]["mounts"][0][
        "reference"
    ]

    cold, cold_bytes = _start(
        cluster, node, _pod(f"cold-{i}", busybox, labels={}, volume_ref=cold_image)
    )
    warm_pod = _pod(
        f"warm-{i}", busybox, labels={"modelprefetch.io/model": f"warm-{i}"}, volume_ref=None
    )
    warm, warm_bytes = _start(cluster, node, warm_pod)
    got = json.loads(
        cluster.kubectl("get", "pod", f"warm-{i}", "-n", NAMESPACE, "-o", "json").stdout
    )
    mounted = [v["image"]["reference"] for v in got["spec"].get("volumes", []) if "image" in v]
    if mounted != [warm_image]:
        raise RuntimeError(f"warm pod was not given the prefetched image: {mounted}")
    print(
        f"round {i}: prefetch {prefetch:.2f}s | cold {cold:.2f}s ({cold_bytes / MiB:.0f} MiB"
        f" pulled) | warm {warm:.2f}s ({warm_bytes / MiB:.1f} MiB pulled) |"
        f" cold/warm {cold / warm:.1f}x",
        flush=True,
    )
    return {
        "cold": cold,
        "warm": warm,
        "cold_bytes": cold_bytes,
        "warm_bytes": warm_bytes,
        "prefetch": prefetch,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="model size in MiB")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-coldwarm-"))
    logdir = workdir / "logs"
    logdir.mkdir()
    cluster = LocalCluster(workdir=workdir / "cluster", logdir=logdir)
    regs: Registries | None = None
    operator: OperatorProcess | None = None
    group: RealNodes | None = None
    try:
        cluster.start()
        regs = start_registries(workdir / "registries", logdir)
        started = time.monotonic()
        busybox = f"{regs.crane.host}/e2e/busybox:latest"
        images.push(images.busybox_image(), busybox)
        holder = project_image.build_and_push(regs.crane.host, log=logdir / "image.log").reference
        built = time.monotonic() - started
        operator = OperatorProcess(
            cluster=cluster,
            registries=regs,
            logdir=logdir,
            extra_env={"MODELPREFETCH_HOLDER_IMAGE": holder},
        )
        operator.install()
        operator.start()
        group = RealNodes.create(
            cluster, [r.host for r in regs.all()], regs.crane.host, workdir / "rn", logdir
        )
        node = group.add("realnode-1")
        print(
            f"images built+pushed {built:.1f}s, node joined {node.join_seconds:.1f}s,"
            f" model {args.mib} MiB, logs {logdir}",
            flush=True,
        )
        cluster.kubectl("create", "namespace", NAMESPACE)
        results = [
            run_round(i, workdir, args.mib * MiB, cluster, regs, node, busybox)
            for i in range(args.rounds)
        ]
        cold = statistics.median(r["cold"] for r in results)
        warm = statistics.median(r["warm"] for r in results)
        warm_bytes = max(r["warm_bytes"] for r in results)
        print(
            f"RESULT model={args.mib}MiB rounds={args.rounds} cold_median={cold:.2f}s"
            f" warm_median={warm:.2f}s ratio={cold / warm:.1f}x"
            f" warm_transfer_max={warm_bytes}B"
        )
        return 0
    finally:
        if group is not None:
            group.stop()
        if operator is not None:
            operator.stop()
        if regs is not None:
            regs.stop()
        cluster.stop()
        for child in workdir.iterdir():
            if child.name != "logs":
                shutil.rmtree(child, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
