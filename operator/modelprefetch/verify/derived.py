"""Is a derived OCI image the verified model, and nothing else?

The derived image (oci.derive) is an image manifest next to the signed model manifest;
nobody signed it, so it is trusted only by what can be proven about it:

* a tar layer of the model must appear as the SAME blob (same digest) at the same index:
  identical bytes, nothing to re-check;
* a raw layer (the file itself, digest = the file's sha256) is re-wrapped in a one-file
  tar, a new blob: its size must be exactly that tar's size for the verified path, size
  and mode, and `hold` checks the mounted file's sha256 against the verified layer digest
  on every node (the expected-files list carries it) before the node counts as Ready;
* no extra layers, and the image is for this subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelprefetch.errors import ModelPrefetchError
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.tarstream import normalise_mode, tar_size


@dataclass(frozen=True, slots=True)
class DerivedProof:
    """Whether the derived image provably carries the verified content, and how."""

    proven: bool
    message: str


async def prove_derived(client: RegistryClient, artifact: ResolvedArtifact) -> DerivedProof | None:
    """The proof for `artifact.derived_image`; None when there is no separate image."""
    derived = artifact.derived_image
    if derived is None or artifact.kind is ArtifactKind.OCI_IMAGE:
        return None
    ref = parse_reference(derived)
    try:
        fetched = await client.get_manifest(ref)
    except ModelPrefetchError as exc:
        return DerivedProof(False, f"derived image {derived} cannot be read: {exc.message}")
    layers = fetched.document.get("layers")
    subject = fetched.document.get("subject")
    if not isinstance(subject, dict) or subject.get("digest") != artifact.digest:
        return DerivedProof(
            False, f"derived image {derived} is not a referrer of {artifact.digest}"
        )
    if not isinstance(layers, list) or len(layers) != len(artifact.layers):
        count = len(layers) if isinstance(layers, list) else 0
        return DerivedProof(
            False,
            f"derived image {derived} has {count} layers, "
            f"the verified model {len(artifact.layers)}",
        )
    modes = {file.path: file.mode for file in artifact.files}
    reused = rewrapped = 0
    for index, (mine, theirs) in enumerate(zip(artifact.layers, layers, strict=True)):
        digest = theirs.get("digest") if isinstance(theirs, dict) else None
        size = theirs.get("size") if isinstance(theirs, dict) else None
        if mine.layer_format is not LayerFormat.RAW:
            if digest != mine.digest:
                return DerivedProof(
                    False,
                    f"derived image {derived} layers[{index}] is {digest}, "
                    f"not the verified {mine.digest}",
                )
            reused += 1
            continue
        if mine.path is None:
            return DerivedProof(False, f"verified layers[{index}] has no file path")
        expected = tar_size(mine.path, mine.size, normalise_mode(modes.get(mine.path, 0o644)))
        if size != expected:
            return DerivedProof(
                False,
                f"derived image {derived} layers[{index}] is {size} bytes, a one-file tar of "
                f"{mine.path} is {expected}",
            )
        rewrapped += 1
    message = (
        f"derived image {derived}: {reused} tar layers are the verified blobs (same digests), "
        f"{rewrapped} raw files re-wrapped (exact tar sizes; hold checks each file's sha256 "
        "against the verified layer digest on every node)"
    )
    return DerivedProof(True, message)
