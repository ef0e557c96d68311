"""Leader election on a Lease: one winner, takeover after expiry, release on shutdown."""

from __future__ import annotations

import datetime as dt

from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.leader import LeaderElector, _fmt
from modelprefetch.k8s.resources import LEASES
from tests.k8s.fakeapi import FakeApi


def _elector(kube: KubeClient, identity: str) -> LeaderElector:
    return LeaderElector(kube, "ops", "leader", identity, lease_seconds=15)


async def test_first_replica_creates_and_holds_the_lease(kube: KubeClient) -> None:
    """With no Lease, the first attempt creates it with our identity."""
    assert await _elector(kube, "a").try_acquire_or_renew() is True
    lease = await kube.get(LEASES, "leader", "ops")
    assert lease["spec"]["holderIdentity"] == "a"


async def test_second_replica_waits_while_the_lease_is_fresh(kube: KubeClient) -> None:
    """Another identity cannot take a lease renewed within its duration."""
    assert await _elector(kube, "a").try_acquire_or_renew()
    assert await _elector(kube, "b").try_acquire_or_renew() is False


async def test_expired_lease_is_taken_over(kube: KubeClient, fake_api: FakeApi) -> None:
    """A lease not renewed for longer than its duration goes to the next replica."""
    assert await _elector(kube, "a").try_acquire_or_renew()
    path = LEASES.path("ops", "leader")
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    fake_api.objects[path]["spec"]["renewTime"] = _fmt(stale)
    assert await _elector(kube, "b").try_acquire_or_renew() is True
    lease = await kube.get(LEASES, "leader", "ops")
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_conflicting_update_loses_the_race(kube: KubeClient, fake_api: FakeApi) -> None:
    """A 409 on the optimistic update means someone else won: not leader."""
    assert await _elector(kube, "a").try_acquire_or_renew()
    fake_api.objects[LEASES.path("ops", "leader")]["spec"]["renewTime"] = _fmt(
        dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    )
    elector = _elector(kube, "b")
    original = kube.replace

    async def racing_replace(res, obj):  # type: ignore[no-untyped-def]
        fake_api.objects[LEASES.path("ops", "leader")]["metadata"]["resourceVersion"] = "999"
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
