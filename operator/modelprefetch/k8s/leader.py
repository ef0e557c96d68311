"""Leader election on a coordination.k8s.io Lease, like client-go's leaderelection.

Every replica serves the webhook; only the leader reconciles. `acquire()` returns once
this replica holds the Lease; `keep()` renews it and returns (so the caller can exit)
when renewal failed for longer than the lease duration — another replica may lead then.
Updates are optimistic (resourceVersion), so two replicas never both win.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.client import JSON, KubeClient
from modelprefetch.k8s.resources import LEASES

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fmt(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class LeaderElector:
    kube: KubeClient
    namespace: str
    name: str
    identity: str
    lease_seconds: int = 15
    renew_seconds: float = 5.0

    def _spec(self, acquired: dt.datetime | None, transitions: int) -> JSON:
        now = _now()
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": _fmt(acquired or now),
            "renewTime": _fmt(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        lease = await self.kube.get_or_none(LEASES, self.name, self.namespace)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(None, 0),
            }
            try:
                await self.kube.create(LEASES, body)
            except KubernetesError as exc:
                if exc.status == 409:
                    return False
                raise
            return True
        spec = lease.get("spec", {})
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        duration = int(spec.get("leaseDurationSeconds") or self.lease_seconds)
        if (
            holder
            and holder != self.identity
            and renewed is not None
            and (renewed + dt.timedelta(seconds=duration) > _now())
        ):
            return False
        ours = holder == self.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        lease["spec"] = self._spec(_parse(spec.get("acquireTime")) if ours else None, transitions)
        try:
            await self.kube.replace(LEASES, lease)  # carries resourceVersion: optimistic
        except KubernetesError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def acquire(self) -> None:
        log.info(
            "Waiting for leadership of Lease %s/%s as %s", self.namespace, self.name, self.identity
        )
        while True:
            try:
                if await self.try_acquire_or_renew():
                    log.info("Became leader (Lease %s/%s)", self.namespace, self.name)
                    return
            except KubernetesError as exc:
                log.warning("Leader election attempt failed: %s", exc.message)
            await asyncio.sleep(self.renew_seconds)

    async def keep(self) -> None:
        """Renew until it fails for a whole lease duration; then return."""
        last_ok = _now()
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                if await self.try_acquire_or_renew():
                    last_ok = _now()
                    continue
                log.error("Lost leadership of Lease %s/%s", self.namespace, self.name)
                return
            except KubernetesError as exc:
                log.warning("Lease renewal failed: %s", exc.message)
            if _now() - last_ok > dt.timedelta(seconds=self.lease_seconds):
                log.error("Could not renew Lease %s/%s in time", self.namespace, self.name)
                return

    async def release(self) -> None:
        """Give the lease up on a clean shutdown so a standby takes over at once."""
        try:
            lease = await self.kube.get(LEASES, self.name, self.namespace)
            if lease.get("spec", {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.kube.replace(LEASES, lease)
        except (KubernetesNotFoundError, KubernetesError) as exc:
            log.warning("Could not release Lease: %s", exc.message)
