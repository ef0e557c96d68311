"""Registry options shared by the `pack`, `inspect` and `convert` commands.

Credentials come from a docker config file (`--docker-config`, default
~/.docker/config.json when it exists) or from `--username` with the password read from
stdin (`--password-stdin`), never from a command-line argument that `ps` would show.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from modelprefetch.errors import CredentialsError
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials, credentials_from_dockerconfigjson
from modelprefetch.oci.descriptor import Platform
from modelprefetch.oci.reference import Reference

T = TypeVar("T")


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """--plain-http, --docker-config, --username, --password-stdin."""
    group = parser.add_argument_group("registry")
    group.add_argument(
        "--plain-http", action="store_true", help="talk http, not https (local registries)"
    )
    group.add_argument(
        "--docker-config",
        type=Path,
        default=None,
        help="docker config.json with auths (default: ~/.docker/config.json if present)",
    )
    group.add_argument("--username", default=None, help="registry user name")
    group.add_argument(
        "--password-stdin", action="store_true", help="read the registry password from stdin"
    )


def add_platform_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        type=parse_platform,
        default=Platform("linux", "amd64"),
        help="os/arch[/variant] written into the derived image config (default linux/amd64)",
    )


def parse_platform(text: str) -> Platform:
    """argparse type for os/arch[/variant]."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not os/arch[/variant]")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def registry_client(args: argparse.Namespace, ref: Reference) -> RegistryClient:
    """A client for `ref`'s registry configured from the parsed options."""
    credentials: dict[str, Credentials] = {}
    found = _credentials(args, ref.registry)
    if found is not None:
        credentials[ref.api_host] = found
    return RegistryClient(credentials=credentials, plain_http=bool(args.plain_http))


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one coroutine to completion for a CLI command."""
    return asyncio.run(factory())


def _credentials(args: argparse.Namespace, registry: str) -> Credentials | None:
    if args.username is not None:
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
        return Credentials(username=args.username, password=password)
    path: Path | None = args.docker_config
    if path is None:
        default = Path.home() / ".docker" / "config.json"
        path = default if default.is_file() else None
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    return credentials_from_dockerconfigjson(data, registry)
