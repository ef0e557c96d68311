"""Background processes with one log file each, recorded so another process can stop them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    pid: int = 0

    def alive(self) -> bool:
        if not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        # A zombie child still answers kill(0); look at its state.
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            return stat.split(")")[-1].split()[0] != "Z"
        return False


def start(name: str, argv: Sequence[str], logdir: Path, env: dict[str, str] | None = None) -> Proc:
    """Start `argv` in its own session, stdout+stderr appended to logdir/<name>.log."""
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return Proc(name=name, argv=list(argv), log=log, pid=popen.pid)


def stop(proc: Proc, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if not proc.pid:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
            if not proc.alive():
                return
            time.sleep(0.1)


def wait_until(
    what: str, check: Callable[[], bool], timeout: float, proc: Proc | None = None
) -> None:
    """Poll `check` until it is true; fail early with the log tail if `proc` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited while waiting for {what}:\n{tail(proc.log)}")
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return bool(200 <= resp.status < 300)
    except OSError:
        return False
    except Exception:
        return False


def save(procs: Sequence[Proc], path: Path) -> None:
    path.write_text(json.dumps([p.__dict__ | {"log": str(p.log)} for p in procs], indent=1))


def load(path: Path) -> list[Proc]:
    if not path.exists():
        return []
    return [
        Proc(name=d["name"], argv=d["argv"], log=Path(d["log"]), pid=d["pid"])
        for d in json.loads(path.read_text())
    ]
