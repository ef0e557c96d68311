"""prove_derived: the derived image the operator publishes is provably the verified
content; a derived image with a swapped, extra or resized layer is not."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.resolve import resolve
from modelprefetch.verify.derived import prove_derived
from tests.oci.fakeregistry import FakeRegistry
from tests.oci.modeldir import make_model_dir


async def _derived(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient, *, raw: bool
) -> ResolvedArtifact:
    reference = f"{registry.host}/m/tiny:v1"
    packed = await pack_directory(make_model_dir(tmp_path), PackOptions(name="tiny", raw=raw))
    await push_packed(client, parse_reference(reference), packed)
    artifact = await resolve(client, reference)
    return replace(artifact, derived_image=await ensure_derived_image(client, artifact))


@pytest.mark.parametrize("raw", [False, True])
async def test_published_derived_image_is_proven(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient, raw: bool
) -> None:
    artifact = await _derived(tmp_path, registry, client, raw=raw)
    proof = await prove_derived(client, artifact)
    assert proof is not None and proof.proven
    layers = len(artifact.layers)
    expected = f"{0 if raw else layers} tar layers are the verified blobs (same digests), "
    expected += f"{layers if raw else 0} raw files re-wrapped"
    assert expected in proof.message


def _tampered(registry: FakeRegistry, artifact: ResolvedArtifact, change: str) -> str:
    """A copy of the derived manifest with one change, stored; its pinned reference."""
    assert artifact.derived_image is not None
    name, digest = artifact.derived_image.split("@")
    manifest = json.loads(registry.manifests["m/tiny"][digest][1])
    if change == "swap":
        manifest["layers"][0]["digest"] = registry.put_blob("m/tiny", b"evil")
    elif change == "extra":
        manifest["layers"].append(dict(manifest["layers"][0]))
    elif change == "resize":
        manifest["layers"][0]["size"] += 512
    elif change == "subject":
        manifest["subject"]["digest"] = "sha256:" + "0" * 64
    return f"{name}@{registry.put_manifest('m/tiny', manifest)}"


@pytest.mark.parametrize(
    ("raw", "change", "why"),
    [
        (False, "swap", "not the verified"),
        (False, "extra", "layers, the verified model"),
        (True, "resize", "a one-file tar of"),
        (True, "subject", "is not a referrer of"),
    ],
)
async def test_tampered_derived_image_is_not_proven(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient, raw: bool, change: str, why: str
) -> None:
    artifact = await _derived(tmp_path, registry, client, raw=raw)
    bogus = replace(artifact, derived_image=_tampered(registry, artifact, change))
    proof = await prove_derived(client, bogus)
    assert proof is not None and not proof.proven
    assert why in proof.message
