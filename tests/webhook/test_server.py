"""The aiohttp app on 127.0.0.1: malformed, huge and random reviews never give a 500."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelprefetch.webhook.index import ModelIndex
from modelprefetch.webhook.server import create_app

from .helpers import apply_patch, md, pod
from .test_patch_properties import pods

Records = list[tuple[str, str, float]]


def review(obj: Any, uid: str = "u-1", operation: str = "CREATE") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": uid, "operation": operation, "namespace": "team", "object": obj},
    }


@pytest.fixture
def records() -> Records:
    return []


@pytest.fixture
async def client(records: Records) -> AsyncIterator[TestClient[Any, Any]]:
    index = ModelIndex()
    index.replace_all([md(), md("b")])
    app = create_app(index, recorder=lambda *r: records.append(r), max_body=256 * 1024)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def test_mutation_over_http(client: TestClient[Any, Any]) -> None:
    """A labelled pod through HTTP gets a base64 JSONPatch that applies."""
    resp = await client.post("/mutate-pods", json=review(pod()))
    body = await resp.json()
    ops = json.loads(base64.b64decode(body["response"]["patch"]))
    assert apply_patch(pod(), ops)["spec"]["volumes"][0]["name"] == "model-llama"


async def test_validation_over_http(client: TestClient[Any, Any]) -> None:
    """A bad ModelDeployment through HTTP is denied with the field path."""
    obj = md(spec={"model": {"reference": "NOT A REF"}})
    resp = await client.post("/validate-modeldeployments", json=review(obj))
    body = await resp.json()
    assert body["response"]["allowed"] is False
    assert "spec.model.reference" in body["response"]["status"]["message"]


async def test_not_json_is_400(client: TestClient[Any, Any]) -> None:
    """A body that is not JSON gets HTTP 400."""
    resp = await client.post("/mutate-pods", data=b"\xff{")
    assert resp.status == 400


async def test_huge_body_is_413(client: TestClient[Any, Any]) -> None:
    """A body over the cap is refused with 413 before it is parsed."""
    resp = await client.post("/mutate-pods", data=b" " * (300 * 1024))
    assert resp.status == 413


async def test_decisions_are_recorded(client: TestClient[Any, Any], records: Records) -> None:
    """Each review records webhook, decision and a duration."""
    await client.post("/mutate-pods", json=review(pod()))
    assert records[-1][:2] == ("mutate-pods", "patched")


async def test_probes_are_not_served_here() -> None:
    """/healthz and /readyz live on the health port only (probes.Health), once."""
    async with TestClient(TestServer(create_app(ModelIndex(), recorder=lambda *_: None))) as c:
        assert [(await c.get(path)).status for path in ("/healthz", "/readyz")] == [404, 404]


async def test_internal_error_is_a_denial_not_500(records: Records) -> None:
    """An exception while deciding is answered allowed:false with code 500 inside the review."""

    def broken(_: Any) -> None:
        raise RuntimeError("boom")

    app = create_app(ModelIndex(), recorder=lambda *r: records.append(r), validate_spec=broken)
    async with TestClient(TestServer(app)) as c:
        resp = await c.post("/validate-modeldeployments", json=review(md()))
        body = await resp.json()
    assert resp.status == 200 and body["response"]["allowed"] is False
    assert records[-1][1] == "error"


def labelled(p: dict[str, Any], models: str) -> dict[str, Any]:
    """The pod asking for models through the label and the annotation."""
    first, *rest = models.split(",")
    meta = p["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), "modelprefetch.io/model": first}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        "modelprefetch.io/models": ",".join(rest),
    }
    return p


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(review(v)).encode()),
    st.builds(
        lambda p, m: json.dumps(review(labelled(p, m))).encode(),
        pods,
        st.sampled_from(["llama", "llama,b", "b,llama,nope", "", "b"]),
    ),
    st.builds(
        lambda p, op: json.dumps(review(p, operation=op)).encode(),
        pods,
        st.sampled_from(["CREATE", "UPDATE", "DELETE", 7]),
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, path=st.sampled_from(["/mutate-pods", "/validate-modeldeployments"]))
def test_random_bodies_never_500(body: bytes, path: str) -> None:
    """Random bytes, JSON and pod shapes get 200 or 400; a 200 carries a patch that applies."""

    async def run() -> None:
        index = ModelIndex()
        index.replace_all([md(), md("b")])
        async with TestClient(TestServer(create_app(index, recorder=lambda *_: None))) as c:
            resp = await c.post(path, data=body)
            assert resp.status in (200, 400), await resp.text()
            if resp.status != 200:
                return
            answer = (await resp.json())["response"]
            assert isinstance(answer["allowed"], bool)
            if "patch" in answer:
                obj = json.loads(body)["request"]["object"]
                apply_patch(obj, json.loads(base64.b64decode(answer["patch"])))

    asyncio.run(run())


async def test_default_recorder_feeds_prometheus() -> None:
    """Without a recorder, decisions land in modelprefetch_webhook_requests_total."""
    from modelprefetch import metrics

    index = ModelIndex()
    index.replace_all([md()])
    counter = metrics.WEBHOOK_REQUESTS.labels("mutate-pods", "patched")
    before = counter._value.get()
    async with TestClient(TestServer(create_app(index))) as c:
        await c.post("/mutate-pods", json=review(pod()))
    assert counter._value.get() == before + 1
