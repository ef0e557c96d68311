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

from e2e.cluster import procs
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes, push_test_images
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
    real: RealNodes | None = None
    regs: Registries | None = None
    try:
        cluster.start()
        regs = start_registries(root, logdir)
        for i in range(args.nodes):
            cluster.add_fake_node(f"kwok-node-{i}", runtime=args.runtime)
        if args.real_nodes:
            push_test_images(regs.crane.host)
            real = RealNodes.create(
                cluster,
                [r.host for r in regs.all()],
                regs.crane.host,
                root / "realnodes",
                logdir / "realnodes",
            )
            real.ensure(args.real_nodes)
    except BaseException:
        if real is not None:
            real.stop()
        if regs is not None:
            regs.stop()
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
    if real is not None:
        state.update(real.to_state())
    state_file.write_text(json.dumps(state, indent=1))
    print(f"cluster up: export KUBECONFIG={cluster.kubeconfig}")
    for node in real.nodes if real is not None else []:
        print(
            f"real node {node.name}: {node.address} in netns {node.netns},"
            f" containerd {node.socket}, logs {node.logdir}"
        )
    for r in regs.all():
        print(f"registry {r.name}: {r.host} (referrers API: {r.referrers_api})")
    print(f"logs: {logdir}")
    return 0


def down(_: argparse.Namespace) -> int:
    root = workdir()
    state_file = root / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if "realNodes" in state:  # pods, mounts, shims, cgroups, namespaces, then the rest
            handle = LocalCluster(workdir=root, logdir=root / "logs")
            RealNodes.attach(handle, state).stop()
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
    if state_file.exists() and "realNodes" in (state := json.loads(state_file.read_text())):
        real = RealNodes.attach(LocalCluster(workdir=root, logdir=root / "logs"), state)
        plist += real.network.relays
        for node in real.nodes:
            plist += [p for p in (node.containerd, node.kubelet, node.kube_proxy) if p]
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
        "--real-nodes",
        type=int,
        default=0,
        help="also join N real nodes (containerd + kubelet + kube-proxy, each in its own"
        " network namespace; needs root); e2e/realnode uses them",
    )
    p_up.add_argument(
        "--real-node", dest="real_nodes", action="store_const", const=1, help="--real-nodes 1"
    )
    p_up.set_defaults(func=up)
    sub.add_parser("down", help="stop everything and clean up").set_defaults(func=down)
    sub.add_parser("status", help="show component processes").set_defaults(func=status)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
