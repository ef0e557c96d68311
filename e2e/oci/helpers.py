"""Shared helpers for the oci e2e tests: run our CLI and the reference tools."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

from e2e.cluster.registries import LocalRegistry
from e2e.cluster.tools import REPO_ROOT, tool_path
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.credentials import Credentials


def unique_repo(prefix: str = "models") -> str:
    return f"{prefix}/m{uuid.uuid4().hex[:10]}"


def client_for(registry: LocalRegistry) -> RegistryClient:
    credentials = {}
    if registry.username:
        credentials[registry.host] = Credentials(
            username=registry.username, password=registry.password or ""
        )
    return RegistryClient(credentials=credentials, plain_http=True)


def docker_config(registry: LocalRegistry, directory: Path) -> Path:
    """A docker config.json holding the registry's credentials (oras, crane, modctl, us)."""
    directory.mkdir(parents=True, exist_ok=True)
    auths = {}
    if registry.username:
        token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
        auths[registry.host] = {"auth": token}
    path = directory / "config.json"
    path.write_text(json.dumps({"auths": auths}))
    return path


def modelprefetch(registry: LocalRegistry, config_dir: Path, *args: str) -> dict[str, object]:
    """Run `python -m modelprefetch ARGS --plain-http --json` and parse its output."""
    argv = [sys.executable, "-m", "modelprefetch", *args, "--plain-http", "--json"]
    argv += ["--docker-config", str(docker_config(registry, config_dir))]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def tool(name: str, registry: LocalRegistry, config_dir: Path, *args: str) -> str:
    """Run crane, oras or modctl with the registry's credentials; return stdout."""
    config = docker_config(registry, config_dir)
    env = {"DOCKER_CONFIG": str(config.parent), "HOME": str(config_dir), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(tool_path(name)), *args], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, f"{name} {' '.join(args)}: {done.stderr}"
    return done.stdout


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
