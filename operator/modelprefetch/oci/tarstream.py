"""Reproducible single-file tar streams, produced in constant memory.

A model file becomes: a header for each parent directory (0755), the file's header
(PAX when the path is long), the bytes, zero padding to 512, and the two zero blocks
that end an archive. Owner 0:0, mtime 0 and no user names, so the same file always
gives the same tar and therefore the same digest.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import AsyncIterable, AsyncIterator

from modelprefetch.errors import ModelPrefetchError, RegistryProtocolError

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


def _header(name: str, *, size: int, mode: int, directory: bool) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mode = mode
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def file_prefix(path: str, size: int, mode: int = 0o644) -> bytes:
    """Everything in the tar before the file's bytes: directory entries and its header."""
    parts = path.split("/")
    headers = [
        _header("/".join(parts[: i + 1]) + "/", size=0, mode=0o755, directory=True)
        for i in range(len(parts) - 1)
    ]
    headers.append(_header(path, size=size, mode=mode, directory=False))
    return b"".join(headers)


def file_suffix(size: int) -> bytes:
    """Everything in the tar after the file's bytes: padding and end of archive."""
    return b"\0" * (-size % BLOCK) + END_OF_ARCHIVE


def tar_size(path: str, size: int, mode: int = 0o644) -> int:
    """Exact byte length of the tar `wrap_file` produces."""
    return len(file_prefix(path, size, mode)) + size + len(file_suffix(size))


def normalise_mode(mode: int) -> int:
    """World-readable modes only (image volumes do no fsGroup handling): 0755 for
    executables, 0644 otherwise."""
    return 0o755 if mode & 0o111 else 0o644


async def wrap_file(
    path: str,
    size: int,
    data: AsyncIterable[bytes],
    mode: int = 0o644,
    *,
    error: type[ModelPrefetchError] = RegistryProtocolError,
) -> AsyncIterator[bytes]:
    """Yield the tar of one file whose `size` bytes come from `data`; raise `error` if
    `data` does not give exactly `size` bytes (a tar with a wrong size is corrupt)."""
    if posixpath.isabs(path):
        raise error(f"tar member path {path!r} must be relative")
    yield file_prefix(path, size, mode)
    seen = 0
    async for chunk in data:
        seen += len(chunk)
        if seen > size:
            raise error(f"{path}: more than the declared {size} bytes")
        yield chunk
    if seen != size:
        raise error(f"{path}: {seen} bytes instead of the declared {size}")
    yield file_suffix(size)
