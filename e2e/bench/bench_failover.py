"""Failover of the in-cluster operator: the leader pod deleted vs its container SIGKILLed.

    python e2e/bench/bench_failover.py                 # 5 rounds of each
    python e2e/bench/bench_failover.py --rounds 3

Starts the local control plane, the registries, two real nodes (e2e/cluster/nodes.py) and
installs the chart with helm exactly as the in-cluster suite does (e2e/incluster), then
alternates rounds (e2e/incluster/failover.py): from two Ready replicas, the Lease holder is
deleted (graceful: it stops kopf and releases the Lease) or SIGKILLed through its node's
containerd (nothing released: the standby waits a lease duration on its own clock).
Per round: seconds from the delete/kill to the new holder in the Lease and to the new
leader's status on a fresh probe ModelDeployment; then p50/max and the ratio to the lease
duration (15 s, the chart's default: the time a standby waits for a leader that vanished
without a word). Every round is also checked for two leaders (Lease samples, logs).
Needs root (it runs containerd, runc and kubelets); hold /tmp/modelprefetch-realnode.lock.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`make bench`): make `e2e` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from e2e.cluster import project_image
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.registries import Registries, start_registries
from e2e.incluster.failover import LEASE_DURATION, Round, failover, never_two_leaders, two_ready
from e2e.incluster.helm import Helm
from e2e.operator_tests.helpers import wait_for

PROBES = "bench-failover"


def _summary(mode: str, rounds: list[Round]) -> str:
    lease = [r.handed_over for r in rounds]
    done = [r.reconciled for r in rounds]
    p50, worst = statistics.median(done), max(done)
    return (
        f"RESULT {mode}: rounds={len(rounds)} reconciled p50={p50:.1f}s max={worst:.1f}s"
        f" (lease {LEASE_DURATION:.0f}s: p50 {p50 / LEASE_DURATION:.2f}x,"
        f" max {worst / LEASE_DURATION:.2f}x); Lease handed over p50="
        f"{statistics.median(lease):.1f}s max={max(lease):.1f}s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-fo-"))  # short: Unix socket paths
    logdir = workdir / "logs"
    logdir.mkdir()
    cluster = LocalCluster(workdir=workdir / "cluster", logdir=logdir)
    regs: Registries | None = None
    nodes: RealNodes | None = None
    try:
        cluster.start()
        regs = start_registries(workdir / "registries", logdir)
        image = project_image.build_and_push(regs.crane.host, log=logdir / "image.log")
        nodes = RealNodes.create(
            cluster, [r.host for r in regs.all()], regs.crane.host, workdir / "rn", logdir / "rn"
        )
        nodes.ensure(2, prefix="failover")
        port = int(regs.crane.host.rsplit(":", 1)[1])
        pod_registry = nodes.network.serve_registry_on_lan(port)
        for node in nodes.nodes:
            node.trust_plain_http([pod_registry])
        started = time.monotonic()
        Helm(cluster).install(image, regs.crane.host, pod_registry)
        wait_for("two Ready replicas", lambda: two_ready(cluster), timeout=300, interval=2)
        print(f"helm install -> 2 Ready in {time.monotonic() - started:.1f}s, logs {logdir}")
        cluster.kubectl("create", "namespace", PROBES)
        rounds: dict[str, list[Round]] = {"delete": [], "sigkill": []}
        broken = 0
        for i in range(args.rounds):
            for mode, done in rounds.items():
                result = failover(cluster, nodes, mode, PROBES, pod_registry)
                done.append(result)
                print(
                    f"round {i + 1} {mode:7}: Lease {result.handed_over:5.1f}s,"
                    f" reconciling {result.reconciled:5.1f}s"
                    f" ({result.reconciled / LEASE_DURATION:.2f}x lease)"
                    f" {result.old_pod} -> {result.new_pod}",
                    flush=True,
                )
                try:
                    never_two_leaders(result)
                except AssertionError as exc:  # report every round, fail at the end
                    broken += 1
                    print(f"  CHECK FAILED: {str(exc)[:2000]}", flush=True)
        for mode, done in rounds.items():
            print(_summary(mode, done))
        return 1 if broken else 0
    finally:
        if nodes is not None:
            nodes.stop()
        if regs is not None:
            regs.stop()
        cluster.stop()
        for child in workdir.iterdir():
            if child.name != "logs":
                shutil.rmtree(child, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
