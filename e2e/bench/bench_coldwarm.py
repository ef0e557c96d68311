"""Workload pod start on a real node: model-less vs warm (prefetched) vs cold, per size.

    python e2e/bench/bench_coldwarm.py                       # 1 GiB and 4 GiB, 5 reps
    python e2e/bench/bench_coldwarm.py --mib 256 --reps 3 --cold-reps 1
    MODELPREFETCH_NODE_RUNTIME=containerd-v2.1.9 python e2e/bench/bench_coldwarm.py

Starts the local control plane, the registries, the real operator and one real node
(kubelet 1.35 + the runtime MODELPREFETCH_NODE_RUNTIME names, default containerd 2.2.9;
e2e/cluster/realnode.py). Per model size, one model of random bytes is pushed and its
mountable OCI image derived exactly as the operator derives it, then the SAME workload
pod (busybox sleeping) is started in three ways:

* model-less: no model volume at all - the baseline a prefetched model should match;
* cold: the pod mounts the model's image as an image volume, nothing prefetched: the
  kubelet pulls it at start. Each cold start has a model of its own (same size, random
  bytes), so none of its bytes is on the node;
* warm: a ModelDeployment prefetches the model (the holder is Ready), then a pod
  labelled `modelprefetch.io/model=<md>` gets the webhook's image volume.

Warm and model-less starts alternate, so each pair shares the machine's load; the figure
that matters is warm minus model-less (goal: under 0.1 s, whatever the size).
Time = from `kubectl create` to phase Running (`kubectl wait`); both kinds pay the same
kubectl overhead, which the difference cancels. "Transferred" = growth of containerd's
content store during the start: a warm start must transfer nothing. Results: RESULT
lines and --json. Needs root (containerd, runc, kubelet); hold
/tmp/modelprefetch-realnode.lock while it runs.
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

from e2e.bench.coldwarm_starts import (
    NAMESPACE,
    Series,
    paired_overhead,
    start,
    workload_pod,
)
from e2e.cluster import images, project_image
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.realnode import LABEL_KEY, TOLERATION, RealNode
from e2e.cluster.registries import Registries, start_registries
from e2e.cluster.tools import default_image_fs_bytes, default_node_runtime
from e2e.models import push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import apply, get_md, wait_ready
from e2e.realnode.helpers import MiB, make_big_model

from modelprefetch.oci import ensure_derived_image, resolve
from modelprefetch.oci.client import RegistryClient

GOAL_SECONDS = 0.1  # warm minus model-less


async def _derive(reference: str) -> str:
    async with RegistryClient(plain_http=True) as client:
        return await ensure_derived_image(client, await resolve(client, reference))


def _model_deployment(name: str, reference: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "model": {"reference": reference},
            "nodes": {"nodeSelector": {LABEL_KEY: "true"}, "tolerations": [TOLERATION]},
            "mount": {"path": "/model"},
        },
    }


def run_size(
    mib: int,
    args: argparse.Namespace,
    workdir: Path,
    cluster: LocalCluster,
    regs: Registries,
    node: RealNode,
    busybox: str,
) -> dict[str, Any]:
    size, name = mib * MiB, f"m{mib}"

    def fresh_model(tag: str) -> str:
        """A model of `size` random bytes never seen by the node (its own digests)."""
        reference = f"{regs.crane.host}/bench/{name}:{tag}"
        push_model(make_big_model(workdir / name, size), reference, raw=args.layers == "raw")
        shutil.rmtree(workdir / name)
        return reference

    # Each cold start gets a model of its own, so the node holds none of its bytes. (Removing
    # one from containerd between starts does not work: after the pod is gone and the
    # image is removed, containerd 2.2 keeps the image volume's snapshot and blobs for
    # minutes.) The node's filesystem is sized for that (main).
    cold = Series()
    for rep in range(args.cold_reps):
        image = asyncio.run(_derive(fresh_model(f"cold{rep}")))
        pod = workload_pod(f"cold-{name}-{rep}", busybox, model=None, volume_ref=image)
        cold.add(start(cluster, node, pod, mounts=[image]))
        if cold.transferred[-1] < size * 9 // 10:
            raise RuntimeError(f"cold start #{rep} pulled {cold.transferred[-1]} B: not cold")
        pulled = cold.transferred[-1] / MiB
        print(f"  {mib} MiB cold #{rep}: {cold.seconds[-1]:.2f}s ({pulled:.0f} MiB)", flush=True)

    reference = fresh_model("warm")  # the prefetch is a real pull too
    apply(cluster, _model_deployment(name, reference))
    prefetch_started = time.monotonic()
    wait_ready(cluster, NAMESPACE, name, "1/1", timeout=1800)
    prefetch = time.monotonic() - prefetch_started
    prefetched = get_md(cluster, NAMESPACE, name)["status"]["resolved"]["mounts"][0]["reference"]

    warm, bare = Series(), Series()
    for rep in range(args.reps):
        pod = workload_pod(f"bare-{name}-{rep}", busybox, model=None, volume_ref=None)
        bare.add(start(cluster, node, pod, mounts=[]))
        pod = workload_pod(f"warm-{name}-{rep}", busybox, model=name, volume_ref=None)
        warm.add(start(cluster, node, pod, mounts=[prefetched]))
        print(
            f"  {mib} MiB model-less #{rep}: {bare.seconds[-1]:.2f}s, warm"
            f" {warm.seconds[-1]:.2f}s ({warm.transferred[-1]} B pulled)",
            flush=True,
        )
    cluster.kubectl("delete", "modeldeployment", name, "-n", NAMESPACE, "--wait=true")
    overhead = paired_overhead(warm, bare)
    result = {
        "mib": mib,
        "prefetchSeconds": round(prefetch, 2),
        "modelLess": bare.to_json(),
        "warm": warm.to_json(),
        "cold": cold.to_json(),
        "warmMinusModelLess": {
            "seconds": [round(o, 3) for o in overhead],
            "p50": round(statistics.median(overhead), 3),
            "max": round(max(overhead), 3),
        },
        "coldOverWarmP50": round(cold.p50 / warm.p50, 2),
        "warmOverModelLessP50": round(warm.p50 / bare.p50, 3),
    }
    print(
        f"RESULT runtime={args.runtime_version} model={mib}MiB reps={args.reps}"
        f" cold_reps={args.cold_reps} | model-less p50 {bare.p50:.2f}s max {bare.max:.2f}s"
        f" | warm p50 {warm.p50:.2f}s max {warm.max:.2f}s"
        f" ({max(warm.transferred)} B pulled max)"
        f" | warm-model-less p50 {statistics.median(overhead):+.3f}s"
        f" max {max(overhead):+.3f}s (goal < {GOAL_SECONDS}s)"
        f" | cold p50 {cold.p50:.2f}s max {cold.max:.2f}s"
        f" ({min(cold.transferred) / MiB:.0f} MiB pulled min)"
        f" | cold/warm {cold.p50 / warm.p50:.1f}x, warm/model-less"
        f" {warm.p50 / bare.p50:.2f}x | prefetch {prefetch:.1f}s",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, nargs="+", default=[1024, 4096], help="sizes")
    parser.add_argument("--reps", type=int, default=5, help="warm and model-less starts")
    parser.add_argument("--cold-reps", type=int, default=2, help="cold starts per size")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--layers",
        choices=("tar", "raw"),
        default="tar",
        help="the ModelPack's layer kind (raw: CRI-O mounts it as it is, warm)",
    )
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
        busybox = f"{regs.crane.host}/e2e/busybox:latest"
        images.push(images.busybox_image(), busybox)
        holder = project_image.build_and_push(regs.crane.host, log=logdir / "image.log").reference
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
        # The node's own image filesystem holds every model of the run twice (blob +
        # unpacked snapshot of the derived image; a model per cold start, one prefetched)
        # and the images around it. A sparse file: the host pays for what is pulled.
        image_fs = sum(2 * m * (args.cold_reps + 1) for m in args.mib) * MiB + 3 * 1024**3
        image_fs = max(default_image_fs_bytes(), image_fs)
        # runtime: MODELPREFETCH_NODE_RUNTIME or the default
        node = group.add("realnode-1", image_fs_bytes=image_fs)
        info = json.loads(cluster.kubectl("get", "node", node.name, "-o", "json").stdout)
        args.runtime_version = info["status"]["nodeInfo"]["containerRuntimeVersion"]
        print(
            f"node {node.name}: {args.runtime_version} ({default_node_runtime() or 'default'}),"
            f" joined {node.join_seconds:.1f}s; logs {logdir}",
            flush=True,
        )
        cluster.kubectl("create", "namespace", NAMESPACE)
        # The workload image is on the node before any start is timed.
        start(cluster, node, workload_pod("busybox-pull", busybox, model=None, volume_ref=None))
        results = [run_size(m, args, workdir, cluster, regs, node, busybox) for m in args.mib]
        if args.json is not None:
            report = {"runtime": args.runtime_version, "layers": args.layers, "sizes": results}
            args.json.write_text(json.dumps(report, indent=1))
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
