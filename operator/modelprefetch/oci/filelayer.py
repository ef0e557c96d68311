"""A local file as a ModelPack layer blob (the file itself, or a one-file tar of it).

The blob is virtual: prefix (tar headers) + file bytes + suffix (padding, end blocks),
so nothing is ever written to disk or held in memory. The digest needs one read pass;
uploads read again from any offset, which makes every request retryable.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelprefetch.errors import PackError
from modelprefetch.oci.tarstream import file_prefix, file_suffix

READ_BYTES = 1024 * 1024


@dataclass(slots=True)
class FileLayer:
    """One model file packed as one layer."""

    path: str  # relative, "/"-separated: the org.cncf.model.filepath annotation
    source: Path
    file_size: int
    mode: int
    as_tar: bool
    _prefix: bytes = field(default=b"", repr=False)
    _suffix: bytes = field(default=b"", repr=False)
    _digest: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.as_tar:
            self._prefix = file_prefix(self.path, self.file_size, self.mode)
            self._suffix = file_suffix(self.file_size)

    @property
    def size(self) -> int:
        return len(self._prefix) + self.file_size + len(self._suffix)

    @property
    def digest(self) -> str:
        if self._digest is None:
            raise PackError(f"{self.path}: digest asked before hashing")
        return self._digest

    async def compute_digest(self, progress: Callable[[int], None] | None = None) -> str:
        """Hash the layer in a worker thread (hashlib releases the GIL) and remember it."""
        loop = asyncio.get_running_loop()

        def report(n: int) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, n)

        self._digest = await asyncio.to_thread(self._hash, report)
        return self._digest

    def _hash(self, report: Callable[[int], None]) -> str:
        hasher = hashlib.sha256(self._prefix)
        seen = 0
        try:
            with self.source.open("rb") as handle:
                while chunk := handle.read(READ_BYTES):
                    hasher.update(chunk)
                    seen += len(chunk)
                    report(len(chunk))
        except OSError as exc:
            raise PackError(f"cannot read {self.source}: {exc.strerror}") from None
        if seen != self.file_size:
            raise PackError(f"{self.source} changed size while packing")
        hasher.update(self._suffix)
        return "sha256:" + hasher.hexdigest()

    async def read(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of the layer blob, in chunks."""
        end = offset + length
        prefix_end = len(self._prefix)
        file_end = prefix_end + self.file_size
        if offset < prefix_end:
            yield self._prefix[offset : min(end, prefix_end)]
        start, stop = max(offset, prefix_end), min(end, file_end)
        if start < stop:
            async for chunk in self._read_file(start - prefix_end, stop - start):
                yield chunk
        if end > file_end:
            yield self._suffix[max(offset, file_end) - file_end : end - file_end]

    async def _read_file(self, offset: int, length: int) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self.source.open, "rb")
        except OSError as exc:
            raise PackError(f"cannot read {self.source}: {exc.strerror}") from None
        try:
            await asyncio.to_thread(handle.seek, offset)
            remaining = length
            while remaining > 0:
                chunk = await asyncio.to_thread(handle.read, min(READ_BYTES, remaining))
                if not chunk:
                    raise PackError(f"{self.source} shrank while packing")
                remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()
