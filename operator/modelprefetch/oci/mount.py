"""Which reference a node's runtime can mount as files, from OBSERVED facts.

Pure functions over modelprefetch.oci.compat (the runtime-table tests' observations,
shipped as compatibility.json; docs/compatibility.md is their table):

* a native ModelPack is mounted as it is only where its exact shape (`.raw` layers with
  these naming annotations, or `.tar` layers) was seen to give every file under its
  path; anything else seen (an empty directory, no mount at all, flattened names, tar
  archives) or never seen means the derived OCI image;
* an OCI image (the derived image) mounts as files where image volumes exist; subPath
  only where it was seen to work;
* a runtime release older than image volumes themselves (containerd 2.1, CRI-O 1.31)
  cannot mount anything.
"""

from __future__ import annotations

import re

from modelprefetch.oci.artifact import (
    ArtifactKind,
    LayerFormat,
    MountDecision,
    MountOutcome,
    ResolvedArtifact,
    Runtime,
)
from modelprefetch.oci.compat import Judgement, judge, raw_layer_case

CONTAINERD = "containerd"
CRIO = "cri-o"

# First release of each runtime that mounts image volumes (KEP-4639).
CONTAINERD_IMAGE_VOLUMES = (2, 1, 0)
CRIO_IMAGE_VOLUMES = (1, 31, 0)
_FLOORS = {
    CONTAINERD: (CONTAINERD_IMAGE_VOLUMES, "containerd 2.1"),
    CRIO: (CRIO_IMAGE_VOLUMES, "CRI-O 1.31"),
}
_REASON_SUFFIX = {CONTAINERD: "Containerd", CRIO: "Crio"}
# An observed native outcome that is not the files -> (MountOutcome, reason stem, what it is).
_NATIVE = {
    "empty": (MountOutcome.EMPTY, "EmptyMount", "as an empty directory"),
    "no-mount": (MountOutcome.EMPTY, "RawLayersUnnamed", "as nothing at all (no file names)"),
    "flattened": (MountOutcome.UNKNOWN, "RawLayersUnnamed", "with flattened file names"),
    "archives": (MountOutcome.TAR_BYTES, "TarBytes", "as tar archives, not files"),
    "bad-modes": (MountOutcome.UNKNOWN, "BadModes", "with files not world-readable"),
}


