"""modelprefetch.oci: references, registry client, model formats, mountability.

No kopf and no Kubernetes client here (import-linter enforces it).
"""

from modelprefetch.oci.artifact import (
    ArtifactKind,
    LayerFormat,
    LayerInfo,
    ModelFile,
    MountDecision,
    MountOutcome,
    ResolvedArtifact,
    Runtime,
)
from modelprefetch.oci.mount import decide_mount, parse_runtime

__all__ = [
    "ArtifactKind",
    "LayerFormat",
    "LayerInfo",
    "ModelFile",
    "MountDecision",
    "MountOutcome",
    "ResolvedArtifact",
    "Runtime",
    "decide_mount",
    "parse_runtime",
]
