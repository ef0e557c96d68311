"""The `modelprefetch` command line: one subcommand per module under `commands/`.

Each module in `modelprefetch.commands` exposes `register(subparsers)` which adds its
parser and sets `func` to a callable `(argparse.Namespace) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from modelprefetch import __version__
from modelprefetch.errors import ModelPrefetchError

COMMAND_MODULES = ("pack", "inspect", "convert", "hold", "run", "crd", "status")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelprefetch",
        description="Prefetch OCI/ModelPack AI models onto Kubernetes nodes.",
    )
    parser.add_argument("--version", action="version", version=f"modelprefetch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"modelprefetch.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"modelprefetch.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = cast("Callable[[argparse.Namespace], int] | None", getattr(args, "func", None))
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except ModelPrefetchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
