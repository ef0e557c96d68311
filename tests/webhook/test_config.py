"""The JSON patches that keep the chart's live webhook configurations current.

The configurations themselves are the chart's (tests/test_chart_webhooks.py checks its
renders); here they are the golden render for an operator outside the cluster, as the
API server would return it after the operator's caBundle patch.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from modelprefetch.webhook.config import (
    ca_bundle_patch,
    desired_pod_webhooks,
    selector_entries_patch,
    selector_webhook_name,
)
from modelprefetch.webhook.types import LabelMatcher
from tests.chart_renders import golden_object

from .helpers import apply_patch

OPERATOR_NAMESPACE = "modelprefetch-system"  # excluded by the chart's pod entry


def chart_mutating() -> dict[str, Any]:
    """The chart's MutatingWebhookConfiguration (webhook.url set), as rendered."""
    return copy.deepcopy(golden_object("external-operator", "MutatingWebhookConfiguration"))


def test_ca_bundle_patch_sets_every_entry() -> None:
    """The caBundle patch applies to every webhook entry, the selector entries included."""
    cfg = chart_mutating()
    cfg["webhooks"] = desired_pod_webhooks(cfg, [("t", LabelMatcher((("a", "b"),), ()))])
    assert len(cfg["webhooks"]) == 2
    out = apply_patch(cfg, ca_bundle_patch(cfg, b"CA"))
    assert {h["clientConfig"]["caBundle"] for h in out["webhooks"]} == {
        base64.b64encode(b"CA").decode()
    }


def test_selector_opt_in_adds_namespaced_entry() -> None:
    """A podSelector gets its own entry in its namespace, skipping labelled pods, once."""
    matcher = LabelMatcher((("app", "web"),), ())
    webhooks = desired_pod_webhooks(chart_mutating(), [("team", matcher), ("team", matcher)])
    assert len(webhooks) == 2
    hook = webhooks[1]
    assert hook["name"].endswith(".selector.pods.modelprefetch.io")
    assert hook["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "team"}}
    assert hook["objectSelector"] == {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "modelprefetch.io/model", "operator": "DoesNotExist"}],
    }


def test_selector_in_system_namespace_is_dropped() -> None:
    """A podSelector in a system namespace adds no entry."""
    opt_ins = [("kube-system", LabelMatcher((("a", "b"),), ()))]
    assert len(desired_pod_webhooks(chart_mutating(), opt_ins)) == 1


WEB = LabelMatcher((("app", "web"),), ())
API = LabelMatcher((("app", "api"),), ())


def live(*opt_ins: tuple[str, LabelMatcher], version: str = "7") -> dict[str, Any]:
    """The chart's configuration as read back from the API server: caBundle patched,
    selector entries for `opt_ins` present, a resourceVersion."""
    cfg = chart_mutating()
    cfg = apply_patch(cfg, ca_bundle_patch(cfg, b"CA"))
    cfg["webhooks"] = desired_pod_webhooks(cfg, opt_ins)
    cfg["metadata"]["resourceVersion"] = version
    return cfg


def test_selector_patch_adds_entry_guarded_by_resource_version() -> None:
    """A new podSelector replaces the webhooks list, guarded by the version read."""
    ops = selector_entries_patch(live(), [("team", WEB)])
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    out = apply_patch(live(), ops[1:])
    assert [h["name"] for h in out["webhooks"]] == [
        "pods.modelprefetch.io",
        selector_webhook_name("team", WEB),
    ]


def test_selector_entry_copies_the_live_pod_entry() -> None:
    """A selector entry gets the live pod entry's clientConfig (with caBundle) and policies."""
    cfg = live()
    cfg["webhooks"][0]["clientConfig"] = {
        "url": "https://elsewhere:1/mutate-pods",
        "caBundle": "Q0E=",
    }
    cfg["webhooks"][0]["timeoutSeconds"] = 3
    new = desired_pod_webhooks(cfg, [("team", WEB)])[1]
    assert new["clientConfig"] == {"url": "https://elsewhere:1/mutate-pods", "caBundle": "Q0E="}
    assert (new["timeoutSeconds"], new["failurePolicy"]) == (3, "Fail")
    assert new["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "team"}}


def test_selector_patch_is_empty_when_entries_are_current() -> None:
    """Nothing to write when the live entries already match the opt-ins."""
    assert (
        selector_entries_patch(live(("team", WEB), ("team", API)), [("team", WEB), ("team", API)])
        == []
    )


def test_applying_the_patch_twice_writes_once() -> None:
    """After the patch is applied, the same opt-ins produce no further patch."""
    cfg = live(("team", API))
    ops = selector_entries_patch(cfg, [("team", WEB)])
    assert selector_entries_patch(apply_patch(cfg, ops[1:]), [("team", WEB)]) == []


def test_selector_patch_removes_gone_selectors_and_keeps_the_pod_entry() -> None:
    """Selectors that no longer exist lose their entry; the chart's entry is untouched."""
    cfg = live(("team", WEB), ("team", API))
    out = apply_patch(cfg, selector_entries_patch(cfg, [("team", API)])[1:])
    assert out["webhooks"][0] == cfg["webhooks"][0]
    assert [h["name"] for h in out["webhooks"][1:]] == [selector_webhook_name("team", API)]


def test_selector_in_live_excluded_namespace_is_dropped() -> None:
    """Namespaces the live pod entry excludes get no selector entry."""
    cfg = live()
    expressions = cfg["webhooks"][0]["namespaceSelector"]["matchExpressions"]
    expressions[0]["values"].append("private")
    assert selector_entries_patch(cfg, [("private", WEB), (OPERATOR_NAMESPACE, WEB)]) == []


def test_configuration_without_pod_entry_is_left_alone() -> None:
    """With no entry to copy the clientConfig from, nothing is written."""
    cfg = live()
    cfg["webhooks"] = []
    assert selector_entries_patch(cfg, [("team", WEB)]) == []
