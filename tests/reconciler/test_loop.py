"""One reconcile pass of the shell: gather -> plan -> apply, with a recording client."""

from __future__ import annotations

import copy
import logging
from typing import Any, cast

import pytest

from modelprefetch.core.plan import Event
from modelprefetch.core.world import ExistingDaemonSet, NodeInfo
from modelprefetch.errors import KubernetesError, KubernetesNotFoundError, ModelPrefetchError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import Resource
from modelprefetch.reconciler import loop, resolver
from modelprefetch.reconciler.services import Services
from modelprefetch.reconciler.views import Surroundings
from modelprefetch.reconciler.wakeups import Wakeups
from modelprefetch.settings import Settings

LOG = logging.getLogger(__name__)


class RecordingKube:
    """Records writes; the ModelDeployment's status is kept like the API server would."""

    def __init__(self) -> None:
        self.status: dict[str, Any] | None = None
        self.writes: list[tuple[str, str, str]] = []  # verb, kind, name

    async def json_patch(
        self, res: Resource, name: str, ops: list[dict[str, Any]], **kwargs: Any
    ) -> dict[str, Any]:
        assert kwargs.get("subresource") == "status", "only the status is json-patched"
        [op] = ops
        self.status = copy.deepcopy(op["value"])
        self.writes.append(("status", res.plural, name))
        return {}

    async def merge_patch(self, res: Resource, name: str, body: Any, **_: Any) -> dict[str, Any]:
        self.writes.append(("label", res.plural, name))
        return {}

    async def apply(self, res: Resource, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("apply", res.plural, body["metadata"]["name"]))
        return body

    async def delete(self, res: Resource, name: str, namespace: str | None = None) -> bool:
        self.writes.append(("delete", res.plural, name))
        return True


def body(spec: dict[str, Any], status: dict[str, Any] | None, generation: int) -> dict[str, Any]:
    meta = {"namespace": "ml", "name": "llama", "uid": "u1", "generation": generation}
    return {"metadata": meta, "spec": spec, "status": status or {}}


async def one_pass(kube: RecordingKube, obj: dict[str, Any]) -> list[Event]:
    services = Services(settings=Settings(), kube=cast(KubeClient, kube))
    events: list[Event] = []
    await loop.reconcile_once(
        services, resolver.Resolution(), obj, Surroundings(), events.append, LOG
    )
    return events


def ready_condition(status: dict[str, Any] | None) -> dict[str, Any]:
    assert status is not None
    return next(c for c in status["conditions"] if c["type"] == "Ready")


async def test_invalid_spec_status_is_written_through_the_planner() -> None:
    """An invalid spec: only the status is written, Ready False InvalidSpec, Warnings."""
    kube = RecordingKube()
    events = await one_pass(kube, body({"model": {}}, None, 1))
    ready = ready_condition(kube.status)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.model.reference" in ready["message"]
    assert kube.writes == [("status", "modeldeployments", "llama")]
    assert {(e.type, e.reason) for e in events} == {("Warning", "InvalidSpec")}


async def test_invalid_spec_keeps_its_transition_time_across_passes() -> None:
    """The second pass over the same invalid spec keeps lastTransitionTime, emits nothing."""
    kube = RecordingKube()
    await one_pass(kube, body({"model": {}}, None, 1))
    first = ready_condition(kube.status)
    aged = copy.deepcopy(kube.status)
    assert aged is not None
    for condition in aged["conditions"]:
        condition["lastTransitionTime"] = "2020-01-01T00:00:00Z"  # as if long ago
    events = await one_pass(kube, body({"model": {}}, aged, 2))
    again = ready_condition(kube.status)
    assert (again["lastTransitionTime"], again["observedGeneration"], events) == (
        "2020-01-01T00:00:00Z",
        2,
        [],
    )
    assert first["observedGeneration"] == 1


async def test_cleanup_deletes_daemonsets_and_removes_labels() -> None:
    """Deletion deletes the DaemonSet and removes our labels, without the registry."""
    kube = RecordingKube()
    key = "prefetch.modelprefetch.io/abc"
    found = Surroundings(
        nodes=(NodeInfo("n1", labels={key: "x"}), NodeInfo("n2")),
        daemonsets=(ExistingDaemonSet("ds1", "r@sha256:1", "sha256:1", key),),
    )
    await loop.cleanup(
        Services(settings=Settings(), kube=cast(KubeClient, kube)),
        body({"model": {"reference": "unreachable.invalid/m:1"}}, None, 1),
        found,
        LOG,
    )
    assert kube.writes == [("label", "nodes", "n1"), ("delete", "daemonsets", "ds1")]


class FailingKube(RecordingKube):
    """The status write fails with the given error."""

    def __init__(self, error: ModelPrefetchError) -> None:
        super().__init__()
        self.error = error

    async def json_patch(self, res: Resource, name: str, ops: Any, **kwargs: Any) -> Any:
        raise self.error


class OneWait(Wakeups):
    """Records how long the loop wanted to sleep, then lets it stop."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    async def wait(self, key: tuple[str, str], seconds: float) -> bool:
        self.waits.append(seconds)
        return False


async def first_wait(error: ModelPrefetchError) -> float:
    wakeups = OneWait()
    services = Services(
        settings=Settings(resync_seconds=60),
        kube=cast(KubeClient, FailingKube(error)),
        wakeups=wakeups,
    )
    await loop.run(
        services,
        body({"model": {}}, None, 1),
        Surroundings,
        lambda: bool(wakeups.waits),
        lambda _: None,
        LOG,
    )
    return wakeups.waits[0]


async def test_temporary_error_is_retried_soon() -> None:
    """An API server that failed (temporary) is tried again after ERROR_RETRY_SECONDS."""
    retry = loop.ERROR_RETRY_SECONDS - loop.MIN_REST  # after the loop's rest
    assert await first_wait(KubernetesError("etcd timeout", status=500)) == pytest.approx(retry)


async def test_permanent_error_waits_for_the_resync() -> None:
    """A permanent error (the object is gone) waits for the resync or a wake-up."""
    assert await first_wait(KubernetesNotFoundError("gone", status=404)) == pytest.approx(
        60 - loop.MIN_REST
    )


def test_the_rest_after_a_pass_grows_with_its_planning_time() -> None:
    """A loop plans at most a quarter of the time: 3x the planning's seconds of rest,
    at least MIN_REST (a 5,000-node plan of ~0.15 s rests ~0.45 s)."""
    assert loop.rest_after(0.0) == loop.MIN_REST
    assert loop.rest_after(0.15) == pytest.approx(0.45)
    assert loop.rest_after(2.0) == pytest.approx(6.0)
    assert loop.rest_after(-1.0) == loop.MIN_REST  # a clock step backwards
    # 20 loops planning 6 ms each: each rests 0.36 s, so together they plan a quarter
    assert loop.rest_after(0.006, loops=20) == pytest.approx(0.36)
