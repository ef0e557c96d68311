"""The project's own image, built from its Dockerfile by hack/image.sh (what `make image`
runs) and pushed to a local registry: what the operator and the holder pods run in e2e.

hack/image.sh caches the base and the finished image under
${MODELPREFETCH_CACHE:-~/.cache/modelprefetch}/image, keyed by a hash of every file that
goes into the image (Dockerfile, pyproject.toml, README.md, operator/): it rebuilds only
when one of them changed, and otherwise just pushes. Cold (no cache) it takes minutes;
it needs root and the Debian packages `make system-deps` installs.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from e2e.cluster.tools import REPO_ROOT

IMAGE_SCRIPT = REPO_ROOT / "hack" / "image.sh"
REPOSITORY = "modelprefetch"
TAG = "e2e"
PINNED = re.compile(r"^(?P<repo>\S+)@(?P<digest>sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class ProjectImage:
    tag: str  # <registry>/modelprefetch:e2e
    reference: str  # the same image pinned by digest: <registry>/modelprefetch@sha256:...
    digest: str
    seconds: float  # build (if any inputs changed) + push


def build_and_push(registry_host: str, *, log: Path | None = None) -> ProjectImage:
    """Run hack/image.sh for `<registry_host>/modelprefetch:e2e`; its output goes to `log`."""
    tag = f"{registry_host}/{REPOSITORY}:{TAG}"
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(IMAGE_SCRIPT), tag], capture_output=True, text=True, timeout=3600
    )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(done.stderr + done.stdout)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    match = PINNED.match(last)
    if done.returncode != 0 or match is None or match["repo"] != tag.rsplit(":", 1)[0]:
        tail = "\n".join((done.stderr + done.stdout).splitlines()[-30:])
        raise RuntimeError(
            f"hack/image.sh {tag} failed (exit {done.returncode}; `make system-deps` installs "
            f"buildah and mmdebstrap):\n{tail}"
        )
    return ProjectImage(tag, last, match["digest"], time.monotonic() - started)
