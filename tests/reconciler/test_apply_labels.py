"""Node label patches: concurrent within a bound, errors kept per node, before deletions."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from pydantic import ValidationError

from modelprefetch.core.cleanup import Cleanup
from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import Resource
from modelprefetch.reconciler import apply
from modelprefetch.settings import Settings

LOG = logging.getLogger(__name__)


class SlowKube:
    """Label patches take a little while; records in-flight peaks, order and failures."""

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.fail = fail or {}
        self.in_flight = 0
        self.peak = 0
        self.patched: list[str] = []
        self.log: list[str] = []  # "label:<node>" when a patch ends, "delete:<name>"

    async def merge_patch(self, res: Resource, name: str, body: Any, **_: Any) -> dict[str, Any]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if name in self.fail:
                raise self.fail[name]
            self.patched.append(name)
            self.log.append(f"label:{name}")
            return {}
        finally:
            self.in_flight -= 1

    async def delete(self, res: Resource, name: str, namespace: str | None = None) -> bool:
        self.log.append(f"delete:{name}")
        return True


def changes(count: int) -> dict[str, dict[str, str | None]]:
    return {f"n{i:03d}": {"warm.modelprefetch.io/abc": None} for i in range(count)}


async def test_label_patches_run_concurrently_up_to_the_bound() -> None:
    """40 nodes with a bound of 8: 8 patches in flight at once, never more, all sent."""
    kube = SlowKube()
    await apply.label_nodes(cast(KubeClient, kube), changes(40), LOG, concurrency=8)
    assert kube.peak == 8
    assert sorted(kube.patched) == sorted(changes(40))


async def test_one_failed_node_does_not_stop_the_others() -> None:
    """Every other node is patched; the failure is raised afterwards, counted."""
    boom = KubernetesError("conflict", status=500)
    kube = SlowKube(fail={"n003": boom, "n007": KubernetesError("again", status=500)})
    with pytest.raises(KubernetesError) as raised:
        await apply.label_nodes(cast(KubeClient, kube), changes(10), LOG, concurrency=4)
    assert sorted(kube.patched) == [f"n{i:03d}" for i in range(10) if i not in (3, 7)]
    assert "2 of 10 nodes" in raised.value.message
    assert "n003" in raised.value.message
    assert raised.value.temporary


async def test_a_single_failure_is_raised_as_it_was() -> None:
    boom = KubernetesError("forbidden", status=403)
    kube = SlowKube(fail={"n001": boom})
    with pytest.raises(KubernetesError) as raised:
        await apply.label_nodes(cast(KubeClient, kube), changes(3), LOG, concurrency=2)
    assert raised.value is boom
    assert sorted(kube.patched) == ["n000", "n002"]


async def test_a_vanished_node_is_skipped() -> None:
    kube = SlowKube(fail={"n001": KubernetesNotFoundError("gone", status=404)})
    await apply.label_nodes(cast(KubeClient, kube), changes(3), LOG, concurrency=3)
    assert sorted(kube.patched) == ["n000", "n002"]


async def test_every_label_patch_ends_before_a_daemonset_is_deleted() -> None:
    """Cleanup: labels first (the DaemonSet annotation names their key), then deletions."""
    kube = SlowKube()
    cleanup = Cleanup(delete_daemonsets=("holder-a", "holder-b"), node_labels=changes(20))
    await apply.apply_changes(cast(KubeClient, kube), "ns", cleanup, LOG, node_patch_concurrency=16)
    assert kube.peak == 16
    assert kube.log[-2:] == ["delete:holder-a", "delete:holder-b"]
    assert len(kube.log) == 22


async def test_a_failed_label_patch_keeps_the_daemonsets() -> None:
    kube = SlowKube(fail={"n002": KubernetesError("timeout", status=504)})
    cleanup = Cleanup(delete_daemonsets=("holder-a",), node_labels=changes(5))
    with pytest.raises(KubernetesError):
        await apply.apply_changes(cast(KubeClient, kube), "ns", cleanup, LOG)
    assert not [entry for entry in kube.log if entry.startswith("delete:")]


def test_the_concurrency_setting_is_bounded() -> None:
    assert 16 <= Settings().node_patch_concurrency <= 32
    assert Settings(node_patch_concurrency=4).node_patch_concurrency == 4
    with pytest.raises(ValidationError):
        Settings(node_patch_concurrency=0)


async def test_a_shared_bound_holds_across_model_deployments() -> None:
    """Twenty ModelDeployments labelling at once share one bound (Services.node_patches):
    the API server sees at most that many patches in flight, not twenty times it."""
    kube = SlowKube()
    shared = asyncio.Semaphore(4)
    await asyncio.gather(
        *(
            apply.label_nodes(
                cast(KubeClient, kube), {f"m{m}-n{i}": {"k": "v"} for i in range(10)}, LOG, shared
            )
            for m in range(20)
        )
    )
    assert kube.peak == 4 and len(kube.patched) == 200
