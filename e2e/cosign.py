"""The cosign CLI (built by e2e/cluster/build.sh) signing test models with keys made in
the test. Traffic stays on loopback: the only registry is a local one, the transparency
log upload is off, and any other HTTP(S) request is sent to a dead local proxy so it
fails instead of leaving the machine."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from e2e.cluster.tools import BUILD_SCRIPT, tool_path

PASSWORD = "test-only-cosign-password"  # encrypts the test's throwaway private keys
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens, requests fail at once


def pinned_tool(variable: str, name: str) -> Path:
    """<name>-<version> from the build cache, the version pinned in build.sh."""
    match = re.search(rf'{variable}="\$\{{{variable}:-(v[0-9.]+)\}}"', BUILD_SCRIPT.read_text())
    if match is None:
        raise RuntimeError(f"no {variable} in {BUILD_SCRIPT}")
    return tool_path(f"{name}-{match.group(1)}")


def cosign_binary() -> Path:
    """cosign-<version> from the build cache, the version pinned in build.sh."""
    return pinned_tool("COSIGN_VERSION", "cosign")


@dataclass
class KeyPair:
    private: Path
    public: Path

    @property
    def public_pem(self) -> str:
        return self.public.read_text()


class Cosign:
    """Runs cosign with a private HOME under `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.binary = cosign_binary()
        (workdir / "home").mkdir(parents=True, exist_ok=True)

    def _env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir / "home"),
            "TUF_ROOT": str(self.workdir / "tuf"),
            "COSIGN_PASSWORD": PASSWORD,
            "HTTPS_PROXY": DEAD_PROXY,
            "HTTP_PROXY": DEAD_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        return {**env, **extra}

    def run(self, *args: str, cwd: Path | None = None, **env: str) -> str:
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=cwd or self.workdir,
            env=self._env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"cosign {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout + result.stderr

    def generate_key_pair(self, name: str) -> KeyPair:
        """`cosign generate-key-pair` in workdir/name (cosign.key, cosign.pub)."""
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        self.run("generate-key-pair", cwd=folder)
        return KeyPair(folder / "cosign.key", folder / "cosign.pub")

    def sign(
        self, keys: KeyPair, image: str, *, referrer: bool = False, new_bundle: bool = False
    ) -> str:
        """Sign `image` (repo@digest): cosign's `.sig` tag, or an OCI 1.1 referrer
        (`new_bundle`: a sigstore bundle referrer, cosign's --new-bundle-format)."""
        args = ["sign", "--key", str(keys.private), "--tlog-upload=false", "-y"]
        args += ["--allow-insecure-registry", "--allow-http-registry"]
        if new_bundle:
            return self.run(*args, "--new-bundle-format", image)
        if referrer:
            return self.run(
                *args, "--registry-referrers-mode=oci-1-1", image, COSIGN_EXPERIMENTAL="1"
            )
        return self.run(*args, image)

    def sign_keyless(
        self,
        keys: KeyPair,
        certificate: Path,
        chain: Path,
        image: str,
        *,
        timestamp_url: str | None = None,
        new_bundle: bool = False,
    ) -> str:
        """Sign `image` as keyless signing does, without Fulcio or Rekor: the key's
        certificate (from the test's local CA) and its chain go into the signature's
        annotations (`new_bundle`: into a sigstore bundle referrer), an RFC 3161
        timestamp from `timestamp_url` (a local TSA) too."""
        args = ["sign", "--key", str(keys.private), "--tlog-upload=false", "-y"]
        args += ["--allow-insecure-registry", "--allow-http-registry"]
        args += ["--certificate", str(certificate), "--certificate-chain", str(chain)]
        if timestamp_url:
            args += ["--timestamp-server-url", timestamp_url]
        if new_bundle:
            args.append("--new-bundle-format")
        return self.run(*args, image)
