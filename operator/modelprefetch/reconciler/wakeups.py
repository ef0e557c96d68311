"""Wake-ups for the per-ModelDeployment reconcile loops.

Node, pod and DaemonSet events only set a flag here; the loop of the affected
ModelDeployment then runs one level-based reconcile. Several events before the loop
wakes collapse into one reconcile.
"""

from __future__ import annotations

import asyncio

Key = tuple[str, str]  # (namespace, name)


class Wakeups:
    """One flag per running reconcile loop."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}

    def register(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def unregister(self, key: Key) -> None:
        self._events.pop(key, None)

    def __len__(self) -> int:
        """Loops registered now."""
        return len(self._events)

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
