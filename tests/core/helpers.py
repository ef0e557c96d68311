"""Builders of planner inputs for the core tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, parse_spec
from modelprefetch.core.builders import holder_daemonset_name
from modelprefetch.core.labels import prefetch_label_key, warm_label_key
from modelprefetch.core.world import (
    ExistingDaemonSet,
    HolderPod,
    NodeInfo,
    PlannerSettings,
    World,
)
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, ModelFile, ResolvedArtifact

NS = "ml"
NAME = "llama"
UID = "0b6a7c2e-1111-2222-3333-444455556666"
REPO = "registry.example.com/models/llama"
DIGEST = "sha256:" + "a" * 64
NEW_DIGEST = "sha256:" + "b" * 64
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONTAINERD = "containerd://2.2.1"
CRIO = "cri-o://1.34.2"
OLD_CONTAINERD = "containerd://1.7.20"
SETTINGS = PlannerSettings(holder_image="ghcr.io/modelprefetch/modelprefetch:0.1.0")
FILES = (ModelFile("config.json", 512), ModelFile("model.safetensors", 4096))


def artifact(digest: str = DIGEST, **changes: Any) -> ResolvedArtifact:
    """An OCI image artifact: every modern runtime mounts it as files."""
    base = ResolvedArtifact(
        reference=f"{REPO}:8b",
        digest=digest,
        pinned_reference=f"{REPO}@{digest}",
        kind=ArtifactKind.OCI_IMAGE,
        layer_format=LayerFormat.TAR,
        media_type="application/vnd.oci.image.manifest.v1+json",
        artifact_type=None,
        name="llama",
        family="llama3",
        format="safetensors",
        param_size="8b",
        size_bytes=4608,
        files=FILES,
    )
    return replace(base, **changes)


def spec(**prefetch: Any) -> ModelDeploymentSpec:
    return parse_spec({"model": {"reference": f"{REPO}:8b"}, "prefetch": prefetch})


def key(digest: str = DIGEST) -> str:
    return prefetch_label_key(NS, NAME, digest)


def warm(digest: str = DIGEST) -> str:
    return warm_label_key(NS, NAME, digest)


def ds_name(digest: str = DIGEST) -> str:
    return holder_daemonset_name(NAME, NS, digest)


def admitted(ago: timedelta = timedelta(minutes=1)) -> str:
    """A prefetch label value: admitted `ago` before NOW."""
    return str(int((NOW - ago).timestamp()))


def node(name: str, runtime: str = CONTAINERD, **changes: Any) -> NodeInfo:
    return replace(NodeInfo(name=name, runtime_version=runtime), **changes)


def holder(node_name: str, *, ready: bool, digest: str = DIGEST, **changes: Any) -> HolderPod:
    pod = HolderPod(
        name=f"{ds_name(digest)}-{node_name}",
        node_name=node_name,
        daemonset=ds_name(digest),
        ready=ready,
        phase="Running" if ready else "Pending",
    )
    return replace(pod, **changes)


def existing(digest: str = DIGEST) -> ExistingDaemonSet:
    return ExistingDaemonSet(
        name=ds_name(digest), reference=f"{REPO}@{digest}", digest=digest, label_key=key(digest)
    )


def world(**changes: Any) -> World:
    base = World(
        namespace=NS,
        name=NAME,
        uid=UID,
        generation=1,
        spec=spec(),
        now=NOW,
        settings=SETTINGS,
        resolved=artifact(),
        resolved_at=NOW,
    )
    return replace(base, **changes)
