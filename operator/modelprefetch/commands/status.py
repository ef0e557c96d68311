"""`modelprefetch status NAME`: a ModelDeployment's prefetch progress, like `kubectl
rollout status`: an overall bar, nodes per phase, the ETA, and the slowest and failing
nodes (status.progress lists at most 10 of each, whatever the fleet size).

Exit codes: 0 Ready; 1 failed (Ready is False for a reason that is not progress, e.g.
NodesFailed, InvalidSpec, a registry error) or --timeout passed; 2 the ModelDeployment
does not exist (or bad arguments); 3 not Ready yet (without --watch).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from modelprefetch.core.status import PROGRESS_REASONS
from modelprefetch.core.waves import parse_time
from modelprefetch.errors import KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.config import load_config
from modelprefetch.k8s.resources import MODELDEPLOYMENTS

EXIT_READY, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_NOT_READY = 0, 1, 2, 3
BAR_WIDTH = 30
PHASE_ORDER = ("ready", "verifying", "pulling", "pending", "failed")
# Reasons of Ready=False that mean "still working on it", not "failed".
WAITING_REASONS = PROGRESS_REASONS | {"RefreshFailed", ""}


def register(subparsers: Any) -> None:
    """Add the `status` subcommand."""
    parser = subparsers.add_parser(
        "status",
        help="show a ModelDeployment's prefetch progress node by node",
        description=(
            "Show the prefetch progress of ModelDeployment NAME: nodes per phase, an ETA and"
            " the slowest and failing nodes. With --watch, follow it until it is Ready (exit"
            " 0) or fails (exit 1), like `kubectl rollout status`."
        ),
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("-w", "--watch", action="store_true", help="follow until Ready/failed")
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="with --watch: give up after SECONDS (0: never)"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="with --watch: seconds between reads"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file(s) (default: $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.timeout < 0 or args.interval <= 0:
        print("error: --timeout must be >= 0 and --interval > 0", file=sys.stderr)
        return EXIT_NOT_FOUND
    return asyncio.run(follow(args, sys.stdout))


async def follow(args: argparse.Namespace, out: TextIO) -> int:
    """Read (and with --watch, re-read) the ModelDeployment and print its progress."""
    config = await load_config(args.kubeconfig, args.context)
    namespace = args.namespace or config.namespace
    live = out.isatty()
    deadline = time.monotonic() + args.timeout if args.timeout else None
    shown, last = 0, None
    async with KubeClient(config) as kube:
        while True:
            try:
                md = await kube.get(MODELDEPLOYMENTS, args.name, namespace)
            except KubernetesNotFoundError:
                print(
                    f"error: ModelDeployment {args.name!r} not found in namespace"
                    f" {namespace!r}; list them with: kubectl get modeldeployments -n {namespace}",
                    file=sys.stderr,
                )
                return EXIT_NOT_FOUND
            lines = render(md, datetime.now(UTC))
            seen = (md.get("metadata", {}).get("generation"), md.get("status"))
            if live and shown:
                out.write(f"\x1b[{shown}F\x1b[J")  # redraw in place: ages keep ticking
            if live or seen != last:
                if shown and not live:
                    out.write("\n")  # one block per change, apart
                out.write("\n".join(lines) + "\n")
                out.flush()
                shown, last = len(lines), seen
            result = outcome(md)
            if result != EXIT_NOT_READY:
                out.write(verdict_line(md, result) + "\n")
                return result
            if not args.watch:
                return EXIT_NOT_READY
            if deadline is not None and time.monotonic() >= deadline:
                out.write(f"error: not Ready after {args.timeout:g}s\n")
                return EXIT_FAILED
            await asyncio.sleep(args.interval)


def _ready_condition(md: Mapping[str, Any]) -> Mapping[str, Any]:
    for condition in (md.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return dict(condition)
    return {}


def outcome(md: Mapping[str, Any]) -> int:
    """EXIT_READY, EXIT_FAILED or EXIT_NOT_READY for the ModelDeployment as read."""
    status = md.get("status") or {}
    generation = (md.get("metadata") or {}).get("generation")
    if generation is not None and status.get("observedGeneration") != generation:
        return EXIT_NOT_READY  # the operator has not looked at this spec yet
    ready = _ready_condition(md)
    if ready.get("status") == "True":
        return EXIT_READY
    return EXIT_NOT_READY if ready.get("reason", "") in WAITING_REASONS else EXIT_FAILED


def verdict_line(md: Mapping[str, Any], result: int) -> str:
    meta = md.get("metadata") or {}
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    nodes = (md.get("status") or {}).get("nodes") or {}
    ready = _ready_condition(md)
    if result == EXIT_READY:
        return f'modeldeployment "{name}" is Ready on {nodes.get("ready", 0)} nodes'
    return f'modeldeployment "{name}" failed: {ready.get("reason")}: {ready.get("message", "")}'


def progress_bar(ready: int, desired: int, width: int = BAR_WIDTH) -> str:
    """`[#########---------]  50%`: ready out of desired nodes."""
    fraction = ready / desired if desired else 0.0
    filled = min(width, int(fraction * width))
    return f"[{'#' * filled}{'-' * (width - filled)}] {int(fraction * 100):3d}%"


def duration(seconds: float) -> str:
    """kubectl-style: 45s, 3m20s, 2h05m."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def age(since: str | None, now: datetime) -> str:
    """How long ago `since` (RFC 3339) was; "-" when unknown."""
    moment = parse_time(since)
    return "-" if moment is None else duration((now - moment).total_seconds())


