"""Registry credentials, read from kubernetes.io/dockerconfigjson pull secrets.

Secrets never appear in reprs, logs or error messages: `Credentials.__repr__` hides them
and parse errors name the field, not its value.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modelprefetch.errors import CredentialsError

_DOCKER_HUB_KEYS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Basic credentials (username/password) or an identity token for one registry."""

    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={'***' if self.username else ''!r}, secret=***)"


def credentials_from_dockerconfigjson(
    data: bytes | str | dict[str, Any], registry_host: str
) -> Credentials | None:
    """Credentials for `registry_host` ("ghcr.io", "127.0.0.1:5000", "docker.io") from a
    `.dockerconfigjson` payload (raw bytes/str or already decoded), or None if no entry
    matches. Keys of `auths` may be bare hosts or URLs (https://index.docker.io/v1/).
    An entry may carry `auth` (base64 "user:password"), `username`/`password` or
    `identitytoken`. Raises `CredentialsError` when the payload is malformed.
    """
    document = _load(data)
    auths = document.get("auths", {})
    if not isinstance(auths, dict):
        raise CredentialsError("dockerconfigjson field 'auths' must be an object")
    wanted = _host_key(registry_host)
    for key, entry in auths.items():
        if isinstance(key, str) and _host_key(key) == wanted:
            return _entry_credentials(key, entry)
    return None


def _load(data: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CredentialsError("dockerconfigjson is not valid JSON") from None
    if not isinstance(document, dict):
        raise CredentialsError("dockerconfigjson must be a JSON object")
    return document


def _host_key(key: str) -> str:
    """Normalise an auths key or a registry host to a comparable host[:port]."""
    text = key.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    text = text.split("/", 1)[0].lower()
    return "docker.io" if text in _DOCKER_HUB_KEYS else text


def _entry_credentials(key: str, entry: Any) -> Credentials:
    if not isinstance(entry, dict):
        raise CredentialsError(f"dockerconfigjson auths[{key!r}] must be an object")
    token = entry.get("identitytoken")
    if token is not None and not isinstance(token, str):
        raise CredentialsError(f"dockerconfigjson auths[{key!r}].identitytoken must be a string")
    username, password = entry.get("username"), entry.get("password")
    auth = entry.get("auth")
    if auth:
        if not isinstance(auth, str):
            raise CredentialsError(f"dockerconfigjson auths[{key!r}].auth must be a string")
        username, password = _decode_auth(key, auth)
    if username is None and password is None and token is None:
        raise CredentialsError(f"dockerconfigjson auths[{key!r}] has no auth, username or token")
    if not isinstance(username, str | None) or not isinstance(password, str | None):
        raise CredentialsError(
            f"dockerconfigjson auths[{key!r}] username and password must be strings"
        )
    return Credentials(username=username or "", password=password or "", identity_token=token)


def _decode_auth(key: str, auth: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(auth, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise CredentialsError(f"dockerconfigjson auths[{key!r}].auth is not base64") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise CredentialsError(f"dockerconfigjson auths[{key!r}].auth is not 'user:password'")
    return username, password
