"""`modelprefetch crd`: print the ModelDeployment CRD generated from the API models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `crd` subcommand."""
    parser = subparsers.add_parser(
        "crd",
        help="print the ModelDeployment CustomResourceDefinition",
        description="Print the ModelDeployment CRD (YAML) generated from the API models.",
    )
    parser.add_argument(
        "--output", "-o", type=Path, help="write to this file instead of standard output"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: pydantic and the models are not needed by other subcommands.
    from modelprefetch.api.crd import render_crd_yaml

    text = render_crd_yaml()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0
