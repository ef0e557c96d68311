"""Wake-ups of the reconcile loops."""

from __future__ import annotations

import asyncio

from modelprefetch.reconciler.wakeups import Wakeups


async def test_wake_ends_the_wait_early() -> None:
    """An event for the key ends the sleep and reports it was woken."""
    wakeups, key = Wakeups(), ("ns", "woken")
    wakeups.register(key)
    waiter = asyncio.create_task(wakeups.wait(key, 30))
    await asyncio.sleep(0)
    wakeups.wake(key)
    assert await asyncio.wait_for(waiter, 5) is True


async def test_wait_times_out_when_nothing_happens() -> None:
    """Without an event the wait returns False after its time."""
    assert await Wakeups().wait(("ns", "quiet"), 0.01) is False


async def test_wakes_before_the_wait_are_not_lost() -> None:
    """A wake between two waits makes the next wait return at once (level-based)."""
    wakeups, key = Wakeups(), ("ns", "early")
    wakeups.register(key)
    wakeups.wake_all()
    assert await asyncio.wait_for(wakeups.wait(key, 30), 5) is True


async def test_wakeups_are_per_instance() -> None:
    """Two operators in one process (tests) do not wake each other's loops."""
    first, second, key = Wakeups(), Wakeups(), ("ns", "md")
    first.register(key)
    second.wake_all()
    assert await first.wait(key, 0.01) is False
