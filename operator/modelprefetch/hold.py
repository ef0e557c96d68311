"""`modelprefetch hold`: verify the mounted model, then keep it in use until SIGTERM.

Runs in the prefetch DaemonSet's pod. The model is mounted as an image volume at
--model-dir; the expected files ([[path, size], ...]) come from a downwardAPI file.
With spec.model.verify an entry may carry a third element, the file's verified
"sha256:<hex>" (a raw layer's digest is the file's own): the file is hashed and must match,
and when every entry carries one, no other file or symlink may be in the tree.

* Files all present with the right sizes: write --status-file, then sleep until
  SIGTERM (exit 0). The pod's exec readiness probe (`hold --probe`) turns Ready.
* Empty mount, missing files or wrong sizes: print why to stderr and to the
  termination log, exit 3 (EXIT_VERIFICATION_FAILED). The pod never becomes Ready;
  the operator reads the message from the container's terminated state and fails the
  node at once.

Standard library only, imported fast: the probe runs every few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

DEFAULT_MODEL_DIR = "/model"
DEFAULT_EXPECTED_FILES = "/etc/modelprefetch/expected-files.json"
DEFAULT_STATUS_FILE = "/run/modelprefetch/status.json"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
LISTED_NAMES = 5  # names quoted in a message; the rest are counted
# Exit code when the mounted tree is wrong, distinct from a crash (1) or a signal (128+n):
# the operator fails the node at once only for this code.
EXIT_VERIFICATION_FAILED = 3

ExpectedFile = tuple[str, int]
HASH_CHUNK = 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `hold` options (shared by the CLI subcommand and `python -m`)."""
    parser.add_argument("--model-dir", type=Path, default=Path(DEFAULT_MODEL_DIR))
    parser.add_argument("--expected-files", type=Path, default=Path(DEFAULT_EXPECTED_FILES))
    parser.add_argument("--status-file", type=Path, default=Path(DEFAULT_STATUS_FILE))
    parser.add_argument("--termination-log", type=Path, default=Path(DEFAULT_TERMINATION_LOG))
    parser.add_argument(
        "--probe", action="store_true", help="exit 0 if the model was verified, 1 otherwise"
    )


