"""run_bounded: the bound holds and the first failure surfaces as itself."""

from __future__ import annotations

import asyncio

import pytest

from modelprefetch.concurrency import run_bounded
from modelprefetch.errors import PackError


def test_never_more_than_the_limit_at_once() -> None:
    """Ten jobs with a limit of 3 never overlap more than three deep, and all run."""
    running, peak, done = 0, 0, []

    async def job(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(i)

    asyncio.run(run_bounded([lambda i=i: job(i) for i in range(10)], 3))
    assert peak == 3
    assert sorted(done) == list(range(10))


def test_the_first_error_is_raised_itself_not_a_group() -> None:
    """A failing job raises our own error type, so callers need no except* clauses."""

    async def fail() -> None:
        raise PackError("boom")

    with pytest.raises(PackError, match="boom"):
        asyncio.run(run_bounded([fail, fail], 0))
