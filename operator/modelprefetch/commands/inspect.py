"""`modelprefetch inspect REF`: what a model artifact is and where it mounts.

Prints model metadata, layers, size, the derived mountable image if one is published,
and for each container runtime what an image volume of it would show.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from modelprefetch.oci.artifact import MountDecision, ResolvedArtifact
from modelprefetch.oci.cliargs import add_registry_arguments, registry_client, run_async
from modelprefetch.oci.compat import packaged_facts
from modelprefetch.oci.mount import decide_mount, parse_runtime
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.resolve import resolve


def default_runtimes() -> list[str]:
    """Every runtime release in the observed facts (docs/compatibility.md)."""
    releases = [f"{row.runtime}://{'.'.join(map(str, row.version))}" for row in packaged_facts()]
    return list(dict.fromkeys(releases))  # once each, though observed under several kubelets


def register(subparsers: Any) -> None:
    """Add the `inspect` subcommand."""
    parser = subparsers.add_parser(
        "inspect",
        help="show a model artifact's metadata, layers and mountability",
        description="Resolve REF and show what it holds and how each runtime would mount it.",
    )
    parser.add_argument("reference", metavar="REF")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--runtime",
        action="append",
        default=None,
        metavar="NAME://VERSION",
        help="container runtime to judge mountability for (repeatable)",
    )
    add_registry_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    ref = parse_reference(args.reference)

    async def main() -> ResolvedArtifact:
        async with registry_client(args, ref) as client:
            return await resolve(client, str(ref))

    artifact = run_async(main)
    decisions = [
        decide_mount(artifact, parse_runtime(r)) for r in args.runtime or default_runtimes()
    ]
    if args.json:
        json.dump(as_json(artifact, decisions), sys.stdout, indent=2)
        print()
    else:
        render(artifact, decisions, Console())
    return 0


def as_json(artifact: ResolvedArtifact, decisions: list[MountDecision]) -> dict[str, Any]:
    """The artifact and the mount decisions as plain JSON types."""
    document = dataclasses.asdict(artifact)
    document["mountability"] = [
        {
            "runtime": d.runtime.raw,
            "outcome": d.outcome.value,
            "reference": d.reference,
            "needsDerivation": d.needs_derivation,
            "subPathSupported": d.subpath_supported,
            "reason": d.reason,
            "message": d.message,
        }
        for d in decisions
    ]
    return document


def render(artifact: ResolvedArtifact, decisions: list[MountDecision], console: Console) -> None:
    """Human tables: summary, layers, mountability."""
    summary = Table(show_header=False, box=None)
    for key, value in (
        ("Reference", artifact.reference),
        ("Digest", artifact.digest),
        ("Kind", f"{artifact.kind} ({artifact.generation or '-'})"),
        ("Name", artifact.name),
        ("Family", artifact.family),
        ("Format", _format_text(artifact.format, artifact.format_source)),
        ("Parameters", artifact.param_size),
        ("Precision", artifact.precision),
        ("Quantization", artifact.quantization),
        ("Architecture", artifact.architecture),
        ("Layers", f"{len(artifact.layers)} ({artifact.layer_format})"),
        ("Size", human_bytes(artifact.size_bytes)),
        ("Derived image", artifact.derived_image or "none published"),
    ):
        summary.add_row(key, value or "-")
    console.print(summary)
    layers = Table("Kind", "Format", "Size", "Path", "Digest", title="Layers")
    for layer in artifact.layers:
        layers.add_row(
            layer.kind,
            layer.layer_format,
            human_bytes(layer.size),
            layer.path or "-",
            layer.digest[:19],
        )
    console.print(layers)
    mounts = Table("Runtime", "Outcome", "Mount", "Reason", title="Mountability")
    for decision in decisions:
        target = decision.reference or ("derive first" if decision.needs_derivation else "-")
        mounts.add_row(decision.runtime.raw, decision.outcome, target, decision.reason)
    console.print(mounts)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _format_text(model_format: str | None, source: str | None) -> str | None:
    """ "safetensors", or "safetensors (inferred from the files)" when the config lacks it."""
    if model_format is None or source != "files":
        return model_format
    return f"{model_format} (inferred from the files)"