_RUNTIME_RE = re.compile(r"^\s*([A-Za-z0-9._-]+)://v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_runtime(container_runtime_version: str) -> Runtime:
    """Parse `node.status.nodeInfo.containerRuntimeVersion` ("containerd://2.2.1").

    Never raises: anything that does not look like `name://MAJOR[.MINOR[.PATCH]]...`
    gives `Runtime(name="unknown", version=(0, 0, 0))`. Suffixes such as `-k3s1` or
    `-rc.1` are ignored; the name is lower-cased ("CRI-O" -> "cri-o").
    """
    match = _RUNTIME_RE.match(container_runtime_version or "")
    if match is None:
        return Runtime(name="unknown", version=(0, 0, 0), raw=container_runtime_version)
    name, major, minor, patch = match.groups()
    version = (int(major), int(minor or 0), int(patch or 0))
    return Runtime(name=name.lower(), version=version, raw=container_runtime_version)


def decide_mount(
    artifact: ResolvedArtifact, runtime: Runtime, *, allow_derivation: bool = True
) -> MountDecision:
    """Decide what to mount for `artifact` on a node running `runtime`.

    Semantics of the result:

    * `mountable` (reference set, outcome FILES): mount `reference` as is. It is either
      the artifact's own `pinned_reference` or its existing `derived_image`.
    * `needs_derivation=True`: only the derived OCI image mounts as files and it is not
      published yet; `reference` is None and `outcome` is FILES, the outcome once
      `ensure_derived_image()` has published it (decide again with the new artifact, or
      mount the reference it returns). Only returned when `allow_derivation` is True.
    * otherwise `reference` is None and `outcome` says what a native mount would do
      (EMPTY, TAR_BYTES, FAILS or UNKNOWN); `reason` explains why for conditions.

    An existing derived image is used even when `allow_derivation` is False: that flag
    only forbids publishing one.
    """
    if runtime.name not in _FLOORS:
        return _decision(
            runtime,
            MountOutcome.UNKNOWN,
            None,
            reason="UnknownRuntime",
            message=f"Container runtime {runtime.raw!r} is not known to mount image volumes",
        )
    floor, floor_name = _FLOORS[runtime.name]
    if runtime.version < floor:
        return _too_old(runtime, floor_name)
    judgement = judge(runtime)
    # The derived image is an OCI image: files wherever image volumes work, unless seen
    # otherwise; subPath only where it was seen to work.
    subpath = judgement.outcome("derived+subpath") == "subtree"
    if artifact.kind is ArtifactKind.OCI_IMAGE:
        return _native_files(artifact, runtime, subpath, judgement)
    seen = _native_observation(artifact, judgement)
    if seen == "files":
        # A subPath into the ModelPack itself: only where that was seen to work.
        native_subpath = f"modelpack-{artifact.layer_format}+subpath"
        return _native_files(
            artifact, runtime, judgement.outcome(native_subpath) == "subtree", judgement
        )
    suffix = _REASON_SUFFIX[runtime.name]
    if seen is None:
        native, reason = MountOutcome.UNKNOWN, f"NotObservedOn{suffix}"
        how = "was never observed (docs/compatibility.md)"
    else:
        native, stem, what = _NATIVE.get(seen, (MountOutcome.UNKNOWN, "NotFiles", f"as {seen}"))
        reason, how = f"{stem}On{suffix}", f"mounts it {what}"
    return _via_derived(
        artifact,
        runtime,
        allow_derivation,
        subpath=subpath,
        native=native,
        native_reason=reason,
        native_message=(
            f"{_label(runtime, judgement)} with the {artifact.kind} artifact"
            f" {artifact.pinned_reference} ({artifact.layer_format} layers) {how}"
        ),
    )


def _native_observation(artifact: ResolvedArtifact, judgement: Judgement) -> str | None:
    """What the runtime was seen to show for this artifact mounted natively (None:
    this shape was never observed). Only ModelPacks were observed natively."""
    if artifact.kind is not ArtifactKind.MODELPACK or not artifact.layers:
        return None
    if artifact.layer_format is LayerFormat.TAR:
        return judgement.outcome("modelpack-tar")
    if artifact.layer_format is not LayerFormat.RAW:
        return None
    outcomes = set()
    for layer in artifact.layers:
        case = raw_layer_case(layer)
        outcomes.add(None if case is None else judgement.outcome(case))
    if outcomes == {"files"}:
        return "files"
    seen_not_files = sorted(o for o in outcomes if o is not None and o != "files")
    return seen_not_files[0] if seen_not_files else None


def _via_derived(
    artifact: ResolvedArtifact,
    runtime: Runtime,
    allow_derivation: bool,
    *,
    subpath: bool,
    native: MountOutcome,
    native_reason: str,
    native_message: str,
) -> MountDecision:
    """The artifact itself does not mount as files: use (or ask for) the derived image."""
    if artifact.derived_image is not None:
        return _decision(
            runtime,
            MountOutcome.FILES,
            artifact.derived_image,
            subpath=subpath,
            reason="Mountable",
            message=f"{native_message}; mounting its derived OCI image {artifact.derived_image}",
        )
    if allow_derivation:
        return _decision(
            runtime,
            MountOutcome.FILES,
            None,
            needs_derivation=True,
            subpath=subpath,
            reason="NeedsDerivedImage",
            message=f"{native_message}; a derived OCI image must be published first",
        )
    return _decision(
        runtime,
        native,
        None,
        subpath=subpath,
        reason=native_reason,
        message=f"{native_message} and deriving an OCI image is disabled",
    )


def _native_files(
    artifact: ResolvedArtifact, runtime: Runtime, subpath: bool, judgement: Judgement
) -> MountDecision:
    return _decision(
        runtime,
        MountOutcome.FILES,
        artifact.pinned_reference,
        subpath=subpath,
        reason="Mountable",
        message=f"{_label(runtime, judgement)} mounts {artifact.pinned_reference} as files",
    )


def _label(runtime: Runtime, judgement: Judgement) -> str:
    text = f"{runtime.name} {_version(runtime)}"
    if judgement.row is None:
        return f"{text} (not observed)"
    return f"{text} (as observed on {judgement.assumed_from})" if judgement.assumed_from else text


def _too_old(runtime: Runtime, minimum: str) -> MountDecision:
    return _decision(
        runtime,
        MountOutcome.FAILS,
        None,
        reason="RuntimeTooOld",
        message=(
            f"{runtime.name} {_version(runtime)} has no image volume support;"
            f" {minimum} or newer is needed"
        ),
    )


def _decision(
    runtime: Runtime,
    outcome: MountOutcome,
    reference: str | None,
    *,
    reason: str,
    message: str,
    needs_derivation: bool = False,
    subpath: bool = False,
) -> MountDecision:
    return MountDecision(
        runtime=runtime,
        outcome=outcome,
        reference=reference,
        needs_derivation=needs_derivation,
        subpath_supported=subpath,
        reason=reason,
        message=message,
    )


def _version(runtime: Runtime) -> str:
    return ".".join(str(part) for part in runtime.version)
