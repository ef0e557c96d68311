"""`modelprefetch pack DIR REF`: a model directory becomes a ModelPack artifact.

One layer per file (uncompressed tar unless --raw), config from flags and from the
files, reproducible digest, resumable push (blobs already there are skipped), and the
derived mountable OCI image published as a referrer unless --no-derive.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from modelprefetch.oci.cliargs import (
    add_platform_argument,
    add_registry_arguments,
    registry_client,
    run_async,
)
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.filelayer import FileLayer
from modelprefetch.oci.pack import PackOptions, PackResult, pack_and_push
from modelprefetch.oci.reference import Reference, parse_reference
from modelprefetch.oci.resolve import resolve


def register(subparsers: Any) -> None:
    """Add the `pack` subcommand."""
    parser = subparsers.add_parser(
        "pack",
        help="pack a model directory into a ModelPack artifact and push it",
        description=(
            "Pack DIR (e.g. a Hugging Face snapshot) into a CNCF ModelPack artifact, push it"
            " to REF and publish its mountable OCI image as a referrer."
        ),
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument("reference", metavar="REF", help="where to push, e.g. ghcr.io/org/model:v1")
    fields = parser.add_argument_group("model config (detected from the files when omitted)")
    for flag, help_text in (
        ("--name", "model name (descriptor.name)"),
        ("--family", "model family, e.g. llama3 (default: config.json model_type)"),
        ("--version", "model version (descriptor.version)"),
        ("--format", "safetensors, gguf, onnx, pt ... (default: from file extensions)"),
        ("--param-size", "parameter count like 8b (default: from safetensors headers)"),
        ("--precision", "bf16, fp16, int8 ... (default: config.json torch_dtype)"),
        ("--quantization", "awq, gptq ..."),
        ("--architecture", "default: config.json architectures[0]"),
        ("--created", "RFC 3339 creation time (omitted by default: reproducible digests)"),
    ):
        fields.add_argument(flag, default=None, help=help_text)
    parser.add_argument("--raw", action="store_true", help="raw layers instead of tar")
    parser.add_argument(
        "--no-derive", action="store_true", help="do not publish the mountable OCI image"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="files hashed/uploaded at once")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="upload in PATCH chunks of this many bytes (default: one PUT per blob)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_platform_argument(parser)
    add_registry_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    ref = parse_reference(args.reference)
    options = PackOptions(
        name=args.name,
        family=args.family,
        version=args.version,
        format=args.format,
        param_size=args.param_size,
        precision=args.precision,
        quantization=args.quantization,
        architecture=args.architecture,
        created=args.created,
        raw=args.raw,
        concurrency=args.concurrency,
    )
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
        with progress:
            async with registry_client(args, ref) as client:
                packed = await _pack_and_push(client, ref, args, options, progress)
                pinned = f"{ref.name}@{packed.digest}"
                derived = None
                if not args.no_derive:
                    artifact = await resolve(client, pinned)
                    derived = await ensure_derived_image(client, artifact, platform=args.platform)
        return {
            "reference": str(ref),
            "digest": packed.digest,
            "pinned": pinned,
            "derivedImage": derived,
            "uploaded": sorted(packed.uploaded),
            "skipped": sorted(packed.skipped),
        }

    result = run_async(main)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(result["pinned"])
        if result["derivedImage"]:
            print(f"mountable image: {result['derivedImage']}")
        print(
            f"{len(result['uploaded'])} layers uploaded, {len(result['skipped'])} already there",
            file=sys.stderr,
        )
    return 0


async def _pack_and_push(
    client: RegistryClient,
    ref: Reference,
    args: argparse.Namespace,
    options: PackOptions,
    progress: Progress,
) -> PackResult:
    hashing = progress.add_task("hashing", total=None)
    uploading = progress.add_task("uploading", total=None)

    def scanned(layers: list[FileLayer]) -> None:
        progress.update(hashing, total=sum(layer.file_size for layer in layers))
        progress.update(uploading, total=sum(layer.size for layer in layers))

    return await pack_and_push(
        client,
        ref,
        args.directory,
        options,
        progress=lambda phase, _path, n: progress.advance(
            hashing if phase == "hash" else uploading, n
        ),
        chunk_bytes=args.chunk_size,
        on_scanned=scanned,
    )
