"""modelprefetch.oci: references, registry client, model formats, mountability.

No kopf and no Kubernetes client here (import-linter enforces it). The operator uses:

    parse_reference(text) -> Reference                      InvalidReferenceError
    credentials_from_dockerconfigjson(data, host) -> Credentials | None
    async with RegistryClient(credentials={host: Credentials}, plain_http=...) as client:
        artifact = await resolve(client, "ghcr.io/org/model:v1")   -> ResolvedArtifact
        decision = decide_mount(artifact, parse_runtime("containerd://2.2.1"))
        if decision.needs_derivation:
            reference = await ensure_derived_image(client, artifact)
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
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials, credentials_from_dockerconfigjson
from modelprefetch.oci.derive import ensure_derived_image
from modelprefetch.oci.descriptor import Platform
from modelprefetch.oci.mount import decide_mount, parse_runtime
from modelprefetch.oci.reference import Reference, parse_reference
from modelprefetch.oci.resolve import find_derived_image, resolve
from modelprefetch.oci.transport import RetryPolicy

__all__ = [
    "ArtifactKind",
    "Credentials",
    "LayerFormat",
    "LayerInfo",
    "ModelFile",
    "MountDecision",
    "MountOutcome",
    "Platform",
    "Reference",
    "RegistryClient",
    "ResolvedArtifact",
    "RetryPolicy",
    "Runtime",
    "credentials_from_dockerconfigjson",
    "decide_mount",
    "ensure_derived_image",
    "find_derived_image",
    "parse_reference",
    "parse_runtime",
    "resolve",
]
