"""The per-podSelector entries of the mutating webhook configuration, kept current.

Every replica keeps them current, not only the leader: each computes the same desired
list from its own index and writes only when the live configuration differs, guarded
by the resourceVersion it read, so replicas converge without storms.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import MUTATING_WEBHOOKS
from modelprefetch.webhook.config import selector_entries_patch
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.types import LabelMatcher

log = logging.getLogger(__name__)
SELECTOR_DEBOUNCE = 1.0  # seconds between looks at the index: a burst of events, one write
SELECTOR_RECHECK = 30.0  # re-read the live configuration this often (Helm, caBundle races)
SELECTOR_RETRY = 5.0  # after a failed write
CONFLICT_RETRIES = 3  # a guarded patch that lost a race is recomputed this many times


def lost_race(exc: KubernetesError) -> bool:
    # 409: resourceVersion conflict; 422: a JSON patch `test` op failed
    return exc.status in (409, 422)


async def apply_selector_entries(
    kube: KubeClient, name: str, opt_ins: list[tuple[str, LabelMatcher]]
) -> bool | None:
    """Bring the podSelector entries of configuration `name` in step with `opt_ins`.

    True when written, False when already current, None when the configuration is absent.
    """
    for attempt in range(CONFLICT_RETRIES):
        configuration = await kube.get_or_none(MUTATING_WEBHOOKS, name)
        if configuration is None:
            return None
        ops = selector_entries_patch(configuration, opt_ins)
        if not ops:
            return False
        try:
            await kube.json_patch(MUTATING_WEBHOOKS, name, ops)
        except KubernetesError as exc:
            if lost_race(exc) and attempt + 1 < CONFLICT_RETRIES:
                continue  # another replica or the caBundle patch wrote first: re-read
            raise
        log.info("Updated %s: %d podSelector webhook entries", name, len(opt_ins))
        return True
    return False  # not reached: the last attempt returns or raises


@dataclass
class SelectorSync:
    """Keeps the mutating configuration's podSelector entries current with the index."""

    kube: KubeClient
    index: ModelIndex
    name: str
    debounce: float = SELECTOR_DEBOUNCE
    recheck: float = SELECTOR_RECHECK
    clock: Callable[[], float] = time.monotonic
    writes: int = 0
    _generation: int = field(default=-1, init=False)
    _applied: list[tuple[str, LabelMatcher]] | None = field(default=None, init=False)
    _next_check: float = field(default=0.0, init=False)
    _missing_logged: bool = field(default=False, init=False)

    async def step(self) -> None:
        """One look: re-read the live configuration only if opt-ins changed or recheck is due."""
        if not self.index.synced:
            return  # an empty index would drop every entry
        due = self.clock() >= self._next_check
        if self.index.generation == self._generation and not due:
            return
        self._generation = self.index.generation
        opt_ins = self.index.selector_opt_ins()
        if opt_ins == self._applied and not due:
            return
        written = await apply_selector_entries(self.kube, self.name, opt_ins)
        if written is None and not self._missing_logged:
            log.warning(
                "Webhook configuration %s not found; podSelector entries not set", self.name
            )
        self._missing_logged = written is None
        self.writes += bool(written)
        self._applied, self._next_check = opt_ins, self.clock() + self.recheck

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.debounce)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except KubernetesError as exc:
                # try again soon, without hammering an API server that refuses us
                self._applied, self._next_check = None, self.clock() + SELECTOR_RETRY
                log.warning("Cannot update podSelector entries of %s: %s", self.name, exc.message)
