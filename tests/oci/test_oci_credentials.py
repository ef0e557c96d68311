"""Credentials from kubernetes.io/dockerconfigjson payloads."""

from __future__ import annotations

import base64
import json

import pytest

from modelprefetch.errors import CredentialsError
from modelprefetch.oci.credentials import Credentials, credentials_from_dockerconfigjson


def _config(entry: object, key: str = "ghcr.io") -> bytes:
    return json.dumps({"auths": {key: entry}}).encode()


def test_auth_field_is_decoded() -> None:
    """An `auth` entry is base64 user:password."""
    auth = base64.b64encode(b"bob:pa:ss").decode()
    found = credentials_from_dockerconfigjson(_config({"auth": auth}), "ghcr.io")
    assert found == Credentials(username="bob", password="pa:ss")


def test_username_password_fields() -> None:
    """Separate username/password fields are used when there is no auth."""
    found = credentials_from_dockerconfigjson(
        _config({"username": "u", "password": "p"}), "ghcr.io"
    )
    assert found == Credentials(username="u", password="p")


def test_url_keys_match_docker_hub() -> None:
    """The legacy https://index.docker.io/v1/ key matches docker.io."""
    data = _config({"username": "u", "password": "p"}, key="https://index.docker.io/v1/")
    assert credentials_from_dockerconfigjson(data, "registry-1.docker.io") is not None


def test_host_with_port_matches_exactly() -> None:
    """A registry with a port only matches the same host:port."""
    data = _config({"username": "u", "password": "p"}, key="127.0.0.1:5000")
    assert credentials_from_dockerconfigjson(data, "127.0.0.1:5001") is None


def test_accepts_decoded_dict() -> None:
    """An already decoded payload is accepted."""
    data = {"auths": {"ghcr.io": {"identitytoken": "t"}}}
    assert credentials_from_dockerconfigjson(data, "ghcr.io") == Credentials(identity_token="t")


def test_repr_hides_secrets() -> None:
    """Neither password nor token appears in repr()."""
    text = repr(Credentials(username="bob", password="hunter2", identity_token="tok"))
    assert "hunter2" not in text and "tok" not in text and "bob" not in text


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"auths": []}).encode(), "'auths'"),
        (_config("string"), "must be an object"),
        (_config({"auth": "!!!"}), "not base64"),
        (_config({"auth": base64.b64encode(b"nocolon").decode()}), "user:password"),
        (_config({}), "no auth"),
    ],
)
def test_malformed_payloads_raise_naming_the_field(payload: bytes, fragment: str) -> None:
    """Malformed secrets raise CredentialsError naming the field, never the secret."""
    with pytest.raises(CredentialsError) as info:
        credentials_from_dockerconfigjson(payload, "ghcr.io")
    assert fragment in info.value.message
