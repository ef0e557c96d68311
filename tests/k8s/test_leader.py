"""Leader election on a Lease: one winner, takeover judged on the standby's own clock, and a
leader that steps down before any standby could take over."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest

from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.leader import LeaderElector, _fmt
from modelprefetch.k8s.resources import LEASES
from tests.k8s.fakeapi import FakeApi

LEASE = LEASES.path("ops", "leader")


def _elector(kube: Any, identity: str, **kwargs: Any) -> LeaderElector:
    return LeaderElector(kube, "ops", "leader", identity, **{"lease_seconds": 15, **kwargs})


class FakeClock:
    """Monotonic time that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # Let the other tasks run first; time passes only for a sleep that is not cancelled.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.now += seconds


async def test_first_replica_creates_and_holds_the_lease(kube: KubeClient) -> None:
    """With no Lease, the first attempt creates it with our identity."""
    assert await _elector(kube, "a").try_acquire_or_renew() is True
    lease = await kube.get(LEASES, "leader", "ops")
    assert lease["spec"]["holderIdentity"] == "a"


async def test_second_replica_waits_while_the_lease_is_fresh(kube: KubeClient) -> None:
    """Another identity cannot take a lease renewed within its duration."""
    assert await _elector(kube, "a").try_acquire_or_renew()
    assert await _elector(kube, "b").try_acquire_or_renew() is False


async def test_standby_ignores_the_holders_timestamps(kube: KubeClient, fake_api: FakeApi) -> None:
    """A holder whose clock runs a minute behind writes renewTimes that look stale to us: a
    standby that has just seen the record must not take the Lease (two leaders)."""
    assert await _elector(kube, "a").try_acquire_or_renew()
    skewed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    fake_api.objects[LEASE]["spec"]["renewTime"] = _fmt(skewed)
    assert await _elector(kube, "b").try_acquire_or_renew() is False


async def test_standby_takes_over_a_lease_duration_after_it_saw_the_last_change(
    kube: KubeClient,
) -> None:
    """Expiry is counted on the standby's monotonic clock from when it observed the record
    change: a renewal seen in between restarts the count."""
    clock = FakeClock()
    a, b = _elector(kube, "a"), _elector(kube, "b", monotonic=clock)
    assert await a.try_acquire_or_renew()
    assert await b.try_acquire_or_renew() is False  # observed at t=0
    clock.now += 10
    assert await a.try_acquire_or_renew()  # renewed: the record changes
    assert await b.try_acquire_or_renew() is False  # observed at t=10
    clock.now += 14.9
    assert await b.try_acquire_or_renew() is False
    clock.now += 0.2
    assert await b.try_acquire_or_renew() is True
    lease = await kube.get(LEASES, "leader", "ops")
    assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)


async def test_conflicting_update_loses_the_race(kube: KubeClient, fake_api: FakeApi) -> None:
    """A 409 on the optimistic update means someone else won: not leader."""
    assert await _elector(kube, "a").try_acquire_or_renew()
    clock = FakeClock()
    elector = _elector(kube, "b", monotonic=clock)
    assert await elector.try_acquire_or_renew() is False
    clock.now += 16
    original = kube.replace

    async def racing_replace(res, obj):  # type: ignore[no-untyped-def]
        fake_api.objects[LEASE]["metadata"]["resourceVersion"] = "999"
        return await original(res, obj)

    kube.replace = racing_replace  # type: ignore[method-assign]
    assert await elector.try_acquire_or_renew() is False


async def test_release_lets_a_standby_take_over_at_once(kube: KubeClient) -> None:
    """After release() the lease has no holder and a 1s duration."""
    a = _elector(kube, "a")
    assert await a.try_acquire_or_renew()
    await a.release()
    lease = await kube.get(LEASES, "leader", "ops")
    assert lease["spec"]["holderIdentity"] is None
    assert await _elector(kube, "b").try_acquire_or_renew() is True


