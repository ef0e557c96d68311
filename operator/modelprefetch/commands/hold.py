"""`modelprefetch hold`: verify the mounted model and keep it in use (prefetch pods)."""

from __future__ import annotations

import argparse
from typing import Any

from modelprefetch import hold


def register(subparsers: Any) -> None:
    """Add the `hold` subcommand."""
    parser = subparsers.add_parser(
        "hold",
        help="verify a mounted model and hold it until terminated (prefetch pods)",
        description=(
            "Check the files under --model-dir against --expected-files, then sleep until"
            " SIGTERM so the model image stays in use. --probe checks a previous success."
        ),
    )
    hold.add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return hold.run(args)
