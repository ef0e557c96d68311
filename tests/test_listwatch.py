"""The shared list-then-watch loop behind the webhook's index and pod usage feeds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest

from modelprefetch.errors import KubernetesError
from modelprefetch.k8s.resources import MODELDEPLOYMENTS
from modelprefetch.listwatch import list_then_watch
from modelprefetch.webhook import usage_watch
from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.usage import SELECTOR, PodUsage
from modelprefetch.webhook_service import watch


class Recorder:
    """A sink that remembers every listing and event it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def replace_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        self.calls.append(("LIST", [o["metadata"]["name"] for o in objs]))

    def apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        self.calls.append((event_type, obj["metadata"]["name"]))


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


class ScriptedSource:
    """Lists once per call; each watch plays the next script, then the loop is stopped."""

    def __init__(self, scripts: list[list[tuple[str, Any] | Exception]]) -> None:
        self.scripts = scripts
        self.lists = 0
        self.watch_versions: list[str | None] = []
        self.selectors: list[str | None] = []
        self.done = asyncio.Event()

    async def list(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Any:
        self.lists += 1
        self.selectors.append(label_selector)
        return {"metadata": {"resourceVersion": f"L{self.lists}"}, "items": [obj("x", "1")]}

    async def watch(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, Any]]:
        self.watch_versions.append(resource_version)
        self.selectors.append(label_selector)
        if not self.scripts:
            self.done.set()
            await asyncio.sleep(3600)
        for step in self.scripts.pop(0):
            if isinstance(step, Exception):
                raise step
            yield step


async def run_until_done(source: ScriptedSource, sink: Recorder, **kwargs: Any) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    task = asyncio.create_task(
        list_then_watch(source, "things", sink, what="Thing", sleep=sleep, **kwargs)
    )
    await asyncio.wait_for(source.done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return slept


async def test_events_after_a_listing_resume_from_the_last_version_seen() -> None:
    source = ScriptedSource(
        [
            [("ADDED", obj("a", "5")), ("BOOKMARK", obj("ignored", "6")), ("ERROR?", "not a map")],
            [("DELETED", obj("a", "7"))],
        ]
    )
    sink = Recorder()
    slept = await run_until_done(source, sink, label_selector="team=x")
    assert sink.calls == [("LIST", ["x"]), ("ADDED", "a"), ("DELETED", "a")]
    assert source.watch_versions == ["L1", "6", "7"]  # a watch that ends resumes, no re-list
    assert source.lists == 1 and slept == []
    assert set(source.selectors) == {"team=x"}


async def test_a_broken_watch_is_relisted_after_the_retry_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="modelprefetch.listwatch")
    gone = KubernetesError("too old resource version", status=410)
    source = ScriptedSource([[("ADDED", obj("a", "5")), gone]])
    sink = Recorder()
    slept = await run_until_done(source, sink, retry_seconds=0.25)
    assert sink.calls == [("LIST", ["x"]), ("ADDED", "a"), ("LIST", ["x"])]
    assert source.watch_versions == ["L1", "L2"]
    assert slept == [0.25]
    # 410 Gone is routine (a compacted version): said at INFO, not as a warning
    assert "Thing watch expired (410 Gone)" in caplog.text
    assert all(r.levelno < logging.WARNING for r in caplog.records)


async def test_any_other_watch_error_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    refused = KubernetesError("forbidden", status=403)
    source = ScriptedSource([[refused]])
    await run_until_done(source, Recorder(), retry_seconds=0.25)
    assert "Thing watch broke, re-listing: forbidden" in caplog.text
    assert any(r.levelno == logging.WARNING for r in caplog.records)


async def test_modeldeployment_watch_and_pod_usage_share_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both feeds delegate to list_then_watch (one loop to fix, not two)."""
    seen: list[tuple[Any, Any, str | None]] = []

    async def fake_loop(
        kube: Any, resource: Any, sink: Any, *, label_selector: str | None = None, **_: Any
    ) -> None:
        seen.append((resource, type(sink), label_selector))

    monkeypatch.setattr(usage_watch, "list_then_watch", fake_loop)
    monkeypatch.setattr(watch, "list_then_watch", fake_loop)
    await watch.watch_modeldeployments(ScriptedSource([]), ModelIndex())
    await usage_watch.follow_pod_usage(ScriptedSource([]), "pods", PodUsage())
    assert seen == [(MODELDEPLOYMENTS, ModelIndex, None), ("pods", PodUsage, SELECTOR)]


class PagedSource(ScriptedSource):
    """Three pages per list; the last one carries the version to watch from."""

    async def list(
        self,
        res: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Any:
        assert limit is not None
        page = int(continue_token or 0)
        following = {"continue": str(page + 1)} if page < 2 else {}
        meta = {"resourceVersion": f"P{page}", **following}
        return {"metadata": meta, "items": [obj(f"o{page}", str(page))]}


async def test_lists_are_read_in_pages_trimmed_as_they_arrive() -> None:
    source, sink = PagedSource([[("ADDED", {"metadata": {"name": "w", "big": "x"}})]]), Recorder()
    trimmed: list[str] = []

    def trim(o: Mapping[str, Any]) -> Mapping[str, Any]:
        trimmed.append(o["metadata"]["name"])
        return {"metadata": {"name": o["metadata"]["name"]}}

    await run_until_done(source, sink, trim=trim)
    assert sink.calls[:2] == [("LIST", ["o0", "o1", "o2"]), ("ADDED", "w")]
    assert trimmed[:4] == ["o0", "o1", "o2", "w"]
    assert source.watch_versions[0] == "P2"
