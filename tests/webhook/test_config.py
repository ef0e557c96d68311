"""Webhook configuration builders."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from modelprefetch.webhook.config import (
    WebhookClient,
    ca_bundle_patch,
    desired_pod_webhooks,
    mutating_webhook_configuration,
    selector_entries_patch,
    selector_webhook_name,
    validating_webhook_configuration,
)
from modelprefetch.webhook.types import LabelMatcher

from .helpers import apply_patch

SERVICE = WebhookClient(service_name="mp-webhook", service_namespace="mp")
URL = WebhookClient(url="https://127.0.0.1:9443/")


def test_pod_entry_selects_labelled_pods_outside_system_namespaces() -> None:
    """The pod entry needs the model label and excludes system and operator namespaces."""
    cfg = mutating_webhook_configuration("mp", client=SERVICE, operator_namespace="mp")
    hook = cfg["webhooks"][0]
    assert hook["objectSelector"]["matchExpressions"] == [
        {"key": "modelprefetch.io/model", "operator": "Exists"}
    ]
    assert hook["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "kube-node-lease",
        "kube-public",
        "kube-system",
        "mp",
    ]


def test_pod_entry_policies() -> None:
    """Fail, 5 s, no side effects, reinvoked if needed, pods CREATE only."""
    hook = mutating_webhook_configuration("mp", client=SERVICE, operator_namespace="mp")[
        "webhooks"
    ][0]
    assert (hook["failurePolicy"], hook["timeoutSeconds"], hook["sideEffects"]) == (
        "Fail",
        5,
        "None",
    )
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["rules"][0]["operations"] == ["CREATE"] and hook["rules"][0]["resources"] == [
        "pods"
    ]


def test_url_client_config_with_ca_bundle() -> None:
    """A URL client gets path appended and caBundle base64-encoded."""
    hook = mutating_webhook_configuration(
        "mp", client=URL, operator_namespace="mp", ca_bundle=b"PEM"
    )["webhooks"][0]
    assert hook["clientConfig"] == {
        "url": "https://127.0.0.1:9443/mutate-pods",
        "caBundle": base64.b64encode(b"PEM").decode(),
    }


def test_service_client_config() -> None:
    """A Service client names service, namespace, path and port 443."""
    cfg = validating_webhook_configuration("mp", client=SERVICE)
    assert cfg["webhooks"][0]["clientConfig"] == {
        "service": {
            "name": "mp-webhook",
            "namespace": "mp",
            "path": "/validate-modeldeployments",
            "port": 443,
        }
    }


def test_selector_opt_in_adds_namespaced_entry() -> None:
    """A podSelector gets its own entry in its namespace, skipping labelled pods."""
    matcher = LabelMatcher((("app", "web"),), ())
    cfg = mutating_webhook_configuration(
        "mp",
        client=SERVICE,
        operator_namespace="mp",
        selector_opt_ins=[("team", matcher), ("team", matcher)],
    )
    assert len(cfg["webhooks"]) == 2
    hook = cfg["webhooks"][1]
    assert hook["name"].endswith(".selector.pods.modelprefetch.io")
    assert hook["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "team"}}
    assert hook["objectSelector"] == {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "modelprefetch.io/model", "operator": "DoesNotExist"}],
    }


def test_selector_in_excluded_namespace_is_dropped() -> None:
    """A podSelector in a system namespace adds no entry."""
    cfg = mutating_webhook_configuration(
        "mp",
        client=SERVICE,
        operator_namespace="mp",
        selector_opt_ins=[("kube-system", LabelMatcher((("a", "b"),), ()))],
    )
    assert len(cfg["webhooks"]) == 1


def test_validating_entry_covers_modeldeployments() -> None:
    """The validating entry covers CREATE and UPDATE of modeldeployments."""
    rule = validating_webhook_configuration("mp", client=SERVICE)["webhooks"][0]["rules"][0]
    assert rule["apiGroups"] == ["modelprefetch.io"] and rule["resources"] == ["modeldeployments"]
    assert rule["operations"] == ["CREATE", "UPDATE"]


def test_cert_manager_annotation() -> None:
    """With cert-manager the CA injector annotation is set and no caBundle."""
    cfg = validating_webhook_configuration("mp", client=SERVICE, cert_manager_certificate="mp/cert")
    assert cfg["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "mp/cert"}
    assert "caBundle" not in cfg["webhooks"][0]["clientConfig"]


def test_ca_bundle_patch_sets_every_entry() -> None:
    """The caBundle patch applies to every webhook entry."""
    cfg = mutating_webhook_configuration(
        "mp",
        client=SERVICE,
        operator_namespace="mp",
        selector_opt_ins=[("t", LabelMatcher((("a", "b"),), ()))],
    )
    out = apply_patch(cfg, ca_bundle_patch(cfg, b"CA"))
    assert {h["clientConfig"]["caBundle"] for h in out["webhooks"]} == {
        base64.b64encode(b"CA").decode()
    }


def test_client_without_target_is_an_error() -> None:
    """A WebhookClient with neither URL nor Service is refused."""
    with pytest.raises(ValueError, match="url or a service"):
        WebhookClient().config("/x", None)


def test_validating_entry_skips_metadata_only_updates() -> None:
    """A matchCondition keeps spec-preserving updates away from the webhook."""
    hook = validating_webhook_configuration("mp", client=SERVICE)["webhooks"][0]
    assert "object.spec != oldObject.spec" in hook["matchConditions"][0]["expression"]


WEB = LabelMatcher((("app", "web"),), ())
API = LabelMatcher((("app", "api"),), ())


def live(*opt_ins: tuple[str, LabelMatcher], version: str = "7") -> dict[str, Any]:
    """A configuration as read back from the API server (caBundle patched, resourceVersion)."""
    cfg = mutating_webhook_configuration(
        "mp",
        client=URL,
        operator_namespace="mp",
        ca_bundle=b"CA",
        selector_opt_ins=opt_ins,
        exclude_namespaces=["private"],
        timeout_seconds=3,
    )
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
    assert selector_entries_patch(live(), [("private", WEB), ("mp", WEB)]) == []


def test_configuration_without_pod_entry_is_left_alone() -> None:
    """With no entry to copy the clientConfig from, nothing is written."""
    cfg = live()
    cfg["webhooks"] = []
    assert selector_entries_patch(cfg, [("team", WEB)]) == []
