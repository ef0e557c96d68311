"""Write an artifact shaped exactly like one a tool wrote in a recorded run.

observed_tools.json keeps, per recorded run, the manifest (media type, artifactType,
annotations), the config (media type and document) and each layer (media type,
annotations, the file it holds and, for tar layers, the member name and compression).
The recorded run packed the same model tree as the test (tests.oci.modeldir plus
docs/deep/USAGE.md), so each recorded layer names a file of the test's model: we write
that file's bytes in the recorded way, recompute the values that depend on them (file
metadata, diff ids) and keep every other field as the tool wrote it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from modelprefetch.oci import mediatypes as mt

OBSERVED = Path(__file__).resolve().parent / "observed_tools.json"
_METADATA_KEYS = {*mt.FILE_METADATA_ANNOTATIONS}


def recorded_runs() -> dict[str, dict[str, Any]]:
    return dict(json.loads(OBSERVED.read_text())["runs"])


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(model: Path, members: list[str], inline: dict[str, str]) -> bytes:
    """A tar of `members`: files of `model`, or the recorded inline text."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            if member in inline:
                data, mode = inline[member].encode(), 0o644
            else:
                data, mode = (model / member).read_bytes(), (model / member).stat().st_mode
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), mode & 0o777
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _layer(model: Path, recorded: dict[str, Any]) -> tuple[dict[str, Any], bytes, str]:
    """(descriptor, blob, diff id) of one recorded layer, filled with the model's file."""
    path = recorded["file"]
    if recorded.get("tarMembers") is None:
        blob = uncompressed = (model / path).read_bytes()
    else:
        uncompressed = _tar(model, recorded["tarMembers"], recorded.get("inline", {}))
        blob = uncompressed
        if recorded.get("compression") == "gzip":
            blob = gzip.compress(uncompressed, mtime=0)
    annotations = {}
    for key, value in recorded.get("annotations", {}).items():
        if key in _METADATA_KEYS:  # path annotations are kept: the recorded tree is ours
            metadata = json.loads(value)
            stat = (model / path).stat()
            metadata.update(name=Path(path).name, size=stat.st_size, mode=stat.st_mode & 0o777)
            value = json.dumps(metadata, separators=(",", ":"))
        annotations[key] = value
    descriptor = {"mediaType": recorded["mediaType"], "digest": _digest(blob), "size": len(blob)}
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor, blob, _digest(uncompressed)


def _send(request: urllib.request.Request) -> str:
    """Send to the test's loopback registry (always an http:// URL built here); returns
    the Location header, if any."""
    assert request.full_url.startswith("http://"), request.full_url
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
        return str(reply.headers.get("Location") or "")


def _push_blob(host: str, repo: str, data: bytes) -> None:
    start = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST")
    location = _send(start)
    if location.startswith("/"):
        location = f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    url = f"{location}{sep}digest={_digest(data)}"
    put = urllib.request.Request(url, data, method="PUT")  # noqa: S310 (checked in _send)
    put.add_header("Content-Type", "application/octet-stream")
    _send(put)


def _with_diff_ids(document: dict[str, Any], diff_ids: list[str]) -> dict[str, Any]:
    document = json.loads(json.dumps(document))
    for section in ("modelfs", "rootfs"):
        fs = document.get(section)
        if isinstance(fs, dict):
            key = "diffIds" if "diffIds" in fs else "diff_ids"
            fs[key] = diff_ids
    return document


def build_artifact(name: str, model: Path) -> tuple[bytes, list[bytes]]:
    """The manifest and blobs (config first) of the recorded run `name`'s shape, filled
    with `model`. Where the tool wrote raw layers and `model` is the recorded tree, the
    manifest is byte for byte the tool's (tests/test_interop_doc.py checks it)."""
    run = recorded_runs()[name]
    layers = [_layer(model, recorded) for recorded in run["layers"]]
    document = _with_diff_ids(run["config"]["document"], [diff for _, _, diff in layers])
    config = json.dumps(document, separators=(",", ":")).encode()  # Go's encoding/json
    manifest: dict[str, Any] = {"schemaVersion": 2}
    if run["manifest"].get("mediaType"):  # KitOps leaves it out
        manifest["mediaType"] = run["manifest"]["mediaType"]
    if run["manifest"].get("artifactType"):
        manifest["artifactType"] = run["manifest"]["artifactType"]
    manifest["config"] = {
        "mediaType": run["config"]["mediaType"],
        "digest": _digest(config),
        "size": len(config),
    }
    manifest["layers"] = [descriptor for descriptor, _, _ in layers]
    if run["manifest"].get("annotations"):
        manifest["annotations"] = run["manifest"]["annotations"]
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return data, [config, *(blob for _, blob, _ in layers)]


def replay(name: str, model: Path, reference: str) -> str:
    """Push the recorded run `name`'s shape, filled with `model`, to a plain-HTTP
    loopback registry; returns the manifest digest."""
    host, _, rest = reference.partition("/")
    repo, _, tag = rest.rpartition(":")
    data, blobs = build_artifact(name, model)
    for blob in blobs:
        _push_blob(host, repo, blob)
    put = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", data, method="PUT")
    put.add_header("Content-Type", json.loads(data).get("mediaType", mt.OCI_MANIFEST))
    _send(put)
    return _digest(data)
