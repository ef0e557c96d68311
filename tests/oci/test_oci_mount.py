"""decide_mount / parse_runtime follow the table in docs/runtimes.md."""

from __future__ import annotations

from dataclasses import replace

from modelprefetch.oci import (
    ArtifactKind,
    LayerFormat,
    LayerInfo,
    MountOutcome,
    ResolvedArtifact,
    decide_mount,
    parse_runtime,
)

PINNED = "registry.example/models/llama@sha256:" + "a" * 64
DERIVED = "registry.example/models/llama@sha256:" + "b" * 64


def _layer(fmt: LayerFormat, annotation: str | None = "org.cncf.model.filepath") -> LayerInfo:
    suffix = {LayerFormat.RAW: "raw", LayerFormat.TAR: "tar"}[fmt]
    return LayerInfo(
        digest="sha256:" + "c" * 64,
        size=10,
        media_type=f"application/vnd.cncf.model.weight.v1.{suffix}",
        kind="weight",
        layer_format=fmt,
        path="model.safetensors",
        path_annotation=annotation,
        has_legacy_path_annotation=annotation == "org.cnai.model.filepath",
    )


def _artifact(
    kind: ArtifactKind = ArtifactKind.MODELPACK,
    fmt: LayerFormat = LayerFormat.RAW,
    annotation: str | None = "org.cncf.model.filepath",
) -> ResolvedArtifact:
    return ResolvedArtifact(
        reference="registry.example/models/llama:v1",
        digest="sha256:" + "a" * 64,
        pinned_reference=PINNED,
        kind=kind,
        layer_format=fmt,
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_type="application/vnd.cncf.model.manifest.v1+json",
        layers=(_layer(fmt, annotation),),
    )


def test_parse_runtime_containerd() -> None:
    """A containerd version string gives name and numeric version."""
    runtime = parse_runtime("containerd://2.2.1")
    assert (runtime.name, runtime.version, runtime.raw) == (
        "containerd",
        (2, 2, 1),
        "containerd://2.2.1",
    )


def test_parse_runtime_crio_with_suffix() -> None:
    """Distribution suffixes and a leading v are ignored."""
    assert parse_runtime("cri-o://v1.34.2-rc.1").version == (1, 34, 2)


def test_parse_runtime_garbage_is_unknown() -> None:
    """An unparseable string gives the unknown runtime instead of raising."""
    runtime = parse_runtime("not a runtime")
    assert (runtime.name, runtime.version) == ("unknown", (0, 0, 0))


def test_parse_runtime_missing_minor() -> None:
    """A bare major version is padded with zeros."""
    assert parse_runtime("containerd://2").version == (2, 0, 0)


def test_containerd_too_old_fails() -> None:
    """containerd before 2.1 has no image volume support."""
    decision = decide_mount(_artifact(), parse_runtime("containerd://1.7.27"))
    assert (decision.outcome, decision.reason, decision.mountable) == (
        MountOutcome.FAILS,
        "RuntimeTooOld",
        False,
    )


def test_containerd_modelpack_needs_derivation() -> None:
    """A native ModelPack on containerd asks for the derived image to be published."""
    decision = decide_mount(_artifact(), parse_runtime("containerd://2.2.1"))
    assert (decision.reference, decision.needs_derivation, decision.reason) == (
        None,
        True,
        "NeedsDerivedImage",
    )


def test_containerd_modelpack_uses_existing_derived_image() -> None:
    """An already published derived image is mounted on containerd."""
    artifact = replace(_artifact(fmt=LayerFormat.TAR), derived_image=DERIVED)
    decision = decide_mount(artifact, parse_runtime("containerd://2.2.1"))
    assert (decision.reference, decision.mountable, decision.needs_derivation) == (
        DERIVED,
        True,
        False,
    )


