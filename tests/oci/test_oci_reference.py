"""Docker-style reference parsing and normalisation."""

from __future__ import annotations

import pytest

from modelprefetch.errors import InvalidReferenceError
from modelprefetch.oci.reference import parse_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_bare_name_gets_docker_hub_and_library() -> None:
    """A single-component name is normalised to docker.io/library/NAME."""
    ref = parse_reference("ubuntu")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "docker.io",
        "library/ubuntu",
        None,
        None,
    )


def test_org_name_on_docker_hub_keeps_path() -> None:
    """A two-component name without a registry stays on docker.io without library/."""
    assert str(parse_reference("org/model:v1")) == "docker.io/org/model:v1"


def test_index_docker_io_is_docker_io() -> None:
    """index.docker.io is an alias of docker.io."""
    assert parse_reference("index.docker.io/alpine").name == "docker.io/library/alpine"


def test_docker_hub_api_host() -> None:
    """docker.io is served by registry-1.docker.io."""
    assert parse_reference("alpine").api_host == "registry-1.docker.io"


def test_registry_with_port_and_tag() -> None:
    """host:port is the registry and the last colon after the last slash starts the tag."""
    ref = parse_reference("127.0.0.1:5000/models/llama:3.1-8b")
    assert (ref.registry, ref.repository, ref.tag) == ("127.0.0.1:5000", "models/llama", "3.1-8b")


def test_localhost_is_a_registry() -> None:
    """localhost without a port is a registry, not a repository component."""
    assert parse_reference("localhost/model").registry == "localhost"


def test_tag_and_digest_together() -> None:
    """A reference may carry both a tag and a digest; the digest selects the manifest."""
    ref = parse_reference(f"ghcr.io/a/b:v1@{DIGEST}")
    assert (ref.tag, ref.digest, ref.manifest_selector) == ("v1", DIGEST, DIGEST)


def test_no_tag_selects_latest() -> None:
    """Without tag or digest the manifest selector is latest."""
    assert parse_reference("ghcr.io/a/b").manifest_selector == "latest"


def test_ipv6_registry() -> None:
    """A bracketed IPv6 address with a port is a registry."""
    assert parse_reference("[::1]:5000/m:v").registry == "[::1]:5000"


def test_with_digest_drops_tag() -> None:
    """Pinning replaces the tag by the digest."""
    assert str(parse_reference("ghcr.io/a/b:v1").with_digest(DIGEST)) == f"ghcr.io/a/b@{DIGEST}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("Ubuntu", "repository"),
        ("ghcr.io/Org/model", "'Org'"),
        ("ghcr.io/a/b:", "tag"),
        ("ghcr.io/a/b:-bad", "tag"),
        ("ghcr.io/a/b@sha256:abc", "digest"),
        ("ghcr.io/a/b@md5", "digest"),
        ("ghcr.io:99999/a", "port"),
        ("ghcr.io:/a", "registry"),
        ("ghcr.io/a//b", "''"),
        (" ubuntu", "whitespace"),
        ("@" + DIGEST, "no repository"),
        ("a" * 5000, "longer"),
        ("ghcr.io/" + "a" * 300, "longer than 255"),
    ],
)
def test_malformed_references_raise_with_the_part_named(text: str, fragment: str) -> None:
    """Malformed references raise InvalidReferenceError whose message names the problem."""
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert fragment in info.value.message
