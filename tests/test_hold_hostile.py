"""`hold` against a hostile mounted tree: a symlink that leaves the model tree is not the
model file it claims to be, whatever its size."""

from __future__ import annotations

from pathlib import Path

from modelprefetch.hold import check_tree


def test_symlink_out_of_the_tree_is_refused_by_name(tmp_path: Path) -> None:
    outside = tmp_path / "host-secret"
    outside.write_bytes(b"x" * 7)
    tree = tmp_path / "model"
    tree.mkdir()
    (tree / "model.bin").symlink_to(outside)
    problem = check_tree(tree, [("model.bin", 7)])
    assert problem is not None
    assert "1 of 1 files are symlinks out of the model tree: model.bin" in problem


def test_symlink_inside_the_tree_still_counts(tmp_path: Path) -> None:
    tree = tmp_path / "model"
    (tree / "blobs").mkdir(parents=True)
    (tree / "blobs" / "abc").write_bytes(b"x" * 7)
    (tree / "model.bin").symlink_to("blobs/abc")
    assert check_tree(tree, [("model.bin", 7)]) is None


def test_traversal_and_absolute_expected_paths_are_missing(tmp_path: Path) -> None:
    tree = tmp_path / "model"
    tree.mkdir()
    (tree / "a").write_bytes(b"1")
    problem = check_tree(tree, [("a", 1), ("../model/a", 1), ("/etc/hostname", 1)])
    assert problem is not None and "2 of 3 files missing" in problem
