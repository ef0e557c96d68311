"""Scale: the operator against a bare DaemonSet on hundreds to thousands of kwok nodes.

    python e2e/bench/bench_scale.py                           # 500, 1,000, 2,000, 5,000
    python e2e/bench/bench_scale.py --nodes 200,500 --many-models 0 --webhook-pods 10000
    python e2e/bench/bench_scale.py --nodes 1000 --waves 100% --many-models 0 --webhook-pods 0

One local cluster (e2e/cluster) with an audit log of two users (the operator's
ServiceAccount and the DaemonSet controller), longer node-monitor grace periods (kwok
heartbeats run late with thousands of nodes on 2 cores), and a simulated model pull:
pods with an image volume turn Ready after a delay drawn uniformly from --pull-ms
(kwok stage, e2e/cluster/kwok_pull.py), so maxConcurrentNodes waves cost time. The real
operator runs as in the e2e tests (e2e/operator_process.py: its own process, the chart's
ServiceAccount), with the production resync period.

For each N of --nodes (ascending; the pool grows, nodes are never removed), one case at
a time, each in its own namespace, deleted before the next:
  idle        no ModelDeployment: what N nodes (and their heartbeats) cost the operator
  baseline    a DaemonSet whose pod mounts the same image volume on the N nodes
  ours 100%   a ModelDeployment on the N nodes, maxConcurrentNodes 100%
  ours 10%    the same with 10% (--waves lists the maxConcurrentNodes values)
  K models    --many-models ModelDeployments (distinct models) when N == --many-models-nodes
Then, with --webhook-pods > 0: the webhook case (scale_webhook.py).

Per case: seconds from creation to N/N Ready (the object's own status), to every pod
Ready, to the first progress in status, and of cleanup; the operator's CPU seconds and
peak RSS (/proc) in the rollout window; requests by verb and resource of the operator
and the DaemonSet controller with bytes sent (audit log), rollout and cleanup windows;
sizes of what was written (status, DaemonSets, node labels). Printed as tables with
ratios ours/baseline; all figures in .tmp/bench/scale-<time>.json. Figures taken on a
shared machine are measured under contention: the load average is recorded per case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`make bench`): make `e2e` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from e2e.bench import scale_cases, scale_webhook
from e2e.bench.scale_audit import AuditLog, audit_policy, summarize
from e2e.bench.scale_cases import AUDITED, Bench
from e2e.bench.scale_cluster import Kube, ProcessMeter, ScaleTuning, grow_pool
from e2e.bench.scale_report import (
    DS_CONTROLLER,
    CaseResult,
    format_requests,
    format_table,
    ratios,
)
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries, start_registries
from e2e.cluster.tools import REPO_ROOT
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.webhook.workloads import wait_ca_bundles


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--nodes wants numbers like 500,1000: {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("--nodes wants positive node counts")
    return sizes


def _pull(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        pair = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants LOW-HIGH milliseconds: {text!r}") from None
    if not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"wants 0 <= LOW <= HIGH milliseconds: {text!r}")
    return pair


def _waves(text: str) -> list[str]:
    waves = [part.strip() for part in text.split(",") if part.strip()]
    if not waves or not all(w.removesuffix("%").isdigit() for w in waves):
        raise argparse.ArgumentTypeError(f"--waves wants values like 100%,10%,50: {text!r}")
    return waves


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=_sizes, default=[500, 1000, 2000, 5000])
    parser.add_argument("--pull-ms", type=_pull, default=(2000, 8000), help="LOW-HIGH")
    parser.add_argument(
        "--waves", type=_waves, default=["100%", "10%"], help="maxConcurrentNodes per ours case"
    )
    parser.add_argument("--many-models", type=int, default=20, help="0 skips the case")
    parser.add_argument("--many-models-nodes", type=int, default=1000)
    parser.add_argument("--webhook-pods", type=int, default=10000, help="0 skips the case")
    parser.add_argument("--webhook-rate", type=float, default=100)
    parser.add_argument("--webhook-count", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=1800, help="per case, seconds")
    parser.add_argument("--grace-seconds", type=int, default=900, help="node-monitor grace")
    parser.add_argument(
        "--tuning",
        action="store_true",
        help="slower kwok heartbeats, wider apiserver/QPS limits, etcd quota (ScaleTuning;"
        " experimental: a tuned 1,000-node run stalled, docs/scale.md)",
    )
    parser.add_argument(
        "--heartbeat-ms",
        type=_pull,
        default=None,
        help="LOW-HIGH: kwok node status heartbeats this far apart, alone (kwok's stock"
        " 15-40 s otherwise; real kubelets patch an unchanged Node status every 5 min)",
    )
    parser.add_argument(
        "--controller-qps",
        type=int,
        default=None,
        help="kube-controller-manager and kube-scheduler --kube-api-qps (burst twice that),"
        " alone (stock 20/30 and 50/100: the DaemonSet controller then makes at most 20"
        " requests/s, pod creations and its own status writes together)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".tmp" / "bench")
    return parser.parse_args(argv)


def save(args: argparse.Namespace, results: list[CaseResult], webhook: object) -> Path:
    """Write the figures so far (after every case: an interrupted run keeps them)."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scale-{args.started}.json"
    figures = {
        "measured_under": f"shared {os.cpu_count()}-core machine; load average per case",
        "tuning": ScaleTuning(args.grace_seconds).to_json() if args.tuning else None,
        "heartbeat_ms": args.heartbeat_ms,
        "controller_qps": args.controller_qps,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "cases": [case.to_json() for case in results],
        "ratios": ratios(results),
        "webhook": webhook,
    }
    path.write_text(json.dumps(figures, indent=1))
    return path


