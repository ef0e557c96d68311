"""Record what a tool wrote (for observed_tools.json): its manifest, config and layers.

    python -m e2e.interop.record NAME REFERENCE TOOL VERSION COMMIT 'COMMAND' TREE > run.json

REFERENCE is the artifact the tool pushed to a plain-HTTP loopback registry. The output
is one entry of observed_tools.json["runs"]: what e2e/interop/replay.py needs to write
the same shape again. Tar members that are not files of TREE (the model directory the
tool packed), such as the Kitfile that `kit init` writes, are kept inline. This reads a
registry; it never builds or runs the tool.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference


def _tar_members(blob: bytes, tree: Path) -> tuple[list[str] | None, str | None, dict[str, str]]:
    """(regular file members, compression, inline members) of a tar layer; (None, None,
    {}) for raw bytes."""
    for compression in ("gzip", None):
        try:
            raw = gzip.decompress(blob) if compression else blob
            with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
                files = [m for m in archive.getmembers() if m.isfile()]
                inline = {
                    m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
                    for m in files
                    if not (tree / m.name).is_file()
                }
        except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError):
            continue
        if files:
            return [m.name for m in files], compression, inline
    return None, None, {}


async def record(reference: str, tree: Path) -> dict[str, Any]:
    ref = parse_reference(reference)
    async with RegistryClient(plain_http=True) as client:
        fetched = await client.get_image_manifest(ref, None)
        manifest = fetched.document
        config = await client.get_blob(ref, manifest["config"]["digest"])
        layers = []
        for layer in manifest["layers"]:
            blob = await client.get_blob(ref, layer["digest"])
            members, compression, inline = _tar_members(blob, tree)
            annotations = layer.get("annotations", {})
            path = next((annotations[k] for k in mt.FILEPATH_ANNOTATIONS if k in annotations), None)
            entry = {
                "file": path or (members[0] if members and len(members) == 1 else None),
                "mediaType": layer["mediaType"],
                "annotations": annotations,
                "tarMembers": members,
            }
            if compression:
                entry["compression"] = compression
            if inline:
                entry["inline"] = inline
            layers.append(entry)
    return {
        "manifestDigest": fetched.digest,
        "manifest": {
            "mediaType": manifest.get("mediaType"),
            "artifactType": manifest.get("artifactType"),
            "annotations": manifest.get("annotations", {}),
        },
        "config": {"mediaType": manifest["config"]["mediaType"], "document": json.loads(config)},
        "layers": layers,
    }


def main(argv: list[str]) -> None:
    name, reference, tool, version, commit, command, tree = argv
    run = {
        "tool": tool,
        "version": version,
        "commit": commit,
        "command": command,
        "date": datetime.date.today().isoformat(),
        **asyncio.run(record(reference, Path(tree))),
    }
    json.dump({name: run}, sys.stdout, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
