"""`python -m e2e.cluster up|down|status`: the local cluster behind `make cluster-up`.

State (pids, ports, kubeconfig) lives in the work folder (default `.tmp/cluster`, or
$MODELPREFETCH_CLUSTER_DIR); `up` twice is a no-op while the first is alive, and `down`
stops everything it started and removes the folder except the logs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from e2e.cluster import images, procs, project_image
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.realnode import RealNode
from e2e.cluster.registries import Registries, start_registries
from e2e.cluster.tools import REPO_ROOT


def workdir() -> Path:
    return Path(os.environ.get("MODELPREFETCH_CLUSTER_DIR", REPO_ROOT / ".tmp" / "cluster"))


def up(args: argparse.Namespace) -> int:
    root = workdir()
    state_file = root / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if all(p.alive() for p in procs.load(root / "procs.json")):
            print(f"cluster already up: KUBECONFIG={state['kubeconfig']}")
            return 0
        down(args)
    logdir = root / "logs"
    cluster = LocalCluster(workdir=root, logdir=logdir)
    node = None
    try:
        cluster.start()
        regs = start_registries(root, logdir)
        for i in range(args.nodes):
            cluster.add_fake_node(f"kwok-node-{i}", runtime=args.runtime)
        if args.real_node:
            node = start_real_node(cluster, regs, root, logdir)
    except BaseException:
        if node is not None:
            node.stop()
        cluster.stop()
        raise
    every = cluster.procs + [r.proc for r in regs.all() if r.proc]
    procs.save(every, root / "procs.json")
    state = {
        "kubeconfig": str(cluster.kubeconfig),
        "logs": str(logdir),
        "registries": {
            r.name: {
                "host": r.host,
                "referrersApi": r.referrers_api,
                "username": r.username,
                "password": r.password,
            }
            for r in regs.all()
        },
    }
    if node is not None:
        state["realNode"] = node.to_state()
    state_file.write_text(json.dumps(state, indent=1))
    print(f"cluster up: export KUBECONFIG={cluster.kubeconfig}")
    if node is not None:
        print(f"real node {node.name}: containerd {node.socket}, kubelet log {node.logdir}")
    for r in regs.all():
        print(f"registry {r.name}: {r.host} (referrers API: {r.referrers_api})")
    print(f"logs: {logdir}")
    return 0


def start_real_node(cluster: LocalCluster, regs: Registries, root: Path, logdir: Path) -> RealNode:
    """containerd + kubelet joined to `cluster`, with the e2e images in the crane registry:
    busybox for workloads and the project's own image (the Dockerfile, via hack/image.sh)."""
    images.push(images.busybox_image(), f"{regs.crane.host}/e2e/busybox:latest")
    built = project_image.build_and_push(regs.crane.host, log=logdir / "image-build.log")
    print(f"project image: {built.reference} ({built.seconds:.0f}s)")
    node = RealNode(
        cluster=cluster,
        registry_hosts=[r.host for r in regs.all()],
        pause_registry=regs.crane.host,
        workdir=root / "realnode",
        logdir=logdir / "realnode",
    )
    node.start()
    return node


def down(_: argparse.Namespace) -> int:
    root = workdir()
    state_file = root / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if "realNode" in state:  # pods, mounts, shims and cgroups first, then the processes
            handle = LocalCluster(workdir=root, logdir=root / "logs")
            RealNode.attach(handle, state["realNode"]).stop()
    for proc in reversed(procs.load(root / "procs.json")):
        procs.stop(proc)
    if root.exists():
        for child in root.iterdir():
            if child.name != "logs":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    print("cluster down")
    return 0


def status(_: argparse.Namespace) -> int:
    root = workdir()
    plist = procs.load(root / "procs.json")
    if not plist:
        print("cluster not running")
        return 1
    state_file = root / "state.json"
    if state_file.exists() and "realNode" in (state := json.loads(state_file.read_text())):
        node = RealNode.attach(LocalCluster(workdir=root, logdir=root / "logs"), state["realNode"])
        plist += [p for p in (node.containerd, node.kubelet) if p is not None]
    for p in plist:
        print(f"{p.name:28} pid {p.pid:<8} {'up' if p.alive() else 'DEAD'}  log {p.log}")
    return 0 if all(p.alive() for p in plist) else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.cluster")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the local cluster and registries")
    p_up.add_argument("--nodes", type=int, default=3, help="fake nodes to create")
    p_up.add_argument(
        "--runtime", default="containerd://2.2.1", help="containerRuntimeVersion of the fake nodes"
    )
    p_up.add_argument(
        "--real-node",
        action="store_true",
        help="also join a real node (containerd + kubelet, needs root); e2e/realnode uses it",
    )
    p_up.set_defaults(func=up)
    sub.add_parser("down", help="stop everything and clean up").set_defaults(func=down)
    sub.add_parser("status", help="show component processes").set_defaults(func=status)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
