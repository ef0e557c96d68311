"""What the rest of the project knows about a resolved model: plain frozen data.

This is the contract between `modelprefetch.oci` (which fills it from a registry) and
the operator core (which plans prefetch and mounts from it). No I/O here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ArtifactKind(enum.StrEnum):
    """What a manifest is, as far as mounting is concerned."""

    MODELPACK = "ModelPack"  # CNCF ModelPack (any generation: vnd.cnai or vnd.cncf)
    DOCKER_MODEL = "DockerModel"  # application/vnd.docker.ai.* artifacts
    OCI_IMAGE = "OCIImage"  # image config with rootfs.diff_ids and image layers


class LayerFormat(enum.StrEnum):
    """How a model file is stored in its layer."""

    RAW = "raw"  # the file bytes themselves
    TAR = "tar"  # an uncompressed tar archive holding the file
    TAR_GZIP = "tar+gzip"
    TAR_ZSTD = "tar+zstd"
    MIXED = "mixed"  # several of the above in one manifest


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file of the model tree as it appears once mounted."""

    path: str  # relative, "/"-separated, no leading "/" or ".."
    size: int
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer of the manifest, as we understood it."""

    digest: str
    size: int
    media_type: str
    kind: str  # weight | weight.config | doc | code | dataset | image | unknown
    layer_format: LayerFormat
    path: str | None = None  # org.cncf.model.filepath (or legacy org.cnai / image.title)
    # The annotation `path` was read from (None when absent or guessed): CRI-O 1.33 only
    # names files from the legacy annotations.
    path_annotation: str | None = None
    # True when org.cnai.model.filepath or org.opencontainers.image.title is also set
    # (the only annotations CRI-O 1.33 names raw layer files from).
    has_legacy_path_annotation: bool = False
    # Every file-name annotation the layer carries, as written ((key, value) in
    # mediatypes.FILEPATH_ANNOTATIONS order): runtimes name mounted files from different
    # keys (CRI-O 1.35: image.title, else org.cncf.model.filepath, never org.cnai).
    name_annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ResolvedArtifact:
    """A reference resolved to one digest, with everything the operator decides on."""

    reference: str  # normalised, as asked (tag or digest)
    digest: str  # manifest digest "sha256:..."
    pinned_reference: str  # registry/repo@digest
    kind: ArtifactKind
    layer_format: LayerFormat
    media_type: str
    artifact_type: str | None
    name: str | None = None
    family: str | None = None
    format: str | None = None  # safetensors, gguf, onnx, pt, ...
    param_size: str | None = None
    precision: str | None = None
    architecture: str | None = None
    size_bytes: int = 0  # sum of layer sizes (what a node downloads)
    files: tuple[ModelFile, ...] = ()
    layers: tuple[LayerInfo, ...] = ()
    # The digest-pinned reference of a mountable OCI image derived from this artifact
    # (an OCI 1.1 referrer of it), when one exists in the registry.
    derived_image: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    # Added by oci: what derivation and `inspect` need (defaults keep older callers valid).
    quantization: str | None = None
    config_digest: str | None = None
    config_media_type: str | None = None
    diff_ids: tuple[str, ...] = ()  # one per layer when the config lists them
    manifest_size: int = 0  # bytes of the manifest (a referrer's subject descriptor needs it)
    generation: str | None = None  # ModelPack generation ("v0.0.6-cnai", "v0.0.7", "main"), ...
    # Where `format` came from: "config" (the artifact says it), "files" (inferred from
    # file names and layer media types: oci.formatinfer), None when unknown.
    format_source: str | None = None


class MountOutcome(enum.StrEnum):
    """What a runtime does when an image volume points at an artifact."""

    FILES = "Files"  # the model tree appears as files
    EMPTY = "Empty"  # mounts an empty directory without any error (containerd + ModelPack)
    TAR_BYTES = "TarBytes"  # files appear but are the tar archives themselves
    FAILS = "Fails"  # the pull or mount fails (runtime without image volume support)
    UNKNOWN = "Unknown"  # a runtime we know nothing about


@dataclass(frozen=True, slots=True)
class Runtime:
    """A node's container runtime, parsed from `containerRuntimeVersion`."""

    name: str  # containerd | cri-o | docker | ...
    version: tuple[int, int, int]
    raw: str


@dataclass(frozen=True, slots=True)
class MountDecision:
    """For one artifact and one runtime: what to mount and what will happen."""

    runtime: Runtime
    outcome: MountOutcome  # outcome of mounting `reference` (FILES when usable)
    reference: str | None  # digest-pinned reference to mount, None when nothing works
    needs_derivation: bool  # True when the derived image must be published first
    subpath_supported: bool
    reason: str  # CamelCase, for conditions
    message: str  # human sentence

    @property
    def mountable(self) -> bool:
        return self.reference is not None and self.outcome is MountOutcome.FILES
