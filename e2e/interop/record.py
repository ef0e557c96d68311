"""Record what a tool wrote (for observed_tools.json): its manifest, config and layers.

    python -m e2e.interop.record NAME REFERENCE TOOL VERSION COMMIT 'COMMAND' > run.json

REFERENCE is the artifact the tool pushed to a plain-HTTP loopback registry. The output
is one entry of observed_tools.json["runs"]: what e2e/interop/replay.py needs to write
the same shape again. This reads a registry; it never builds or runs the tool.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import io
import json
import sys
import tarfile
from typing import Any

from modelprefetch.oci import mediatypes as mt
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference


def _tar_member(blob: bytes) -> tuple[str | None, str | None]:
    """(member name, compression) of a one-file tar layer; (None, None) for raw bytes."""
    for compression, data in (("gzip", None), (None, blob)):
        try:
            raw = gzip.decompress(blob) if compression else data
            with tarfile.open(fileobj=io.BytesIO(raw or b"")) as archive:
                files = [m.name for m in archive.getmembers() if m.isfile()]
        except (OSError, tarfile.TarError, EOFError):
            continue
        if len(files) == 1:
            return files[0], compression
    return None, None


async def record(reference: str) -> dict[str, Any]:
    ref = parse_reference(reference)
    async with RegistryClient(plain_http=True) as client:
        fetched = await client.get_image_manifest(ref, None)
        manifest = fetched.document
        config = await client.get_blob(ref, manifest["config"]["digest"])
        layers = []
        for layer in manifest["layers"]:
            member, compression = _tar_member(await client.get_blob(ref, layer["digest"]))
            annotations = layer.get("annotations", {})
            path = next((annotations[k] for k in mt.FILEPATH_ANNOTATIONS if k in annotations), None)
            entry = {
                "file": path or member,
                "mediaType": layer["mediaType"],
                "annotations": annotations,
                "tarMember": member,
            }
            if compression:
                entry["compression"] = compression
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
    name, reference, tool, version, commit, command = argv
    run = {
        "tool": tool,
        "version": version,
        "commit": commit,
        "command": command,
        "date": datetime.date.today().isoformat(),
        **asyncio.run(record(reference)),
    }
    json.dump({name: run}, sys.stdout, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
