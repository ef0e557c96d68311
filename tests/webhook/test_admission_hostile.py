"""A review for something that is not a Pod (a misrouted rule or a hostile client) is
denied naming the field, never patched as if it were a pod."""

from __future__ import annotations

from typing import Any

import pytest

from modelprefetch.webhook.admission import review_pod
from modelprefetch.webhook.index import ModelIndex

from .helpers import md, pod


def _index() -> ModelIndex:
    index = ModelIndex()
    index.replace_all([md()])
    return index


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}}, "request.kind"),
        ({"kind": "Pod"}, "request.kind"),
        ({"object": {**pod(), "kind": "Deployment"}}, "object.kind"),
    ],
)
def test_non_pod_reviews_are_denied_naming_the_field(change: dict[str, Any], field: str) -> None:
    request = {"uid": "u", "operation": "CREATE", "namespace": "team", "object": pod(), **change}
    answer, decision = review_pod(request, _index())
    assert decision == "denied"
    assert answer["response"]["allowed"] is False
    assert f"modelprefetch: {field}: " in answer["response"]["status"]["message"]


def test_a_pod_with_its_kind_is_still_patched() -> None:
    kind = {"group": "", "version": "v1", "kind": "Pod"}
    request = {"uid": "u", "operation": "CREATE", "namespace": "team", "object": pod()}
    answer, decision = review_pod({**request, "kind": kind}, _index())
    assert decision == "patched", answer
