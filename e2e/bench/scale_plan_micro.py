"""Micro-benchmark of one planner pass at N nodes (docs/scale.md): the CPU a reconcile
spends in `core.planner.plan` while a third of the nodes wait, a third pull and a third
are warm, one mounted digest.

    python e2e/bench/scale_plan_micro.py 1000 5000
    PYTHONPATH=<older checkout>/operator python e2e/bench/scale_plan_micro.py 5000   # before
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.core.helpers import admitted, existing, holder, key, node, warm, world

from modelprefetch.core.planner import plan
from modelprefetch.core.world import HolderPod, NodeInfo, World

REPEAT = 10


def scenario(nodes: int) -> World:
    infos: list[NodeInfo] = []
    holders: list[HolderPod] = []
    for i in range(nodes):
        name, state = f"n{i:05d}", i % 3  # 0 waiting, 1 pulling, 2 warm
        labels = {key(): admitted()} if state else {}
        if state == 2:
            labels[warm()] = "true"
        infos.append(node(name, labels=labels))
        if state:
            holders.append(holder(name, ready=state == 2))
    return world(nodes=tuple(infos), holder_pods=tuple(holders), daemonsets=(existing(),))


def measure(nodes: int) -> str:
    state = scenario(nodes)
    plan(state)  # warm-up: imports, caches
    started = time.process_time()
    for _ in range(REPEAT):
        plan(state)
    cpu_ms = (time.process_time() - started) / REPEAT * 1000
    return f"nodes={nodes} cpu_ms_per_plan={cpu_ms:.1f} us_per_node={cpu_ms * 1000 / nodes:.1f}"


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1000", "5000"]:
        print(measure(int(arg)))
