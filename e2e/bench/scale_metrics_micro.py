"""Micro-benchmark of the per-model metrics at N nodes (docs/scale.md): the series one
ModelDeployment exposes, the /metrics body and the CPU of one reconcile's metric calls,
every node in a state and prefetched.

    python e2e/bench/scale_metrics_micro.py 1000 5000
    PYTHONPATH=<older checkout>/operator python e2e/bench/scale_metrics_micro.py 5000   # before
"""

from __future__ import annotations

import sys
import time

from prometheus_client import generate_latest

from modelprefetch import metrics


def measure(nodes: int) -> str:
    names = [f"n{i:05d}" for i in range(nodes)]
    states = {n: ("ready" if i % 2 else "pulling") for i, n in enumerate(names)}
    model = f"m{nodes}"

    def reconcile() -> None:
        half = nodes // 2
        metrics.record_model_state(
            "bench", model, desired=nodes, ready=half, pulling=half, waiting=0, failed=0
        )
        if hasattr(metrics, "record_node_states"):  # versions with per-node series
            metrics.record_node_states("bench", model, states)
        else:
            metrics.keep_prefetched_nodes("bench", model, states.keys())
        for i, node in enumerate(names):
            metrics.observe_prefetch("bench", model, node, float(i % 100))

    reconcile()
    started = time.process_time()
    for _ in range(5):
        reconcile()
    cpu_ms = (time.process_time() - started) / 5 * 1000
    series = sum(
        1 for f in metrics.REGISTRY.collect() for s in f.samples if s.labels.get("model") == model
    )
    body = len(generate_latest(metrics.REGISTRY))
    metrics.forget_model("bench", model)
    return f"nodes={nodes} series={series} metrics_bytes={body} cpu_ms_per_reconcile={cpu_ms:.1f}"


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1000", "5000"]:
        print(measure(int(arg)))
