"""sigstore's timestamp-authority (built by e2e/cluster/build.sh) on 127.0.0.1 with an
in-memory signer: RFC 3161 timestamps for keyless test signatures, so that verifying
them does not depend on the 10-minute certificate lifetime. NTP monitoring is off (it
would ask public time servers); the signer's certificate chain comes from the server.

v1.2.9 also serves Prometheus metrics on a hard-coded ":2112" (every interface, no flag
to move it): two servers cannot run at once on one machine. Each one therefore holds an
exclusive lock for its lifetime (parallel sessions wait; one process must not nest two),
and runs only for the few seconds that signing takes."""

from __future__ import annotations

import fcntl
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from e2e.cluster.procs import start, stop, wait_until
from e2e.cluster.tools import free_port
from e2e.cosign import pinned_tool

LOCK = Path("/tmp/modelprefetch-timestamp-server.lock")


@dataclass(frozen=True)
class TimestampAuthority:
    url: str  # what cosign's --timestamp-server-url takes
    chain: list[x509.Certificate]  # signing cert first, root last


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback only
        return bytes(answer.read())


@contextmanager
def timestamp_authority(logdir: Path) -> Iterator[TimestampAuthority]:
    """A running timestamp-server for the duration of the block."""
    binary = pinned_tool("TSA_VERSION", "timestamp-server")
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield from _serve(binary, logdir)


def _serve(binary: Path, logdir: Path) -> Iterator[TimestampAuthority]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--timestamp-signer", "memory", "--disable-ntp-monitoring"]
    proc = start(f"timestamp-server-{port}", argv, logdir)
    try:
        wait_until(f"timestamp-server on {base}", lambda: _ready(base), 30, proc)
        chain = x509.load_pem_x509_certificates(_get(f"{base}/api/v1/timestamp/certchain"))
        yield TimestampAuthority(f"{base}/api/v1/timestamp", chain)
    finally:
        stop(proc)


def _ready(base: str) -> bool:
    try:
        return bool(_get(f"{base}/api/v1/timestamp/certchain"))
    except OSError:
        return False
