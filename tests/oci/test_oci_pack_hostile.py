"""`pack` on a hostile directory: a symlink loop is named once, not walked 40 levels deep."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelprefetch.errors import PackError
from modelprefetch.oci.pack import PackOptions, scan


def test_symlink_loop_is_a_clear_pack_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "sub" / "back").symlink_to("..")
    with pytest.raises(PackError, match=r"sub/back leads back to '\.'.*symlink loop") as caught:
        scan(tmp_path, PackOptions())
    assert len(caught.value.message) < 300
