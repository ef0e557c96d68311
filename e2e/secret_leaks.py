"""Finding a test's secret values in what an e2e run wrote (logs, Events, statuses, metrics).

The needles are every form a pull secret's value takes on its way through the operator:
the password itself, the base64 `user:password` of a docker config `auth` entry, and the
.dockerconfigjson document, raw and base64 (the Secret's data). A hit names where it was
found and which form matched, never the value itself, so the failure message is safe to
print in CI.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Files bigger than this are read in pieces; needles are far shorter than the overlap.
_CHUNK = 4 * 1024 * 1024
_OVERLAP = 4096


def dockerconfigjson(host: str, username: str, password: str) -> str:
    """The .dockerconfigjson document a pull secret for `host` holds."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps(
        {"auths": {host: {"username": username, "password": password, "auth": auth}}},
        separators=(",", ":"),
    )


def pull_secret(name: str, namespace: str, config: str) -> dict[str, object]:
    """A kubernetes.io/dockerconfigjson Secret holding `config`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    }


def secret_needles(host: str, username: str, password: str) -> dict[str, bytes]:
    """Each form of one credential, by a label that is safe to print."""
    config = dockerconfigjson(host, username, password)
    return {
        "password": password.encode(),
        "base64 user:password": base64.b64encode(f"{username}:{password}".encode()),
        "dockerconfigjson": config.encode(),
        "base64 dockerconfigjson": base64.b64encode(config.encode()),
    }


@dataclass(frozen=True)
class Leak:
    where: str  # a file path or a label such as "events" or "/metrics"
    form: str  # which needle matched

    def __str__(self) -> str:
        return f"{self.form} found in {self.where}"


def leaks_in_text(where: str, data: bytes, needles: Mapping[str, bytes]) -> list[Leak]:
    return [Leak(where, form) for form, needle in needles.items() if needle in data]


def leaks_in_file(path: Path, needles: Mapping[str, bytes]) -> list[Leak]:
    """Every needle form found in `path`, read in overlapping chunks (logs can be big)."""
    found: set[str] = set()
    tail = b""
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            window = tail + chunk
            found.update(form for form, needle in needles.items() if needle in window)
            tail = window[-_OVERLAP:]
    return [Leak(str(path), form) for form in needles if form in found]


def leaks_in_tree(root: Path, needles: Mapping[str, bytes]) -> list[Leak]:
    """Every file under `root` (logs of the operator and of each component)."""
    return [leak for path in scanned_files(root) for leak in leaks_in_file(path, needles)]


def scanned_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass
class SessionAudit:
    """What one pytest session (one xdist worker) wrote, searched at its end.

    Sources that exist only while a process runs (the operator's /metrics) are handed in
    before it stops; files that must be among those searched (the operator's log) are
    named, so a change of log location cannot make the check pass by searching nothing.
    """

    needles: Mapping[str, bytes]
    captured: dict[str, bytes]
    required_files: list[Path]

    @classmethod
    def for_credential(cls, host: str, username: str, password: str) -> SessionAudit:
        return cls(secret_needles(host, username, password), {}, [])

    def capture(self, where: str, text: str) -> None:
        self.captured[where] = text.encode()

    def require_file(self, path: Path) -> None:
        self.required_files.append(path)

    def leaks(self, logdir: Path, live: Mapping[str, str]) -> list[Leak]:
        """Leaks in the log folder, the live sources (events, statuses) and the captures."""
        missing = [p for p in self.required_files if p not in scanned_files(logdir)]
        if missing:
            raise AssertionError(f"files the audit must search are missing: {missing}")
        found = leaks_in_tree(logdir, self.needles)
        for where, text in {**live, **{k: v.decode() for k, v in self.captured.items()}}.items():
            found += leaks_in_text(where, text.encode(), self.needles)
        return found
