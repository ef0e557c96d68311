"""Wake-ups of the reconcile loops, and node label removal on cleanup."""

from __future__ import annotations

import asyncio

from modelprefetch.handlers import applier, triggers


async def test_wake_ends_the_wait_early() -> None:
    """An event for the key ends the sleep and reports it was woken."""
    key = ("ns", "woken")
    triggers.register(key)
    waiter = asyncio.create_task(triggers.wait(key, 30))
    await asyncio.sleep(0)
    triggers.wake(key)
    assert await asyncio.wait_for(waiter, 5) is True
    triggers.unregister(key)


async def test_wait_times_out_when_nothing_happens() -> None:
    """Without an event the wait returns False after its time."""
    key = ("ns", "quiet")
    assert await triggers.wait(key, 0.01) is False
    triggers.unregister(key)


async def test_wakes_before_the_wait_are_not_lost() -> None:
    """A wake between two waits makes the next wait return at once (level-based)."""
    key = ("ns", "early")
    triggers.register(key)
    triggers.wake_all()
    assert await asyncio.wait_for(triggers.wait(key, 30), 5) is True
    triggers.unregister(key)


def test_labels_to_remove_touches_only_nodes_with_our_keys() -> None:
    """Only the given keys are removed, only on nodes that carry them."""
    nodes = [
        ("a", {"prefetch.modelprefetch.io/x": "1", "other": "y"}),
        ("b", {"other": "y"}),
        ("c", {"warm.modelprefetch.io/x": "true", "prefetch.modelprefetch.io/z": "2"}),
    ]
    keys = {"prefetch.modelprefetch.io/x", "warm.modelprefetch.io/x"}
    assert applier.labels_to_remove(keys, nodes) == {
        "a": {"prefetch.modelprefetch.io/x": None},
        "c": {"warm.modelprefetch.io/x": None},
    }