async def test_release_gives_up_within_the_renew_deadline_when_the_api_server_hangs(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """A clean shutdown must not spend the pod's termination grace period (and the client's
    30 s timeout) on a stuck API server: release() is abandoned after the renew deadline."""
    a = _elector(kube, "a", lease_seconds=3, renew_seconds=0.5)
    assert await a.try_acquire_or_renew()
    fake_api.hang = {"GET", "PUT"}
    started = time.monotonic()
    await asyncio.wait_for(a.release(), timeout=5)
    assert time.monotonic() - started < 3


async def test_release_leaves_a_lease_held_by_another_alone(kube: KubeClient) -> None:
    """A replica that lost the Lease does not release the new holder's."""
    a, b = _elector(kube, "a"), _elector(kube, "b")
    assert await a.try_acquire_or_renew()
    lease = await kube.get(LEASES, "leader", "ops")
    lease["spec"]["holderIdentity"] = "b"
    await kube.replace(LEASES, lease)
    await a.release()
    after = (await kube.get(LEASES, "leader", "ops"))["spec"]
    assert after["holderIdentity"] == "b" and after["leaseDurationSeconds"] == 15
    assert await b.try_acquire_or_renew() is True


async def test_release_is_logged_for_the_never_two_leaders_check(
    kube: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The e2e failover tests read when each replica led from its log: "Became leader ...
    as <identity>" and "Released the Lease"."""
    a = _elector(kube, "a")
    with caplog.at_level("INFO", logger="modelprefetch.k8s.leader"):
        await a.acquire()
        await a.release()
    messages = [r.getMessage() for r in caplog.records]
    assert "Became leader (Lease ops/leader) as a" in messages, messages
    assert "Released the Lease ops/leader" in messages, messages


async def _steps_down_in_time(elector: LeaderElector) -> float:
    """acquire(), then keep() until it returns; seconds from sending the acquiring request
    (the earliest a standby can have seen it) to stepping down. Fails if keep() is still
    running when the lease could have expired on a standby's clock."""
    sent = time.monotonic()
    await elector.acquire()
    await asyncio.wait_for(elector.keep(), timeout=elector.lease_seconds)
    return time.monotonic() - sent


async def test_leader_steps_down_before_expiry_when_renewals_hang(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """An API server that never answers the renewal (the client's own timeout is 30s): the
    leader abandons it and steps down within the renew deadline, before the lease ends."""
    elector = _elector(kube, "a", lease_seconds=3, renew_seconds=0.5)
    fake_api.hang = {"PUT"}
    assert await _steps_down_in_time(elector) < 3


async def test_leader_steps_down_before_expiry_when_renewals_fail(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """Renewals answered with errors: step down within the renew deadline, not after a
    whole lease duration of failures."""
    elector = _elector(kube, "a", lease_seconds=3, renew_seconds=0.5)
    await elector.acquire()
    fake_api.fail_next = [500] * 1000
    sent = time.monotonic()  # not earlier than the last successful write was sent
    await asyncio.wait_for(elector.keep(), timeout=3)
    assert time.monotonic() - sent < 3


class MemoryLeases:
    """The three verbs LeaderElector uses, in memory, answering at once; every call after
    the first `answered` ones never gets an answer (a stuck API server)."""

    def __init__(self, answered: int) -> None:
        self.lease: dict[str, Any] | None = None
        self.answered = answered
        self.calls = 0

    async def _gate(self) -> None:
        self.calls += 1
        if self.calls > self.answered:
            await asyncio.Event().wait()

    async def get_or_none(self, *_: Any) -> dict[str, Any] | None:
        await self._gate()
        return None if self.lease is None else {**self.lease, "spec": dict(self.lease["spec"])}

    async def create(self, _: Any, obj: dict[str, Any]) -> dict[str, Any]:
        await self._gate()
        self.lease = obj
        return obj

    replace = create


async def test_step_down_time_on_a_fake_clock_when_the_api_server_hangs() -> None:
    """Fake clock: acquired at t=1000, renewed at 1002 and 1004, then the API server stops
    answering. keep() returns at 1014, the renew deadline after the last renewal was sent;
    a standby saw that renewal no earlier than 1004, so it waits at least until 1019."""
    clock = FakeClock()
    api = MemoryLeases(answered=6)  # acquire: GET + POST; two renewals: GET + PUT each
    elector = _elector(
        api, "a", renew_deadline_seconds=10, renew_seconds=2, monotonic=clock, sleep=clock.sleep
    )
    await elector.acquire()
    await asyncio.wait_for(elector.keep(), timeout=5)
    assert clock.now == 1014
    assert clock.now < 1004 + elector.lease_seconds


def test_durations_must_be_ordered() -> None:
    """lease > renew deadline > retry period, or a clear error at start."""
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        LeaderElector(None, "ops", "l", "a", lease_seconds=10, renew_deadline_seconds=10)  # type: ignore[arg-type]
