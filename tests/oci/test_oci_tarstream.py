"""One-file tar streams: valid, exact in size, reproducible."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator

import pytest

from modelprefetch.errors import PackError, RegistryProtocolError
from modelprefetch.oci.tarstream import tar_size, wrap_file

DATA = b"weights" * 1000


async def _source(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 999):
        yield data[start : start + 999]


async def _tar(path: str, data: bytes, mode: int = 0o644) -> bytes:
    return b"".join([chunk async for chunk in wrap_file(path, len(data), _source(data), mode)])


async def test_tar_holds_the_file_and_its_parents() -> None:
    """The tar lists parent directories (0755) and the file with its bytes and mode."""
    blob = await _tar("a/b/model.bin", DATA)
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        members = [(m.name, m.isdir(), m.mode) for m in archive.getmembers()]
        content = archive.extractfile("a/b/model.bin").read()  # type: ignore[union-attr]
    assert (members, content) == (
        [("a", True, 0o755), ("a/b", True, 0o755), ("a/b/model.bin", False, 0o644)],
        DATA,
    )


async def test_tar_size_is_exact() -> None:
    """tar_size predicts the byte length of the stream."""
    assert len(await _tar("x/y.bin", DATA)) == tar_size("x/y.bin", len(DATA))


async def test_long_paths_use_pax_and_stay_exact() -> None:
    """Paths longer than ustar allows still round-trip and tar_size still matches."""
    path = "/".join(["d" * 60] * 4) + "/file.safetensors"
    blob = await _tar(path, DATA)
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        assert archive.getmember(path).size == len(DATA)
    assert len(blob) == tar_size(path, len(DATA))


async def test_same_input_same_bytes() -> None:
    """Two runs give identical bytes (no timestamps, no owners)."""
    assert await _tar("m.bin", DATA) == await _tar("m.bin", DATA)


async def test_short_source_raises_the_given_error() -> None:
    """A source with fewer bytes than declared raises the caller's error type."""
    stream = wrap_file("m.bin", len(DATA) + 1, _source(DATA), error=PackError)
    with pytest.raises(PackError):
        async for _ in stream:
            pass


async def test_long_source_raises() -> None:
    """A source with more bytes than declared raises a protocol error by default."""
    with pytest.raises(RegistryProtocolError):
        async for _ in wrap_file("m.bin", 10, _source(DATA)):
            pass
