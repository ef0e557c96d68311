"""`modelprefetch convert REF`: publish the mountable OCI image of an existing model.

For a ModelPack made elsewhere (e.g. `modctl build` with raw layers) or a Docker model:
derive the OCI image containerd can mount and attach it to REF as a referrer. Tar
layers cost two small uploads; raw layers are re-streamed into tar layers registry to
registry. Idempotent: an existing derived image is reported, not rebuilt.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from modelprefetch.oci.cliargs import (
    add_platform_argument,
    add_registry_arguments,
    registry_client,
    run_async,
)
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.resolve import resolve


def register(subparsers: Any) -> None:
    """Add the `convert` subcommand."""
    parser = subparsers.add_parser(
        "convert",
        help="add the mountable OCI image to an existing ModelPack",
        description=(
            "Derive the OCI image of the model at REF and attach it as a referrer, so that"
            " containerd can mount it as an image volume."
        ),
    )
    parser.add_argument("reference", metavar="REF")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_platform_argument(parser)
    add_registry_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    ref = parse_reference(args.reference)
    console = Console(stderr=True)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        disable=args.no_progress or not console.is_terminal,
    )

    async def main() -> dict[str, Any]:
        async with registry_client(args, ref) as client:
            artifact = await resolve(client, str(ref))
            existed = artifact.derived_image is not None
            with progress:
                task = progress.add_task("re-streaming raw layers", total=artifact.size_bytes)
                derived = await ensure_derived_image(
                    client,
                    artifact,
                    platform=args.platform,
                    progress=lambda n: progress.advance(task, n),
                )
        return {
            "reference": artifact.pinned_reference,
            "kind": artifact.kind.value,
            "derivedImage": derived,
            "alreadyPublished": existed or derived == artifact.pinned_reference,
        }

    result = run_async(main)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(result["derivedImage"])
        if result["alreadyPublished"]:
            print("already mountable: nothing published", file=sys.stderr)
    return 0
