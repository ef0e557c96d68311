"""A wake-up that changes nothing writes nothing: no DaemonSet re-apply, no status."""

from __future__ import annotations

import copy
import logging
from typing import Any, cast

from modelprefetch.api.status import ModelDeploymentStatus
from modelprefetch.core.plan import Plan
from modelprefetch.k8s.client import KubeClient
from modelprefetch.reconciler import apply
from modelprefetch.reconciler.written import LastWritten

from .test_loop import RecordingKube, body, one_pass

LOG = logging.getLogger(__name__)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def holder(image: str = "holder:1") -> dict[str, Any]:
    return {"metadata": {"name": "ds1", "namespace": "ml"}, "spec": {"image": image}}


async def applies(kube: RecordingKube, written: LastWritten, manifest: dict[str, Any]) -> int:
    before = len(kube.writes)
    plan = Plan(status=ModelDeploymentStatus(), daemonsets=(manifest,))
    await apply.apply_changes(cast(KubeClient, kube), "ml", plan, LOG, written=written)
    return len(kube.writes) - before


async def test_an_unchanged_daemonset_is_applied_once() -> None:
    kube, clock = RecordingKube(), Clock()
    written = LastWritten(ttl=60, clock=clock)
    assert await applies(kube, written, holder()) == 1
    written.observe(["ds1"])
    assert await applies(kube, written, holder()) == 0
    assert await applies(kube, written, holder("holder:2")) == 1  # changed: applied


async def test_a_deleted_daemonset_is_applied_again() -> None:
    kube, clock = RecordingKube(), Clock()
    written = LastWritten(ttl=60, clock=clock)
    await applies(kube, written, holder())
    written.observe([])  # someone deleted it
    assert await applies(kube, written, holder()) == 1


async def test_the_record_expires_so_edits_are_repaired() -> None:
    kube, clock = RecordingKube(), Clock()
    written = LastWritten(ttl=60, clock=clock)
    await applies(kube, written, holder())
    written.observe(["ds1"])
    clock.now = 59
    assert await applies(kube, written, holder()) == 0
    clock.now = 61
    assert await applies(kube, written, holder()) == 1


async def test_without_a_record_every_manifest_is_applied() -> None:
    kube = RecordingKube()
    plan = Plan(status=ModelDeploymentStatus(), daemonsets=(holder(),))
    await apply.apply_changes(cast(KubeClient, kube), "ml", plan, LOG)
    await apply.apply_changes(cast(KubeClient, kube), "ml", plan, LOG)
    assert [w[0] for w in kube.writes] == ["apply", "apply"]


async def test_a_status_equal_to_the_observed_one_is_not_written() -> None:
    """Second pass over the same spec and the status the first wrote: no write."""
    kube = RecordingKube()
    await one_pass(kube, body({"model": {}}, None, 1))
    assert kube.writes == [("status", "modeldeployments", "llama")]
    await one_pass(kube, body({"model": {}}, copy.deepcopy(kube.status), 1))
    assert kube.writes == [("status", "modeldeployments", "llama")]
    await one_pass(kube, body({"model": {}}, copy.deepcopy(kube.status), 2))  # new generation
    assert len(kube.writes) == 2
