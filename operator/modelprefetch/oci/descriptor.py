"""OCI descriptors and fetched manifests as small frozen values, parsed leniently."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from modelprefetch.errors import InvalidReferenceError, ModelFormatError
from modelprefetch.oci.reference import validate_digest


@dataclass(frozen=True, slots=True)
class Platform:
    """The platform of one entry of an image index."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: media type, digest, size, and what else the manifest says."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    platform: Platform | None = None

    def to_json(self) -> dict[str, Any]:
        """The descriptor as it appears in a manifest we write."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest or index as read from a registry, with its verified digest."""

    media_type: str
    digest: str
    data: bytes
    document: dict[str, Any]

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=len(self.data),
            artifact_type=_optional_str(self.document, "artifactType", "manifest"),
        )


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_descriptor(value: Any, where: str) -> Descriptor:
    """Parse a descriptor object; `where` names it in errors ("layers[2]")."""
    if not isinstance(value, dict):
        raise ModelFormatError(f"{where} must be an object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise ModelFormatError(f"{where}.mediaType must be a non-empty string")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise ModelFormatError(f"{where}.digest must be a string")
    try:
        validate_digest(digest)
    except InvalidReferenceError:
        raise ModelFormatError(f"{where}.digest {digest[:80]!r} is not a valid digest") from None
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ModelFormatError(f"{where}.size must be a non-negative integer")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        annotations=parse_annotations(value.get("annotations"), f"{where}.annotations"),
        artifact_type=_optional_str(value, "artifactType", where),
        platform=_parse_platform(value.get("platform"), f"{where}.platform"),
    )


def parse_annotations(value: Any, where: str) -> dict[str, str]:
    """Annotations are string to string; anything else is an error naming `where`."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ModelFormatError(f"{where} must map strings to strings")
    return dict(value)


def _parse_platform(value: Any, where: str) -> Platform | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ModelFormatError(f"{where} must be an object")
    os_name, architecture = value.get("os"), value.get("architecture")
    if not isinstance(os_name, str) or not isinstance(architecture, str):
        raise ModelFormatError(f"{where} needs string 'os' and 'architecture'")
    variant = value.get("variant")
    return Platform(os_name, architecture, variant if isinstance(variant, str) else None)


def _optional_str(document: dict[str, Any], key: str, where: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModelFormatError(f"{where}.{key} must be a string")
    return value
