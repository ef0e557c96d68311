"""The operator side of the webhook: podSelector entries kept current, caBundle patched."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import Resource
from modelprefetch.probes import Health
from modelprefetch.settings import Settings
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook_service.runner import RunningWebhook
from modelprefetch.webhook_service.selectors import SelectorSync, apply_selector_entries
from modelprefetch.webhook_service.tls import patch_ca_bundles
from tests.chart_renders import golden_object
from tests.webhook.helpers import apply_patch, md

SELECTING = {
    "model": {"reference": "registry.local/models/m:v1"},
    "mount": {"podSelector": {"matchLabels": {"app": "web"}}},
}


class FakeKube:
    """get_or_none + json_patch on configurations by name, honouring `test` ops."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {o["metadata"]["name"]: copy.deepcopy(o) for o in objects}
        for obj in self.objects.values():
            obj["metadata"]["resourceVersion"] = "1"
        self.gets = 0
        self.patches: list[list[dict[str, Any]]] = []
        self.before_patch: Any = None  # called once before the next patch lands (a race)

    async def get_or_none(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self.gets += 1
        obj = self.objects.get(name)
        return copy.deepcopy(obj) if obj is not None else None

    async def json_patch(self, res: Resource, name: str, ops: list[dict[str, Any]]) -> Any:
        if self.before_patch is not None:
            race, self.before_patch = self.before_patch, None
            race(self.objects[name])
            self.bump(name)
        obj = self.objects[name]
        for op in ops:
            if op["op"] == "test" and obj["metadata"]["resourceVersion"] != op["value"]:
                raise KubernetesError("test failed", status=422)
        self.patches.append(ops)
        self.objects[name] = apply_patch(obj, [op for op in ops if op["op"] != "test"])
        self.bump(name)
        return self.objects[name]

    def bump(self, name: str) -> None:
        meta = self.objects[name]["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    def names(self, name: str = "mp-pods") -> list[str]:
        return [w["name"] for w in self.objects[name]["webhooks"]]


def chart_configuration(kind: str, name: str) -> dict[str, Any]:
    """The chart's configuration (golden render, webhook.url set), under the name `name`."""
    obj = copy.deepcopy(golden_object("external-operator", kind))
    obj["metadata"]["name"] = name
    return obj


def mutating() -> dict[str, Any]:
    return chart_configuration("MutatingWebhookConfiguration", "mp-pods")


def synced_index(*objs: dict[str, Any]) -> ModelIndex:
    index = ModelIndex()
    index.replace_all(objs)
    return index


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sync(kube: FakeKube, index: ModelIndex, clock: Clock | None = None) -> SelectorSync:
    return SelectorSync(cast(KubeClient, kube), index, "mp-pods", clock=clock or Clock())


async def test_selector_entry_is_added_for_a_pod_selector() -> None:
    """A ModelDeployment with a podSelector gets its own entry in the live configuration."""
    kube = FakeKube(mutating())
    await sync(kube, synced_index(md("sel", spec=SELECTING))).step()
    assert len(kube.names()) == 2 and kube.names()[1].endswith(".selector.pods.modelprefetch.io")


async def test_nothing_is_written_before_the_index_synced() -> None:
    """An index that has not listed yet never touches the configuration."""
    kube = FakeKube(mutating())
    await sync(kube, ModelIndex()).step()
    assert kube.gets == 0 and kube.patches == []


async def test_status_only_changes_cause_no_reads_or_writes() -> None:
    """Watch events that leave the opt-ins unchanged neither read nor write the configuration."""
    kube = FakeKube(mutating())
    index = synced_index(md("sel", spec=SELECTING))
    selectors = sync(kube, index)
    await selectors.step()
    gets = kube.gets
    index.apply("MODIFIED", md("sel", spec=SELECTING, ready_nodes=3))
    await selectors.step()
    assert (kube.gets, selectors.writes) == (gets, 1)


async def test_recheck_restores_entries_removed_by_someone_else() -> None:
    """When the recheck is due, entries removed by another writer (Helm) come back."""
    kube = FakeKube(mutating())
    clock = Clock()
    selectors = sync(kube, synced_index(md("sel", spec=SELECTING)), clock)
    await selectors.step()
    kube.objects["mp-pods"]["webhooks"] = kube.objects["mp-pods"]["webhooks"][:1]
    clock.now += selectors.recheck
    await selectors.step()
    assert len(kube.names()) == 2 and selectors.writes == 2


async def test_second_replica_writes_nothing() -> None:
    """A replica computing the same entries finds them current and does not write."""
    kube = FakeKube(mutating())
    index = synced_index(md("sel", spec=SELECTING))
    await sync(kube, index).step()
    other = sync(kube, index)
    await other.step()
    assert other.writes == 0 and len(kube.patches) == 1


async def test_deleted_selector_loses_its_entry() -> None:
    """Deleting the ModelDeployment removes its entry and keeps the pod entry."""
    kube = FakeKube(mutating())
    index = synced_index(md("sel", spec=SELECTING))
    selectors = sync(kube, index)
    await selectors.step()
    index.apply("DELETED", md("sel", spec=SELECTING))
    await selectors.step()
    assert kube.names() == ["pods.modelprefetch.io"]


async def test_lost_race_is_recomputed_on_the_new_version() -> None:
    """A caBundle patch landing between read and write: the entries are rebuilt with it."""
    kube = FakeKube(mutating())

    def ca_patched(obj: dict[str, Any]) -> None:
        obj["webhooks"][0]["clientConfig"]["caBundle"] = "TkVX"

    kube.before_patch = ca_patched
    written = await apply_selector_entries(
        cast(KubeClient, kube),
        "mp-pods",
        synced_index(md("sel", spec=SELECTING)).selector_opt_ins(),
    )
    assert written is True
    assert {w["clientConfig"].get("caBundle") for w in kube.objects["mp-pods"]["webhooks"]} == {
        "TkVX"
    }


async def test_missing_configuration_is_reported_not_raised() -> None:
    """Without the configuration, nothing is written and the call says so."""
    kube = FakeKube()
    assert await apply_selector_entries(cast(KubeClient, kube), "mp-pods", []) is None


async def test_ca_bundle_reaches_selector_entries() -> None:
    """The caBundle patch covers the selector entries too."""
    kube = FakeKube(
        mutating(),
        chart_configuration("ValidatingWebhookConfiguration", "mp-md"),
    )
    await sync(kube, synced_index(md("sel", spec=SELECTING))).step()
    settings = Settings(mutating_webhook_name="mp-pods", validating_webhook_name="mp-md")
    await patch_ca_bundles(cast(KubeClient, kube), settings, b"CA")
    bundles = {
        w["clientConfig"].get("caBundle") for o in kube.objects.values() for w in o["webhooks"]
    }
    assert bundles == {"Q0E="}


async def test_persistent_refusal_is_raised_after_retries() -> None:
    """A patch refused for another reason than a race propagates."""

    class Refusing(FakeKube):
        async def json_patch(self, res: Resource, name: str, ops: list[dict[str, Any]]) -> Any:
            raise KubernetesError("forbidden", status=403)

    with pytest.raises(KubernetesError):
        await apply_selector_entries(
            cast(KubeClient, Refusing(mutating())),
            "mp-pods",
            synced_index(md("sel", spec=SELECTING)).selector_opt_ins(),
        )


def test_ready_follows_the_index() -> None:
    """The replica is ready only once its index holds the first full list."""
    index = ModelIndex()
    running = RunningWebhook(index, [])
    assert not running.ready()
    index.replace_all([])
    assert running.ready()


async def _readyz(health: Health) -> int:
    async with TestClient(TestServer(health.app())) as client:
        return (await client.get("/readyz")).status


async def test_readyz_waits_for_the_webhook_index() -> None:
    """The operator's /readyz answers 503 until the webhook index has its first list."""
    index = ModelIndex()
    health = Health()
    health.ready = True
    health.checks.append(RunningWebhook(index, []).ready)
    assert await _readyz(health) == 503
    index.replace_all([])
    assert await _readyz(health) == 200
