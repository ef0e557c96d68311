"""`modelprefetch run`: the operator (reconcile loops, webhooks, metrics, health)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the operator",
        description="Run the operator. Settings come from MODELPREFETCH_* environment "
        "variables (see modelprefetch/settings.py); flags override them.",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster)")
    parser.add_argument("--namespace", help="the operator's namespace (leader Lease, certs)")
    parser.add_argument(
        "--no-leader-election",
        action="store_true",
        help="reconcile without holding the leader Lease",
    )
    parser.add_argument("--no-webhook", action="store_true", help="do not serve the webhooks")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text lines, or one JSON object per line (default: MODELPREFETCH_LOG_FORMAT, text)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from modelprefetch.logs import configure_logging
    from modelprefetch.operator_main import run_operator
    from modelprefetch.settings import Settings

    overrides: dict[str, Any] = {}
    if args.kubeconfig:
        overrides["kubeconfig"] = args.kubeconfig
    if args.namespace:
        overrides["namespace"] = args.namespace
    if args.no_leader_election:
        overrides["leader_election"] = False
    if args.no_webhook:
        overrides["webhook_enabled"] = False
    if args.log_format:
        overrides["log_format"] = args.log_format
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(run_operator(settings))
    except KeyboardInterrupt:
        return 0
