"""`modelprefetch hold`: verification of the mounted tree, status file, probe, messages."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelprefetch import hold
from modelprefetch.cli import main


def make_model(root: Path, files: dict[str, bytes]) -> Path:
    model = root / "model"
    model.mkdir()
    for relative, data in files.items():
        path = model / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return model


def expected_file(root: Path, pairs: list[list[object]]) -> Path:
    path = root / "expected-files.json"
    path.write_text(json.dumps(pairs))
    return path


def args_for(tmp_path: Path, model: Path, expected: Path) -> argparse.Namespace:
    return argparse.Namespace(
        model_dir=model,
        expected_files=expected,
        status_file=tmp_path / "run" / "status.json",
        termination_log=tmp_path / "termination-log",
        probe=False,
    )


def held(ready: Callable[[], None]) -> int:
    ready()
    return 0


def test_complete_tree_passes() -> None:
    """A tree with every expected file at the right size has no problem."""
    assert (
        hold.check_tree(
            Path(__file__).parent, [(Path(__file__).name, Path(__file__).stat().st_size)]
        )
        is None
    )


def test_empty_mount_is_explained(tmp_path: Path) -> None:
    """An empty mount names containerd's native ModelPack limitation."""
    model = make_model(tmp_path, {})
    message = hold.check_tree(model, [("a.safetensors", 1)])
    assert message is not None and "is empty" in message and "containerd" in message


def test_missing_files_are_counted_and_named(tmp_path: Path) -> None:
    """Missing files are counted against the total and named."""
    model = make_model(tmp_path, {"config.json": b"{}"})
    expected = [("config.json", 2), ("a.safetensors", 5), ("b.safetensors", 5)]
    assert hold.check_tree(model, expected) == "2 of 3 files missing: a.safetensors, b.safetensors"


def test_wrong_size_is_reported(tmp_path: Path) -> None:
    """A file with the wrong size is reported with both sizes."""
    model = make_model(tmp_path, {"w.gguf": b"abc"})
    message = hold.check_tree(model, [("w.gguf", 10)])
    assert message == "1 of 1 files have the wrong size: w.gguf (3 bytes, expected 10)"


def test_long_lists_are_shortened(tmp_path: Path) -> None:
    """More than five missing files are summarised with a count."""
    model = make_model(tmp_path, {"keep": b""})
    expected = [(f"f{i}", 1) for i in range(8)]
    message = hold.check_tree(model, expected)
    assert message is not None and message.endswith("f4 and 3 more")


def test_paths_escaping_the_tree_count_as_missing(tmp_path: Path) -> None:
    """An expected path with .. is never looked up outside the mount."""
    model = make_model(tmp_path, {"a": b"x"})
    (tmp_path / "secret").write_bytes(b"x")
    assert hold.check_tree(model, [("../secret", 1)]) == "1 of 1 files missing: ../secret"


def test_run_writes_status_and_holds(tmp_path: Path) -> None:
    """A verified model writes the status file, then waits."""
    model = make_model(tmp_path, {"a": b"xy"})
    args = args_for(tmp_path, model, expected_file(tmp_path, [["a", 2]]))
    assert hold.run(args, hold=held) == 0
    assert json.loads(args.status_file.read_text()) == {"ready": True, "files": 1, "bytes": 2}