def test_containerd_modelpack_without_derivation_is_empty() -> None:
    """With derivation disabled containerd would mount an empty directory: not mountable."""
    decision = decide_mount(
        _artifact(), parse_runtime("containerd://2.2.1"), allow_derivation=False
    )
    assert (decision.outcome, decision.reason, decision.reference) == (
        MountOutcome.EMPTY,
        "EmptyMountOnContainerd",
        None,
    )


def test_containerd_oci_image_mounts_itself() -> None:
    """A plain OCI image mounts as files on containerd 2.2 with subPath."""
    decision = decide_mount(
        _artifact(kind=ArtifactKind.OCI_IMAGE), parse_runtime("containerd://2.2.0")
    )
    assert (decision.reference, decision.outcome, decision.subpath_supported) == (
        PINNED,
        MountOutcome.FILES,
        True,
    )


def test_containerd_2_1_ignores_subpath() -> None:
    """containerd 2.1 mounts OCI images but ignores subPath."""
    decision = decide_mount(
        _artifact(kind=ArtifactKind.OCI_IMAGE), parse_runtime("containerd://2.1.4")
    )
    assert (decision.mountable, decision.subpath_supported) == (True, False)


def test_crio_134_mounts_raw_modelpack_itself() -> None:
    """CRI-O 1.34 bind-mounts raw ModelPack layers as files."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.34.2"))
    assert (decision.reference, decision.outcome, decision.reason) == (
        PINNED,
        MountOutcome.FILES,
        "Mountable",
    )


def test_crio_133_needs_legacy_annotation() -> None:
    """CRI-O 1.33 does not name files from org.cncf.model.filepath."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.33.5"))
    assert decision.needs_derivation is True


def test_crio_133_mounts_legacy_annotated_raw_layers() -> None:
    """CRI-O 1.33 names raw layers annotated with org.cnai.model.filepath."""
    artifact = _artifact(annotation="org.cnai.model.filepath")
    decision = decide_mount(artifact, parse_runtime("cri-o://1.33.5"))
    assert decision.reference == PINNED


def test_crio_tar_layers_prefer_derived_image() -> None:
    """Tar model layers on CRI-O would appear as archives: the derived image is asked for."""
    decision = decide_mount(_artifact(fmt=LayerFormat.TAR), parse_runtime("cri-o://1.34.2"))
    assert (decision.needs_derivation, decision.reference) == (True, None)


def test_crio_tar_layers_without_derivation_are_tar_bytes() -> None:
    """With derivation disabled the native outcome on CRI-O is TAR_BYTES."""
    decision = decide_mount(
        _artifact(fmt=LayerFormat.TAR), parse_runtime("cri-o://1.34.2"), allow_derivation=False
    )
    assert (decision.outcome, decision.reason) == (MountOutcome.TAR_BYTES, "TarBytesOnCrio")


def test_crio_too_old_fails() -> None:
    """CRI-O before 1.31 has no image volume support."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.30.1"))
    assert decision.outcome is MountOutcome.FAILS


def test_docker_model_on_crio_mounts_like_raw_modelpack() -> None:
    """A Docker model with filepath annotations mounts as files on CRI-O 1.34."""
    decision = decide_mount(
        _artifact(kind=ArtifactKind.DOCKER_MODEL), parse_runtime("cri-o://1.34.0")
    )
    assert decision.reference == PINNED


def test_docker_model_without_annotations_needs_derivation_on_crio() -> None:
    """Unannotated Docker model layers cannot be named by CRI-O: derive."""
    artifact = _artifact(kind=ArtifactKind.DOCKER_MODEL, annotation=None)
    decision = decide_mount(artifact, parse_runtime("cri-o://1.34.0"))
    assert decision.needs_derivation is True


def test_unknown_runtime_is_not_mountable() -> None:
    """An unknown runtime gives UNKNOWN and no reference."""
    decision = decide_mount(
        _artifact(kind=ArtifactKind.OCI_IMAGE), parse_runtime("docker://28.0.1")
    )
    assert (decision.outcome, decision.reason, decision.mountable) == (
        MountOutcome.UNKNOWN,
        "UnknownRuntime",
        False,
    )