def eta_text(eta: str | None, now: datetime) -> str:
    moment = parse_time(eta)
    if moment is None:
        return "ETA unknown"
    clock = moment.astimezone(UTC).strftime("%H:%M:%SZ")
    left = (moment - now).total_seconds()
    return f"ETA {clock} (due)" if left <= 0 else f"ETA {clock} (in {duration(left)})"


def render(md: Mapping[str, Any], now: datetime) -> list[str]:
    """The status as lines of text: headline, bar, per-phase counts, the listed nodes."""
    meta, status = md.get("metadata") or {}, md.get("status") or {}
    nodes = status.get("nodes") or {}
    progress = status.get("progress") or {}
    phases = progress.get("phases") or {}
    desired, ready = int(nodes.get("desired", 0)), int(nodes.get("ready", 0))
    resolved = status.get("resolved") or {}
    model = resolved.get("reference") or (md.get("spec") or {}).get("model", {}).get("reference")
    digest = resolved.get("shortDigest")
    lines = [
        f"ModelDeployment {meta.get('namespace')}/{meta.get('name')}: {model}"
        + (f" @ {digest}" if digest else ""),
    ]
    counts = "  ".join(f"{phase} {int(phases.get(phase, 0))}" for phase in PHASE_ORDER)
    if not phases:  # an operator without status.progress: the coarse counts
        counts = "  ".join(
            f"{state} {int(nodes.get(state, 0))}"
            for state in ("ready", "pulling", "waiting", "failed")
        )
    lines.append(
        f"{progress_bar(ready, desired)}  {ready}/{desired} nodes  {counts}"
        f"  {eta_text(progress.get('eta'), now) if ready < desired else ''}".rstrip()
    )
    listed = list(progress.get("slowest") or ()) + list(progress.get("failing") or ())
    if listed:
        lines.append(f"  {'NODE':<28} {'PHASE':<10} {'FOR':>8}  DETAIL")
        for entry in listed:
            detail = ": ".join(x for x in (entry.get("reason"), entry.get("message")) if x)
            lines.append(
                f"  {entry.get('name')!s:<28} {entry.get('phase')!s:<10}"
                f" {age(entry.get('since'), now):>8}  {detail}".rstrip()
            )
    ready_condition = _ready_condition(md)
    if ready_condition and ready_condition.get("status") != "True":
        lines.append(f"  {ready_condition.get('reason')}: {ready_condition.get('message', '')}")
    return lines
