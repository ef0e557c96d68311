"""Image references the docker way: `[registry[:port]/]repository[:tag][@digest]`.

Grammar and normalisation follow github.com/distribution/reference: the first path
component is a registry when it contains "." or ":", is "localhost" or has an upper-case
letter; otherwise the registry is docker.io and a single-component repository gets the
"library/" prefix. Parsing is strict (the string goes into API URLs), and every failure
is an `InvalidReferenceError` naming what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelprefetch.errors import InvalidReferenceError

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
# docker.io is the name; the distribution API lives at registry-1.docker.io.
DOCKER_HUB_API_HOST = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

MAX_REFERENCE_LENGTH = 4096  # far above any real reference; bounds the regex work
MAX_REPOSITORY_LENGTH = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = re.compile(
    rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed, normalised reference. `str()` gives the canonical form."""

    registry: str  # "docker.io", "ghcr.io", "127.0.0.1:5000"
    repository: str  # "library/ubuntu", "org/model"
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host[:port] that serves the distribution API for this registry."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def manifest_selector(self) -> str:
        """What goes after /manifests/: the digest if pinned, else the tag (or latest)."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to `digest` (the tag is dropped)."""
        return Reference(self.registry, self.repository, None, validate_digest(digest))

    def with_tag(self, tag: str) -> Reference:
        """The same repository at `tag` (any digest is dropped)."""
        if not _TAG.fullmatch(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r} for {self.name}")
        return Reference(self.registry, self.repository, tag, None)


def parse_reference(text: str) -> Reference:
    """Parse and normalise a docker-style reference.

    `ubuntu` -> docker.io/library/ubuntu (no tag: callers use `manifest_selector`),
    `localhost:5000/m:v1@sha256:...` keeps both tag and digest.
    Raises `InvalidReferenceError` with the offending part named.
    """
    if not isinstance(text, str):
        raise InvalidReferenceError(f"reference must be a string, got {type(text).__name__}")
    if not text:
        raise InvalidReferenceError("reference is empty")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidReferenceError(f"reference is longer than {MAX_REFERENCE_LENGTH} characters")
    if text != text.strip():
        raise InvalidReferenceError(f"reference {text!r} has leading or trailing whitespace")

    remainder, digest = _split_digest(text)
    registry, path = _split_registry(remainder, text)
    repository, tag = _split_tag(path, text)
    _validate_repository(repository, text)

    registry = _normalise_registry(registry)
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    if len(repository) > MAX_REPOSITORY_LENGTH:
        raise InvalidReferenceError(
            f"repository name in {text!r} is longer than {MAX_REPOSITORY_LENGTH} characters"
        )
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def validate_digest(digest: str) -> str:
    """Return `digest` if it is `algorithm:hex` with the right length for known algorithms."""
    if not _DIGEST.fullmatch(digest):
        raise InvalidReferenceError(f"invalid digest {digest!r}: expected 'algorithm:encoded'")
    algorithm, encoded = digest.split(":", 1)
    expected = _HEX_LENGTHS.get(algorithm)
    if expected is not None and (
        len(encoded) != expected or not re.fullmatch(r"[0-9a-f]+", encoded)
    ):
        raise InvalidReferenceError(
            f"invalid digest {digest!r}: {algorithm} needs {expected} lower-case hex characters"
        )
    return digest


def _split_digest(text: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    remainder, digest = text.split("@", 1)
    if not remainder:
        raise InvalidReferenceError(f"reference {text!r} has a digest but no repository")
    return remainder, validate_digest(digest)


def _split_registry(remainder: str, text: str) -> tuple[str | None, str]:
    first, sep, rest = remainder.partition("/")
    if not sep:
        return None, remainder
    looks_like_registry = (
        "." in first or ":" in first or first == "localhost" or first != first.lower()
    )
    if not looks_like_registry:
        return None, remainder
    if not _REGISTRY.fullmatch(first):
        raise InvalidReferenceError(f"invalid registry {first!r} in reference {text!r}")
    port = first.rsplit(":", 1)[1] if ":" in first and not first.endswith("]") else None
    if port is not None and not 0 < int(port) < 65536:
        raise InvalidReferenceError(f"invalid port {port} in reference {text!r}")
    return first, rest


def _split_tag(path: str, text: str) -> tuple[str, str | None]:
    last_slash = path.rfind("/")
    colon = path.find(":", last_slash + 1)
    if colon == -1:
        return path, None
    repository, tag = path[:colon], path[colon + 1 :]
    if not _TAG.fullmatch(tag):
        raise InvalidReferenceError(
            f"invalid tag {tag!r} in reference {text!r}: up to 128 of [A-Za-z0-9_.-],"
            " not starting with '.' or '-'"
        )
    return repository, tag


def _validate_repository(repository: str, text: str) -> None:
    if not repository:
        raise InvalidReferenceError(f"reference {text!r} has no repository name")
    for component in repository.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidReferenceError(
                f"invalid repository component {component!r} in reference {text!r}:"
                " lower-case letters, digits and single separators (. _ __ -) only"
            )


def _normalise_registry(registry: str | None) -> str:
    if registry is None or registry.lower() in _DOCKER_HUB_ALIASES:
        return DEFAULT_REGISTRY
    return registry
