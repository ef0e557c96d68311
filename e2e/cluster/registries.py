"""Two kinds of local OCI registry on loopback.

- Debian's distribution 2.8 (`docker-registry`): no referrers API; a second instance
  with htpasswd basic auth.
- go-containerregistry's registry (what `crane registry serve` runs) built with its
  referrers API switched on (e2e/cluster/ociregistry).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from e2e.cluster import procs
from e2e.cluster.tools import free_port, tool_path

AUTH_USER = "modeluser"
AUTH_PASSWORD = "s3cret-model-pass"  # test-only credential for the local registry


@dataclass
class LocalRegistry:
    """One registry process; stop() and start() keep the same port and data."""

    name: str
    kind: str  # "distribution" | "crane"
    port: int
    datadir: Path
    logdir: Path
    referrers_api: bool
    username: str | None = None
    password: str | None = None
    proc: procs.Proc | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _argv(self) -> list[str]:
        if self.kind == "crane":
            return [
                str(tool_path("oci-registry")),
                "--address",
                self.host,
                "--disk",
                str(self.datadir),
            ]
        config = self.datadir / "config.yml"
        auth = ""
        if self.username:
            htpasswd = self.datadir / "htpasswd"
            line = subprocess.run(
                ["htpasswd", "-Bbn", self.username, self.password or ""],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            htpasswd.write_text(line + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: modelprefetch-test\n    path: {htpasswd}\n"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.datadir / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n" + auth
        )
        registry = shutil.which("docker-registry") or shutil.which("registry")
        if registry is None:
            raise FileNotFoundError(
                "docker-registry not installed (Debian package docker-registry)"
            )
        return [registry, "serve", str(config)]

    def start(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.proc = procs.start(f"registry-{self.name}", self._argv(), self.logdir)
        procs.wait_until(f"registry {self.name}", lambda: procs.port_open(self.port), 30, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)
            self.proc = None


@dataclass
class Registries:
    distribution: LocalRegistry
    distribution_auth: LocalRegistry
    crane: LocalRegistry

    def all(self) -> list[LocalRegistry]:
        return [self.distribution, self.distribution_auth, self.crane]

    def stop(self) -> None:
        for reg in self.all():
            reg.stop()


def start_registries(workdir: Path, logdir: Path) -> Registries:
    """Start the three registries on free loopback ports."""

    def make(name: str, kind: str, referrers: bool, auth: bool = False) -> LocalRegistry:
        return LocalRegistry(
            name=name,
            kind=kind,
            port=free_port(),
            datadir=workdir / f"registry-{name}",
            logdir=logdir,
            referrers_api=referrers,
            username=AUTH_USER if auth else None,
            password=AUTH_PASSWORD if auth else None,
        )

    regs = Registries(
        distribution=make("distribution", "distribution", referrers=False),
        distribution_auth=make("distribution-auth", "distribution", referrers=False, auth=True),
        crane=make("crane", "crane", referrers=True),
    )
    try:
        for reg in regs.all():
            reg.start()
    except BaseException:
        regs.stop()
        raise
    return regs
