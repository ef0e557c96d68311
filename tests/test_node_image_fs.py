"""The image filesystem every real test node gets (e2e.cluster.tools.default_image_fs_bytes)."""

from __future__ import annotations

import pytest
from e2e.cluster.tools import NODE_IMAGE_FS_ENV, default_image_fs_bytes


def test_a_node_gets_ten_gib_of_its_own_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NODE_IMAGE_FS_ENV, raising=False)
    assert default_image_fs_bytes() == 10 * 1024**3


@pytest.mark.parametrize(("value", "expected"), [("2.5", int(2.5 * 1024**3)), ("0", 0)])
def test_the_size_is_set_in_gib_and_0_means_the_host_filesystem(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int
) -> None:
    monkeypatch.setenv(NODE_IMAGE_FS_ENV, value)
    assert default_image_fs_bytes() == expected


@pytest.mark.parametrize("value", ["ten", "-1"])
def test_a_bad_size_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(NODE_IMAGE_FS_ENV, value)
    with pytest.raises(ValueError, match=NODE_IMAGE_FS_ENV):
        default_image_fs_bytes()
