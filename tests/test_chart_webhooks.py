"""The chart's webhook configurations (its golden renders) agree with the operator's code.

The chart is the only source of the Mutating/ValidatingWebhookConfiguration: these
tests pin what the operator relies on in it: the routes the server serves, the labels it
selects on, the names the operator patches, and a caBundle the chart never sets.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelprefetch import constants
from modelprefetch.settings import Settings
from modelprefetch.webhook.config import NAMESPACE_LABEL, POD_WEBHOOK, SYSTEM_NAMESPACES
from modelprefetch.webhook.server import MUTATE_PODS_PATH, VALIDATE_MODELDEPLOYMENTS_PATH
from tests.chart_renders import golden_documents, golden_object, values_sets

MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"
NAMESPACE = "modelprefetch-system"  # the release namespace of every golden render


def pod_entry(name: str) -> dict[str, Any]:
    webhooks = golden_object(name, MUTATING)["webhooks"]
    assert [w["name"] for w in webhooks] == [POD_WEBHOOK]
    return dict(webhooks[0])


def md_entry(name: str) -> dict[str, Any]:
    (webhook,) = golden_object(name, VALIDATING)["webhooks"]
    return dict(webhook)


def operator_env(name: str) -> dict[str, str]:
    deployment = golden_object(name, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


@pytest.mark.parametrize("name", values_sets())
def test_operator_patches_the_configurations_the_chart_names(name: str) -> None:
    """The Deployment tells the operator the names of the configurations the chart creates."""
    env = operator_env(name)
    assert (
        env["MODELPREFETCH_MUTATING_WEBHOOK_NAME"]
        == golden_object(name, MUTATING)["metadata"]["name"]
    )
    assert (
        env["MODELPREFETCH_VALIDATING_WEBHOOK_NAME"]
        == golden_object(name, VALIDATING)["metadata"]["name"]
    )


def test_default_release_uses_the_operators_default_names() -> None:
    """For release `modelprefetch` the names are the operator's defaults (no env needed)."""
    fields = Settings.model_fields
    assert golden_object("defaults", MUTATING)["metadata"]["name"] == (
        fields["mutating_webhook_name"].default
    )
    assert golden_object("defaults", VALIDATING)["metadata"]["name"] == (
        fields["validating_webhook_name"].default
    )


@pytest.mark.parametrize("name", values_sets())
def test_entries_call_the_routes_the_server_serves(name: str) -> None:
    """clientConfig paths are the webhook server's routes, by Service or URL."""
    for entry, path in (
        (pod_entry(name), MUTATE_PODS_PATH),
        (md_entry(name), VALIDATE_MODELDEPLOYMENTS_PATH),
    ):
        client = entry["clientConfig"]
        assert (client["service"]["path"] if "service" in client else client["url"]).endswith(path)


@pytest.mark.parametrize("name", values_sets())
def test_chart_never_sets_the_ca_bundle(name: str) -> None:
    """caBundle is the operator's (patched) or cert-manager's (injected), never Helm's."""
    for kind in (MUTATING, VALIDATING):
        for webhook in golden_object(name, kind)["webhooks"]:
            assert "caBundle" not in webhook["clientConfig"], (name, kind)


def test_pod_entry_selects_labelled_pods_outside_system_namespaces() -> None:
    """Only pods with the model label, in neither system nor the release namespace."""
    entry = pod_entry("defaults")
    assert entry["objectSelector"] == {
        "matchExpressions": [{"key": constants.POD_MODEL_LABEL, "operator": "Exists"}]
    }
    (expression,) = entry["namespaceSelector"]["matchExpressions"]
    assert (expression["key"], expression["operator"]) == (NAMESPACE_LABEL, "NotIn")
    assert expression["values"] == sorted({*SYSTEM_NAMESPACES, NAMESPACE})


def test_extra_excluded_namespaces_are_added_once_and_sorted() -> None:
    """webhook.excludeNamespaces joins the always-excluded ones, without duplicates."""
    (expression,) = pod_entry("restricted")["namespaceSelector"]["matchExpressions"]
    assert expression["values"] == sorted({*SYSTEM_NAMESPACES, NAMESPACE, "team-private"})


def test_pod_entry_policies() -> None:
    """Fail, 5 s, no side effects, reinvoked if needed, pods CREATE only."""
    entry = pod_entry("defaults")
    assert (entry["failurePolicy"], entry["timeoutSeconds"], entry["sideEffects"]) == (
        "Fail",
        5,
        "None",
    )
    assert (entry["reinvocationPolicy"], entry["matchPolicy"]) == ("IfNeeded", "Equivalent")
    (rule,) = entry["rules"]
    assert (rule["operations"], rule["resources"], rule["apiGroups"]) == (
        ["CREATE"],
        ["pods"],
        [""],
    )


def test_policies_follow_the_values() -> None:
    """failurePolicy and timeoutSeconds come from the values of each configuration."""
    assert (pod_entry("restricted")["failurePolicy"], md_entry("restricted")["failurePolicy"]) == (
        "Ignore",
        "Fail",
    )
    assert {
        pod_entry("restricted")["timeoutSeconds"],
        md_entry("restricted")["timeoutSeconds"],
    } == {3}


def test_service_client_config() -> None:
    """In-cluster, the API server calls the webhook Service on 443."""
    assert md_entry("defaults")["clientConfig"] == {
        "service": {
            "name": "modelprefetch-webhook",
            "namespace": NAMESPACE,
            "path": VALIDATE_MODELDEPLOYMENTS_PATH,
            "port": 443,
        }
    }
    service = next(
        d
        for d in golden_documents("defaults")
        if d["kind"] == "Service" and d["metadata"]["name"] == "modelprefetch-webhook"
    )
    assert service["spec"]["ports"][0]["port"] == 443


def test_url_client_config_for_an_operator_outside_the_cluster() -> None:
    """webhook.url replaces the Service: base URL + route."""
    assert pod_entry("external-operator")["clientConfig"] == {
        "url": "https://127.0.0.1:9443" + MUTATE_PODS_PATH
    }
    assert golden_object("external-operator", "Deployment")["spec"]["replicas"] == 0


def test_validating_entry_covers_modeldeployment_spec_changes_and_deletion() -> None:
    """CREATE, UPDATE and DELETE (deletion guard) of modeldeployments; metadata-only
    updates skipped, CREATE and DELETE always sent."""
    entry = md_entry("defaults")
    (rule,) = entry["rules"]
    assert (rule["apiGroups"], rule["resources"]) == ([constants.GROUP], [constants.PLURAL])
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]
    (condition,) = entry["matchConditions"]
    assert condition["expression"].startswith("request.operation != 'UPDATE' || ")
    assert "object.spec != oldObject.spec" in condition["expression"]


@pytest.mark.parametrize("name", ["cert-manager", "monitoring"])
def test_cert_manager_injects_the_ca_of_the_charts_certificate(name: str) -> None:
    """With cert-manager, both configurations name the Certificate the chart creates."""
    certificate = golden_object(name, "Certificate")["metadata"]
    expected = f"{certificate['namespace']}/{certificate['name']}"
    for kind in (MUTATING, VALIDATING):
        annotations = golden_object(name, kind)["metadata"]["annotations"]
        assert annotations == {"cert-manager.io/inject-ca-from": expected}


def test_without_cert_manager_no_injection_is_asked() -> None:
    """Without cert-manager the operator patches caBundle; no CA injector annotation."""
    for kind in (MUTATING, VALIDATING):
        assert "annotations" not in golden_object("defaults", kind)["metadata"]
