"""Leader election on a coordination.k8s.io Lease, by client-go's rules (tools/leaderelection).

Every replica serves the webhook; only the leader reconciles. Three durations, with
lease > renew deadline > retry period:
- a standby takes the Lease only when its record (holder, renewTime, ...) has not changed
  for a whole lease duration *on the standby's own monotonic clock*, counted from when
  the standby observed the change; the holder's timestamps are never compared with our
  clock, so clock skew between nodes cannot make two leaders;
- the leader retries every retry period and steps down (`keep()` returns) when it has not
  renewed within the renew deadline, counted from when it *sent* its last successful
  renewal. Every attempt is abandoned when the deadline passes, however slow the API
  server is. Any standby saw that renewal no earlier than it was sent, so the leader has
  stopped at least (lease - renew deadline) before any standby may take over.
Updates are optimistic (resourceVersion), so two replicas never both win one write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import JSON, KubeClient
from modelprefetch.k8s.resources import LEASES

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fmt(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElector:
    kube: KubeClient
    namespace: str
    name: str
    identity: str
    lease_seconds: int = 15
    renew_seconds: float = 2.0  # client-go's retryPeriod
    renew_deadline_seconds: float | None = None  # None: two thirds of the lease (15 -> 10)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    _observed: JSON | None = field(default=None, init=False, repr=False)
    _observed_at: float = field(default=0.0, init=False, repr=False)
    _renewed_at: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.renew_deadline_seconds is None:
            self.renew_deadline_seconds = self.lease_seconds * 2 / 3
        if not self.lease_seconds > self.renew_deadline_seconds > self.renew_seconds > 0:
            raise ValueError(
                "Leader election needs lease duration > renew deadline > retry period > 0, got"
                f" {self.lease_seconds}s, {self.renew_deadline_seconds}s, {self.renew_seconds}s"
            )

    @property
    def renew_deadline(self) -> float:
        return float(self.renew_deadline_seconds or 0)

    def _spec(self, acquired: str | None, transitions: int) -> JSON:
        now = _fmt(_now())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _observe(self, spec: JSON) -> None:
        """Remember the record and, when it changed, when we saw it change."""
        if spec != self._observed:
            self._observed, self._observed_at = dict(spec), self.monotonic()

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
            return await self._write(self.kube.create, body)
        spec = lease.get("spec") or {}
        self._observe(spec)
        holder = spec.get("holderIdentity")
        ours = holder == self.identity
        duration = int(spec.get("leaseDurationSeconds") or self.lease_seconds)
        if holder and not ours and self.monotonic() < self._observed_at + duration:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        lease["spec"] = self._spec(spec.get("acquireTime") if ours else None, transitions)
        return await self._write(self.kube.replace, lease)  # carries resourceVersion

    async def _write(self, verb: Callable[[Any, JSON], Awaitable[JSON]], lease: JSON) -> bool:
        try:
            await verb(LEASES, lease)
        except KubernetesError as exc:
            if exc.status == 409:  # someone else wrote first
                return False
            raise
        self._observe(lease["spec"])
        return True

    async def acquire(self) -> None:
        log.info(
            "Waiting for leadership of Lease %s/%s as %s", self.namespace, self.name, self.identity
        )
        while True:
            started = self.monotonic()
            try:
                if await self._attempt(self.renew_deadline):
                    self._renewed_at = started
                    log.info(
                        "Became leader (Lease %s/%s) as %s",
                        self.namespace,
                        self.name,
                        self.identity,
                    )
                    return
            except (KubernetesError, TimeoutError) as exc:
                log.warning("Leader election attempt failed: %s", _describe(exc))
            await self.sleep(self.renew_seconds)

    async def keep(self) -> None:
        """Renew every retry period; return (step down) when the Lease was lost or not
        renewed within the renew deadline."""
        # When the write that made us leader was sent (acquire() just succeeded).
        last_renewal = self.monotonic() if self._renewed_at is None else self._renewed_at
        while True:
            await self.sleep(self.renew_seconds)
            deadline = last_renewal + self.renew_deadline
            while (started := self.monotonic()) < deadline:
                try:
                    renewed = await self._attempt(deadline - started)
                except (KubernetesError, TimeoutError) as exc:
                    log.warning("Lease renewal failed: %s", _describe(exc))
                else:
                    if not renewed:
                        log.error("Lost leadership of Lease %s/%s", self.namespace, self.name)
                        return
                    last_renewal = started  # others saw the write no earlier than this
                    break
                await self.sleep(min(self.renew_seconds, max(deadline - self.monotonic(), 0)))
            else:
                log.error(
                    "Could not renew Lease %s/%s within the renew deadline (%.1fs): stepping down",
                    self.namespace,
                    self.name,
                    self.renew_deadline,
                )
                return

    async def _attempt(self, seconds: float) -> bool:
        """try_acquire_or_renew, abandoned after `seconds` on our clock (TimeoutError)."""
        return await self._bounded(self.try_acquire_or_renew(), seconds)

    async def _bounded(self, work: Awaitable[bool], seconds: float) -> bool:
        attempt = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self.sleep(seconds))
        try:
            await asyncio.wait({attempt, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            attempt.cancel()
        if attempt.done() and not attempt.cancelled():
            return attempt.result()
        raise TimeoutError(f"no answer within {seconds:.1f}s")

    async def release(self) -> None:
        """Give the Lease up on a clean shutdown, as client-go's ReleaseOnCancel does: no
        holder and a 1 s duration, so a standby takes over at its next attempt instead of
        a whole lease duration later. Call it only once nothing reconciles any more. Only a
        Lease we still hold is written (optimistically: a standby's write wins), and the
        attempt is abandoned after the renew deadline, so a stuck API server cannot eat
        the pod's termination grace period (the client's own timeout is 30 s)."""
        try:
            released = await self._bounded(self._release(), self.renew_deadline)
        except (KubernetesError, TimeoutError) as exc:
            log.warning(
                "Could not release Lease %s/%s: %s", self.namespace, self.name, _describe(exc)
            )
            return
        if released:
            log.info("Released the Lease %s/%s", self.namespace, self.name)

    async def _release(self) -> bool:
        lease = await self.kube.get_or_none(LEASES, self.name, self.namespace)
        spec = (lease or {}).get("spec") or {}
        if lease is None or spec.get("holderIdentity") != self.identity:
            return False
        now = _fmt(_now())
        lease["spec"] = {
            **spec,
            "holderIdentity": None,
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
        }
        return await self._write(self.kube.replace, lease)


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, KubernetesError) else str(exc) or type(exc).__name__
