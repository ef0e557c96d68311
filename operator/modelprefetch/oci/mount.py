"""Which reference a node's runtime can mount as files, following docs/runtimes.md.

Pure functions, no I/O. The decisive facts:

* containerd unpacks only image layers whose config carries `rootfs.diff_ids`; a native
  ModelPack (or Docker model) reference mounts as an EMPTY directory without any error.
  containerd < 2.1 has no image volume support at all; 2.1 ignores subPath.
* CRI-O >= 1.34 bind-mounts each `.raw` model layer as a file named by its
  `org.cncf.model.filepath`; 1.33 only names files from the legacy `org.cnai` /
  `org.opencontainers.image.title` annotations; `.tar` model layers appear as the tar
  archives themselves (TAR_BYTES).
* An OCI image (the derived image) mounts as files everywhere image volumes exist.
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

CONTAINERD = "containerd"
CRIO = "cri-o"

# First release of each runtime that mounts image volumes (KEP-4639).
CONTAINERD_IMAGE_VOLUMES = (2, 1, 0)
CONTAINERD_SUBPATH = (2, 2, 0)
CRIO_IMAGE_VOLUMES = (1, 31, 0)
CRIO_LEGACY_MODEL_FILES = (1, 33, 0)  # names files from org.cnai / image.title only
CRIO_MODEL_FILES = (1, 34, 0)  # names files from org.cncf.model.filepath


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
    if runtime.name == CONTAINERD:
        return _decide_containerd(artifact, runtime, allow_derivation)
    if runtime.name == CRIO:
        return _decide_crio(artifact, runtime, allow_derivation)
    return _decision(
        runtime,
        MountOutcome.UNKNOWN,
        None,
        reason="UnknownRuntime",
        message=f"Container runtime {runtime.raw!r} is not known to mount image volumes",
    )


def _decide_containerd(
    artifact: ResolvedArtifact, runtime: Runtime, allow_derivation: bool
) -> MountDecision:
    if runtime.version < CONTAINERD_IMAGE_VOLUMES:
        return _too_old(runtime, "containerd 2.1")
    subpath = runtime.version >= CONTAINERD_SUBPATH
    if artifact.kind is ArtifactKind.OCI_IMAGE:
        return _native_files(artifact, runtime, subpath)
    return _via_derived(
        artifact,
        runtime,
        allow_derivation,
        subpath=subpath,
        native=MountOutcome.EMPTY,
        native_reason="EmptyMountOnContainerd",
        native_message=(
            f"containerd mounts the {artifact.kind} artifact {artifact.pinned_reference} as an"
            " empty directory"
        ),
    )


def _decide_crio(
    artifact: ResolvedArtifact, runtime: Runtime, allow_derivation: bool
) -> MountDecision:
    if runtime.version < CRIO_IMAGE_VOLUMES:
        return _too_old(runtime, "CRI-O 1.31")
    if artifact.kind is ArtifactKind.OCI_IMAGE:
        return _native_files(artifact, runtime, True)
    if artifact.layer_format is LayerFormat.RAW and _crio_names_raw_files(artifact, runtime):
        return _native_files(artifact, runtime, True)
    if artifact.layer_format is LayerFormat.RAW:
        native, native_reason = MountOutcome.EMPTY, "RawLayersUnnamedOnCrio"
        native_message = (
            f"CRI-O {_version(runtime)} cannot name the raw model layers of"
            f" {artifact.pinned_reference} as files"
        )
    else:
        native, native_reason = MountOutcome.TAR_BYTES, "TarBytesOnCrio"
        native_message = (
            f"CRI-O mounts the {artifact.layer_format} model layers of"
            f" {artifact.pinned_reference} as archives, not as the files inside them"
        )
    return _via_derived(
        artifact,
        runtime,
        allow_derivation,
        subpath=True,
        native=native,
        native_reason=native_reason,
        native_message=native_message,
    )


def _crio_names_raw_files(artifact: ResolvedArtifact, runtime: Runtime) -> bool:
    """Whether this CRI-O bind-mounts every raw layer under its own file name."""
    if not artifact.layers or any(layer.path_annotation is None for layer in artifact.layers):
        return False
    if runtime.version >= CRIO_MODEL_FILES:
        return True
    if runtime.version >= CRIO_LEGACY_MODEL_FILES:
        return all(layer.has_legacy_path_annotation for layer in artifact.layers)
    return False


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


def _native_files(artifact: ResolvedArtifact, runtime: Runtime, subpath: bool) -> MountDecision:
    return _decision(
        runtime,
        MountOutcome.FILES,
        artifact.pinned_reference,
        subpath=subpath,
        reason="Mountable",
        message=f"{runtime.name} {_version(runtime)} mounts {artifact.pinned_reference} as files",
    )


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
