"""Wake-ups for the per-ModelDeployment reconcile loops.

Node, pod and DaemonSet events only set a flag here; the loop of the affected
ModelDeployment then runs one level-based reconcile. Several events before the loop
wakes collapse into one reconcile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

Key = tuple[str, str]  # (namespace, name)


class Wakeups:
    """One flag per running reconcile loop, and what nodes looked like when last seen."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}
        self._node_prints: dict[str, Hashable] = {}

    def register(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def unregister(self, key: Key) -> None:
        self._events.pop(key, None)

    def wake(self, key: Key) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        for event in self._events.values():
            event.set()

    async def wait(self, key: Key, seconds: float) -> bool:
        """Sleep up to `seconds` or until woken; True when woken."""
        event = self.register(key)
        try:
            await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        finally:
            event.clear()
        return True

    def node_changed(self, name: str, fingerprint: Hashable | None) -> None:
        """Wake every loop when what targeting reads of a node changed (None: deleted).

        Node heartbeats arrive every few seconds and change nothing targeting reads;
        comparing fingerprints keeps them from waking anyone.
        """
        if fingerprint is None:
            self._node_prints.pop(name, None)
            self.wake_all()
        elif self._node_prints.get(name) != fingerprint:
            self._node_prints[name] = fingerprint
            self.wake_all()