def test_run_failure_writes_termination_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad tree exits 3, with the message on stderr and in the termination log."""
    model = make_model(tmp_path, {"a": b"xy"})
    args = args_for(tmp_path, model, expected_file(tmp_path, [["a", 2], ["b", 1]]))
    assert hold.run(args, hold=held) == hold.EXIT_VERIFICATION_FAILED
    message = "1 of 2 files missing: b"
    assert (args.termination_log.read_text(), capsys.readouterr().err.strip()) == (message, message)


def test_failure_writes_no_status(tmp_path: Path) -> None:
    """A bad tree leaves no status file, so the probe keeps failing."""
    model = make_model(tmp_path, {})
    args = args_for(tmp_path, model, expected_file(tmp_path, [["a", 1]]))
    hold.run(args, hold=held)
    assert hold.probe(args.status_file) == 1


def test_malformed_expected_list_fails(tmp_path: Path) -> None:
    """A malformed expected file list is reported, not crashed on."""
    model = make_model(tmp_path, {"a": b"x"})
    bad = tmp_path / "expected-files.json"
    bad.write_text('{"a": 1}')
    args = args_for(tmp_path, model, bad)
    assert hold.run(args, hold=held) == hold.EXIT_VERIFICATION_FAILED
    assert "not a list of [path, size] pairs" in args.termination_log.read_text()


def test_probe_succeeds_after_verification(tmp_path: Path) -> None:
    """The probe passes once a verification wrote the status file."""
    model = make_model(tmp_path, {"a": b"x"})
    args = args_for(tmp_path, model, expected_file(tmp_path, [["a", 1]]))
    hold.run(args, hold=held)
    assert hold.probe(args.status_file) == 0


def test_probe_rejects_garbage(tmp_path: Path) -> None:
    """A status file that is not ours fails the probe."""
    status = tmp_path / "status.json"
    status.write_text("not json")
    assert hold.probe(status) == 1


def test_cli_probe(tmp_path: Path) -> None:
    """`modelprefetch hold --probe` exits 1 when there is no status file."""
    assert main(["hold", "--probe", "--status-file", str(tmp_path / "none.json")]) == 1


def test_module_entry_point_verifies(tmp_path: Path) -> None:
    """`python -m modelprefetch.hold` parses the same options (probe path shown)."""
    status = tmp_path / "status.json"
    status.write_text('{"ready": true}')
    assert hold.main(["--probe", "--status-file", str(status)]) == 0


def test_sigterm_ends_hold_with_success(tmp_path: Path) -> None:
    """A holding process exits 0 on SIGTERM."""
    model = make_model(tmp_path, {"a": b"x"})
    args = args_for(tmp_path, model, expected_file(tmp_path, [["a", 1]]))
    command = [sys.executable, "-m", "modelprefetch.hold", "--model-dir", str(model)]
    command += [
        "--expected-files",
        str(args.expected_files),
        "--status-file",
        str(args.status_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # "verified ... holding", printed once the handlers are installed
    process.send_signal(signal.SIGTERM)
    assert process.wait() == 0


def _digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_verified_digests_pass(tmp_path: Path) -> None:
    model = make_model(tmp_path, {"w.bin": b"weights", "sub/t.json": b"{}"})
    expected = expected_file(
        tmp_path, [["w.bin", 7, _digest(b"weights")], ["sub/t.json", 2, _digest(b"{}")]]
    )
    assert hold.run(args_for(tmp_path, model, expected), held) == 0


def test_same_size_other_content_fails_the_digest_check(tmp_path: Path) -> None:
    model = make_model(tmp_path, {"w.bin": b"WEIGHTS"})  # same size, swapped bytes
    expected = expected_file(tmp_path, [["w.bin", 7, _digest(b"weights")]])
    assert hold.run(args_for(tmp_path, model, expected), held) == hold.EXIT_VERIFICATION_FAILED
    log = (tmp_path / "termination-log").read_text()
    assert "1 files are not the verified content: w.bin (sha256 differs" in log


def test_extra_file_fails_when_every_file_is_digested(tmp_path: Path) -> None:
    model = make_model(tmp_path, {"w.bin": b"weights", "evil.py": b"import os"})
    expected = expected_file(tmp_path, [["w.bin", 7, _digest(b"weights")]])
    assert hold.run(args_for(tmp_path, model, expected), held) == hold.EXIT_VERIFICATION_FAILED
    assert "not in the verified model: evil.py" in (tmp_path / "termination-log").read_text()


def test_extra_symlink_fails_when_every_file_is_digested(tmp_path: Path) -> None:
    model = make_model(tmp_path, {"w.bin": b"weights"})
    (model / "link").symlink_to("/etc/passwd")
    expected = expected_file(tmp_path, [["w.bin", 7, _digest(b"weights")]])
    assert hold.run(args_for(tmp_path, model, expected), held) == hold.EXIT_VERIFICATION_FAILED
    assert "not in the verified model: link" in (tmp_path / "termination-log").read_text()
