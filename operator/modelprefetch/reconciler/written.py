"""What this loop last wrote, so a wake-up that changes nothing writes nothing.

Every event about a ModelDeployment's nodes, pods or DaemonSets wakes its loop, and
each pass used to server-side apply every holder DaemonSet again (issue 15: 404
identical DaemonSet patches at 200 nodes). A manifest equal to the one this loop
applied is skipped while the DaemonSet is still observed and the record is younger
than `ttl` (the resync period), so an edit or deletion by someone else is still
repaired: at once when it is deleted, within `ttl` when it is edited.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class LastWritten:
    """Holder DaemonSet manifests this loop applied, with when."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._applied: dict[str, tuple[float, dict[str, Any]]] = {}
        self._observed: set[str] = set()

    def observe(self, names: Iterable[str]) -> None:
        """The DaemonSets that exist now (from the informer); forget the others."""
        self._observed = set(names)
        for name in list(self._applied):
            if name not in self._observed:
                del self._applied[name]

    def unchanged(self, manifest: Mapping[str, Any]) -> bool:
        """True when applying `manifest` again would change nothing we know of."""
        name = manifest["metadata"]["name"]
        record = self._applied.get(name)
        if record is None or name not in self._observed:
            return False
        applied_at, applied = record
        return self._clock() - applied_at < self._ttl and applied == manifest

    def applied(self, manifest: Mapping[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        self._applied[name] = (self._clock(), copy.deepcopy(dict(manifest)))
        self._observed.add(name)