def load_expected(path: Path) -> list[ExpectedFile]:
    """Read [[path, size], ...]; raises ValueError with a clear message when malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "[]")
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read the expected file list {path}: {exc}") from exc
    if not isinstance(data, list) or not all(_is_entry(item) for item in data):
        raise ValueError(f"Expected file list {path} is not a list of [path, size] pairs")
    return [(str(item[0]), int(item[1])) for item in data]


def load_digests(path: Path) -> dict[str, str]:
    """Path -> verified "sha256:<hex>" of the entries that carry one (see load_expected)."""
    data = json.loads(path.read_text(encoding="utf-8") or "[]")
    return {
        str(item[0]): item[2]
        for item in data
        if len(item) == 3 and isinstance(item[2], str) and item[2].startswith("sha256:")
    }


def check_digests(model_dir: Path, digests: dict[str, str], exact: bool) -> str | None:
    """Why the mounted files are not the verified ones, or None. Reads every listed file."""
    wrong = []
    for relative, digest in sorted(digests.items()):
        hasher = hashlib.sha256()
        try:
            with (model_dir / relative).open("rb") as stream:
                while chunk := stream.read(HASH_CHUNK):
                    hasher.update(chunk)
        except OSError as exc:
            wrong.append(f"{relative} (unreadable: {exc.strerror})")
            continue
        if "sha256:" + hasher.hexdigest() != digest:
            wrong.append(f"{relative} (sha256 differs from the verified {digest[:19]}...)")
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} files are not the verified content: {_names(wrong)}")
    if exact:
        extra = [
            str(p.relative_to(model_dir))
            for p in sorted(model_dir.rglob("*"))
            if (p.is_symlink() or not p.is_dir()) and str(p.relative_to(model_dir)) not in digests
        ]
        if extra:
            problems.append(f"{len(extra)} files are not in the verified model: {_names(extra)}")
    return "; ".join(problems) or None


def _is_entry(item: object) -> bool:
    return (
        isinstance(item, list)
        and len(item) in (2, 3)
        and isinstance(item[0], str)
        and isinstance(item[1], int)
    )


def check_tree(model_dir: Path, expected: Sequence[ExpectedFile]) -> str | None:
    """Why the mounted tree is not the expected model, or None when it is."""
    if not model_dir.is_dir():
        return f"Model mount {model_dir} does not exist or is not a directory"
    if not any(model_dir.iterdir()):
        return (
            f"Model mount {model_dir} is empty: the runtime mounted no files"
            " (containerd cannot unpack native ModelPack layers)"
        )
    missing: list[str] = []
    wrong: list[str] = []
    outside: list[str] = []
    root = model_dir.resolve()
    for relative, size in expected:
        actual = _size_of(model_dir, relative)
        if actual is not None and not (model_dir / relative).resolve().is_relative_to(root):
            outside.append(relative)  # a symlink to a file of the pod, not of the model
        elif actual is None:
            missing.append(relative)
        elif actual != size:
            wrong.append(f"{relative} ({actual} bytes, expected {size})")
    problems = []
    if outside:
        problems.append(
            f"{len(outside)} of {len(expected)} files are symlinks out of the model tree:"
            f" {_names(outside)}"
        )
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} files missing: {_names(missing)}")
    if wrong:
        problems.append(
            f"{len(wrong)} of {len(expected)} files have the wrong size: {_names(wrong)}"
        )
    return "; ".join(problems) or None


def _size_of(model_dir: Path, relative: str) -> int | None:
    """Size of a regular file inside the tree; None when absent or outside it."""
    if relative.startswith("/") or ".." in relative.split("/"):
        return None
    path = model_dir / relative
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:LISTED_NAMES])
    more = len(items) - LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def report_failure(message: str, termination_log: Path) -> None:
    """Tell the operator (termination message) and the human (stderr)."""
    print(message, file=sys.stderr)
    # Outside Kubernetes there is no termination log; stderr is enough then.
    with contextlib.suppress(OSError):
        termination_log.write_text(message, encoding="utf-8")


def write_status(status_file: Path, expected: Sequence[ExpectedFile]) -> None:
    """Record the successful verification for the readiness probe."""
    status_file.parent.mkdir(parents=True, exist_ok=True)
    total = sum(size for _, size in expected)
    status = {"ready": True, "files": len(expected), "bytes": total}
    status_file.write_text(json.dumps(status), encoding="utf-8")


def probe(status_file: Path) -> int:
    """0 when a verification succeeded, 1 otherwise."""
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return 1
    return 0 if isinstance(status, dict) and status.get("ready") is True else 1


def hold_until_terminated(ready: Callable[[], None]) -> int:
    """Install SIGTERM/SIGINT handlers, announce readiness, sleep until a signal; return 0.

    Handlers come first so a pod terminated right after turning Ready still exits 0.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        ready()
        while True:
            signal.pause()
    except SystemExit:
        return 0


def run(
    args: argparse.Namespace,
    hold: Callable[[Callable[[], None]], int] = hold_until_terminated,
) -> int:
    """Verify the model (or probe) and hold it."""
    if args.probe:
        return probe(args.status_file)
    try:
        expected = load_expected(args.expected_files)
    except ValueError as exc:
        report_failure(str(exc), args.termination_log)
        return EXIT_VERIFICATION_FAILED
    problem = check_tree(args.model_dir, expected)
    if problem is None:
        digests = load_digests(args.expected_files)
        exact = bool(digests) and len(digests) == len(expected)
        problem = check_digests(args.model_dir, digests, exact) if digests else None
    if problem is not None:
        report_failure(problem, args.termination_log)
        return EXIT_VERIFICATION_FAILED

    def ready() -> None:
        write_status(args.status_file, expected)
        total = sum(size for _, size in expected)
        print(f"Model at {args.model_dir} verified: {len(expected)} files, {total} bytes; holding")
        sys.stdout.flush()

    return hold(ready)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m modelprefetch.hold`: the same command without the full CLI's imports."""
    parser = argparse.ArgumentParser(prog="modelprefetch hold", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
