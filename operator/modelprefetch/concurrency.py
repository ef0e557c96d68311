"""Run awaitables concurrently within a bound, failing with the first error itself.

asyncio.TaskGroup raises an ExceptionGroup; callers (and the CLI) expect our own error
types, so the first leaf of the group is raised instead. The other jobs are cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any


async def run_bounded(jobs: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> None:
    """Run every job, at most `limit` (at least 1) at a time; raise the first failure."""
    semaphore = asyncio.Semaphore(max(limit, 1))

    async def run(job: Callable[[], Awaitable[Any]]) -> None:
        async with semaphore:
            await job()

    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(run(job))
    except ExceptionGroup as group:
        raise first_leaf(group) from None


def first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first exception of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