async def run_sizes(
    bench: Bench, args: argparse.Namespace, results: list[CaseResult]
) -> list[CaseResult]:
    def done(case: CaseResult) -> None:
        results.append(case)
        print(format_table(results).splitlines()[-1], flush=True)  # with its ratio
        save(args, results, None)

    for n in args.nodes:
        grown = await grow_pool(bench.kube, scale_cases.POOL, n)
        print(f"== {n} nodes Ready ({grown:.0f}s to add them)", flush=True)
        done(await bench.idle(n, args.idle_seconds))
        if not args.skip_baseline:
            done(await bench.baseline(n))
        for max_concurrent in args.waves:
            done(await bench.ours(n, max_concurrent, count=1))
        if args.many_models and n == args.many_models_nodes:
            done(await bench.ours(n, "100%", count=args.many_models))
    return results


def report(args: argparse.Namespace, results: list[CaseResult], webhook: object) -> Path:
    print("\n" + format_table(results))
    print("\n" + json.dumps(ratios(results), indent=1))
    print("\n" + format_requests(results))
    print("\n" + format_requests(results, who=DS_CONTROLLER, top=6))
    path = save(args, results, webhook)
    print(f"\nfigures: {path}")
    return path


async def main_async(args: argparse.Namespace, workdir: Path, logdir: Path) -> int:
    tuning = (
        ScaleTuning(args.grace_seconds).cluster_kwargs()
        if args.tuning
        else {"node_monitor_grace_seconds": args.grace_seconds}
    )
    if args.heartbeat_ms is not None:
        low, high = args.heartbeat_ms
        tuning["node_heartbeat_ms"] = (low, high - low)  # kwok: delay + jitter
    if args.controller_qps is not None:
        qps = (
            f"--kube-api-qps={args.controller_qps}",
            f"--kube-api-burst={2 * args.controller_qps}",
        )
        tuning["extra_args"] = {"kube-controller-manager": list(qps), "kube-scheduler": list(qps)}
    cluster = LocalCluster(
        workdir=workdir / "cluster",
        logdir=logdir,
        audit_policy=audit_policy(list(AUDITED)),
        pull_delay_ms=args.pull_ms,
        **tuning,
    )
    registries: Registries | None = None
    operator: OperatorProcess | None = None
    try:
        cluster.start()
        registries = start_registries(workdir / "registries", logdir)
        models = max(1, args.many_models)
        references = []
        for i in range(models):
            reference = f"{registries.distribution.host}/models/scale-{i}:v1"
            model = make_model_dir(workdir / f"model-{i}", seed=f"scale-{i}")
            await asyncio.to_thread(push_model, model, reference)  # it runs its own loop
            references.append(reference)
        operator = OperatorProcess(
            cluster=cluster,
            registries=registries,
            logdir=logdir,
            extra_env={"MODELPREFETCH_RESYNC_SECONDS": "60"},  # the production default
        )
        operator.install()
        operator.start()
        assert operator.proc is not None
        wait_ca_bundles(cluster)
        async with Kube(cluster.kubeconfig) as kube:
            bench = Bench(
                kube=kube,
                meter=ProcessMeter(operator.proc.pid),
                audit=AuditLog(cluster.audit_log),
                references=references,
                volume=await scale_cases.mountable(references[0]),
                timeout=args.timeout,
            )
            print(f"logs: {logdir}; pull {args.pull_ms} ms", flush=True)
            # The operator's start (its initial lists and watches) before any node exists.
            startup = CaseResult(case="startup", nodes=0, models=0)
            startup.requests = summarize(bench.audit.take(), AUDITED)
            results = await run_sizes(bench, args, [startup])
            webhook = None
            if args.webhook_pods:
                webhook = await scale_webhook.run(
                    bench, cluster, operator, args.webhook_pods, args.webhook_rate,
                    args.webhook_count,
                )  # fmt: skip
                print(json.dumps(webhook, indent=1), flush=True)
        report(args, results, webhook)
        refused = operator.forbidden_lines()
        if refused:
            print("the operator was refused by RBAC:\n" + "\n".join(refused[:10]))
            return 1
        return 0
    finally:
        if operator is not None:
            operator.stop()
        if registries is not None:
            registries.stop()
        cluster.stop()


def main() -> int:
    args = parse_args()
    args.started = time.strftime("%Y%m%d-%H%M%S")
    base = REPO_ROOT / ".tmp" if (REPO_ROOT / ".tmp").is_dir() else None
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=base))
    logdir = workdir / "logs"
    logdir.mkdir()
    try:
        return asyncio.run(main_async(args, workdir, logdir))
    finally:
        for child in workdir.iterdir():
            if child.name != "logs":
                shutil.rmtree(child, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
