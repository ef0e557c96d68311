"""decide_mount / parse_runtime follow the table in docs/runtimes.md."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelprefetch.oci import (
    ArtifactKind,
    LayerFormat,
    LayerInfo,
    MountOutcome,
    ResolvedArtifact,
    compat,
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
        name_annotations=((annotation, "model.safetensors"),) if annotation else (),
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


def test_crio_134_was_never_observed_so_the_derived_image_is_used() -> None:
    """No CRI-O 1.34 observation in the facts: a raw ModelPack gets the derived image."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.34.2"), allow_derivation=False)
    assert (decision.mountable, decision.reason) == (False, "NotObservedOnCrio")


def test_crio_135_mounts_raw_modelpack_itself() -> None:
    """CRI-O 1.35.2 bind-mounts raw layers named by org.cncf.model.filepath as files."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.35.2"))
    assert (decision.reference, decision.outcome, decision.reason) == (
        PINNED,
        MountOutcome.FILES,
        "Mountable",
    )


def test_crio_133_needs_legacy_annotation() -> None:
    """CRI-O 1.33 does not name files from org.cncf.model.filepath."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.33.5"))
    assert decision.needs_derivation is True


def test_crio_133_legacy_annotated_raw_layers_are_not_trusted_unobserved() -> None:
    """CRI-O 1.33 reportedly names files from org.cnai, but it was never observed: derive."""
    artifact = _artifact(annotation="org.cnai.model.filepath")
    decision = decide_mount(artifact, parse_runtime("cri-o://1.33.5"))
    assert (decision.needs_derivation, decision.reference) == (True, None)


def test_crio_tar_layers_prefer_derived_image() -> None:
    """Tar model layers on CRI-O would appear as archives: the derived image is asked for."""
    decision = decide_mount(_artifact(fmt=LayerFormat.TAR), parse_runtime("cri-o://1.34.2"))
    assert (decision.needs_derivation, decision.reference) == (True, None)


def test_crio_tar_layers_without_derivation_are_tar_bytes() -> None:
    """With derivation disabled the native outcome on CRI-O is TAR_BYTES."""
    decision = decide_mount(
        _artifact(fmt=LayerFormat.TAR), parse_runtime("cri-o://1.35.2"), allow_derivation=False
    )
    assert (decision.outcome, decision.reason) == (MountOutcome.TAR_BYTES, "TarBytesOnCrio")


def test_crio_too_old_fails() -> None:
    """CRI-O before 1.31 has no image volume support."""
    decision = decide_mount(_artifact(), parse_runtime("cri-o://1.30.1"))
    assert decision.outcome is MountOutcome.FAILS


def test_docker_model_on_crio_gets_the_derived_image() -> None:
    """Only ModelPacks were observed mounted natively: a Docker model is derived."""
    decision = decide_mount(
        _artifact(kind=ArtifactKind.DOCKER_MODEL), parse_runtime("cri-o://1.35.2")
    )
    assert (decision.needs_derivation, decision.reference) == (True, None)


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


def _named(*annotations: tuple[str, str]) -> ResolvedArtifact:
    """A raw ModelPack whose one layer (path sub/notes.txt) carries exactly `annotations`."""
    artifact = _artifact()
    layer = replace(
        artifact.layers[0],
        path="sub/notes.txt",
        path_annotation=annotations[0][0],  # as the parser sets it: the first key it read
        has_legacy_path_annotation=any(
            key in ("org.cnai.model.filepath", "org.opencontainers.image.title")
            for key, _ in annotations
        ),
        name_annotations=annotations,
    )
    return replace(artifact, layers=(layer,))


def test_crio_135_does_not_mount_layers_named_only_by_org_cnai() -> None:
    """modctl v0.2.2 names raw layers only by org.cnai.model.filepath: CRI-O 1.35.2
    mounts nothing for them, so the derived image is needed."""
    artifact = _named(("org.cnai.model.filepath", "sub/notes.txt"))
    decision = decide_mount(artifact, parse_runtime("cri-o://1.35.2"))
    assert (decision.needs_derivation, decision.reference) == (True, None)


def test_crio_135_without_derivation_reports_the_unnamed_raw_layers() -> None:
    """With derivation off, the org.cnai-only raw ModelPack is not mountable on CRI-O."""
    artifact = _named(("org.cnai.model.filepath", "sub/notes.txt"))
    decision = decide_mount(artifact, parse_runtime("cri-o://1.35.2"), allow_derivation=False)
    assert (decision.mountable, decision.reason) == (False, "RawLayersUnnamedOnCrio")


def test_crio_135_names_files_from_org_cncf_filepath() -> None:
    """org.cncf.model.filepath alone names the file with its nested path: mounted as is."""
    artifact = _named(("org.cncf.model.filepath", "sub/notes.txt"))
    assert decide_mount(artifact, parse_runtime("cri-o://1.35.2")).reference == PINNED


def test_crio_135_base_name_title_flattens_nested_paths() -> None:
    """The title wins over the filepath: a base-name title would misplace the file."""
    artifact = _named(
        ("org.cncf.model.filepath", "sub/notes.txt"),
        ("org.opencontainers.image.title", "notes.txt"),
    )
    decision = decide_mount(artifact, parse_runtime("cri-o://1.35.2"))
    assert (decision.needs_derivation, decision.reference) == (True, None)


def test_crio_135_mounts_our_packers_raw_naming_natively() -> None:
    """`modelprefetch pack`'s own raw naming (three keys, title = path) was observed on
    CRI-O 1.35.2 under a kubelet (every file under its path): the ModelPack itself."""
    artifact = _named(
        ("org.cncf.model.filepath", "sub/notes.txt"),
        ("org.cnai.model.filepath", "sub/notes.txt"),
        ("org.opencontainers.image.title", "sub/notes.txt"),
    )
    decision = decide_mount(artifact, parse_runtime("cri-o://1.35.2"))
    assert (decision.mountable, decision.reference) == (True, PINNED)
    assert decision.needs_derivation is False


def test_crio_shapes_never_observed_get_the_derived_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A naming the facts have no observation for on CRI-O: the derived image, not a guess."""
    row = compat.ObservedRuntime("cri-o", (1, 35, 2), {"modelpack-raw-cncf": "files"}, "test")
    monkeypatch.setattr(compat, "packaged_facts", lambda: (row,))
    artifact = _named(
        ("org.cncf.model.filepath", "sub/notes.txt"),
        ("org.cnai.model.filepath", "sub/notes.txt"),
        ("org.opencontainers.image.title", "sub/notes.txt"),
    )
    decision = decide_mount(artifact, parse_runtime("cri-o://1.35.2"), allow_derivation=False)
    assert (decision.mountable, decision.reason) == (False, "NotObservedOnCrio")


def test_native_subpath_support_follows_the_native_subpath_observation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mounting the ModelPack itself, subPath is supported only where a subPath into the
    native ModelPack was seen to give the subtree (not where the derived image's was)."""
    cases = {"modelpack-raw-cncf": "files", "derived+subpath": "subtree"}
    row = compat.ObservedRuntime("cri-o", (1, 35, 2), cases, "test")
    runtime = parse_runtime("cri-o://1.35.2")
    monkeypatch.setattr(compat, "packaged_facts", lambda: (row,))
    decision = decide_mount(_artifact(), runtime)
    assert (decision.reference, decision.subpath_supported) == (PINNED, False)
    seen = replace(row, cases={**cases, "modelpack-raw+subpath": "subtree"})
    monkeypatch.setattr(compat, "packaged_facts", lambda: (seen,))
    assert decide_mount(_artifact(), runtime).subpath_supported is True
