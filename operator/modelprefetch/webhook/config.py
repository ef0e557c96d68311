"""Pure builders of the Mutating/ValidatingWebhookConfiguration objects.

Who is sent to the pod webhook (every other pod never pays our latency):
- `pods.modelprefetch.io`: pods with the `modelprefetch.io/model` label (objectSelector
  Exists), in every namespace but kube-system, kube-public, kube-node-lease, the
  operator's and `exclude_namespaces` (namespaceSelector on kubernetes.io/metadata.name).
- podSelector-only opt-in: one extra entry per ModelDeployment with a podSelector,
  `<hash>.selector.pods.modelprefetch.io`, whose namespaceSelector is that namespace and
  whose objectSelector is the podSelector plus "no modelprefetch.io/model label" (those
  pods already reach the first entry). The operator rebuilds the configuration when
  `ModelIndex.selector_opt_ins()` changes; a pod created before that lands is not seen.
  This keeps latency and failurePolicy Fail to exactly the pods that opted in.

All entries: failurePolicy Fail, timeoutSeconds 5, sideEffects None, admissionReviewVersions
v1, matchPolicy Equivalent; the pod entries add reinvocationPolicy IfNeeded (the patch
is idempotent). clientConfig is either the Service (in-cluster) or a URL (the local
test cluster has no kube-proxy: `https://127.0.0.1:PORT`). Without cert-manager, pass
`ca_bundle`; with it, pass `cert_manager_certificate="ns/name"` and the annotation lets
its CA injector fill caBundle.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelprefetch import constants
from modelprefetch.webhook.server import MUTATE_PODS_PATH, VALIDATE_MODELDEPLOYMENTS_PATH
from modelprefetch.webhook.types import LabelMatcher

POD_WEBHOOK = "pods.modelprefetch.io"
MODELDEPLOYMENT_WEBHOOK = "modeldeployments.modelprefetch.io"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
ADMISSION = "admissionregistration.k8s.io/v1"


@dataclass(frozen=True, slots=True)
class WebhookClient:
    """How the API server reaches us: a Service, or a base URL like https://127.0.0.1:9443."""

    service_name: str | None = None
    service_namespace: str | None = None
    service_port: int = 443
    url: str | None = None

    def config(self, path: str, ca_bundle: bytes | None) -> dict[str, Any]:
        out: dict[str, Any]
        if self.url is not None:
            out = {"url": self.url.rstrip("/") + path}
        elif self.service_name and self.service_namespace:
            out = {
                "service": {
                    "name": self.service_name,
                    "namespace": self.service_namespace,
                    "path": path,
                    "port": self.service_port,
                }
            }
        else:
            raise ValueError("WebhookClient needs a url or a service name and namespace")
        if ca_bundle:
            out["caBundle"] = base64.b64encode(ca_bundle).decode()
        return out


def _metadata(name: str, labels: Mapping[str, str], cert_manager: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE, **labels},
    }
    if cert_manager:
        meta["annotations"] = {"cert-manager.io/inject-ca-from": cert_manager}
    return meta


def _common(timeout_seconds: int, failure_policy: str) -> dict[str, Any]:
    return {
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "matchPolicy": "Equivalent",
        "failurePolicy": failure_policy,
        "timeoutSeconds": timeout_seconds,
    }


def selector_webhook_name(namespace: str, selector: LabelMatcher) -> str:
    """A stable entry name for one namespace + podSelector."""
    digest = hashlib.sha256(repr((namespace, selector)).encode()).hexdigest()[:10]
    return f"{digest}.selector.{POD_WEBHOOK}"


def mutating_webhook_configuration(
    name: str,
    *,
    client: WebhookClient,
    operator_namespace: str,
    ca_bundle: bytes | None = None,
    selector_opt_ins: Sequence[tuple[str, LabelMatcher]] = (),
    exclude_namespaces: Sequence[str] = (),
    timeout_seconds: int = 5,
    failure_policy: str = "Fail",
    cert_manager_certificate: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The MutatingWebhookConfiguration for pods (see the module docstring)."""
    excluded = sorted({*SYSTEM_NAMESPACES, operator_namespace, *exclude_namespaces})
    base = {
        **_common(timeout_seconds, failure_policy),
        "clientConfig": client.config(MUTATE_PODS_PATH, ca_bundle),
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }
        ],
        "reinvocationPolicy": "IfNeeded",
    }
    webhooks = [
        {
            "name": POD_WEBHOOK,
            **base,
            "objectSelector": {
                "matchExpressions": [{"key": constants.POD_MODEL_LABEL, "operator": "Exists"}]
            },
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": NAMESPACE_LABEL, "operator": "NotIn", "values": excluded}
                ]
            },
        }
    ]
    seen = set()
    for namespace, selector in selector_opt_ins:
        entry_name = selector_webhook_name(namespace, selector)
        if namespace in excluded or entry_name in seen:
            continue
        seen.add(entry_name)
        object_selector = selector.to_selector()
        object_selector["matchExpressions"] = [
            *object_selector.get("matchExpressions", []),
            {"key": constants.POD_MODEL_LABEL, "operator": "DoesNotExist"},
        ]
        webhooks.append(
            {
                "name": entry_name,
                **base,
                "objectSelector": object_selector,
                "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}},
            }
        )
    return {
        "apiVersion": ADMISSION,
        "kind": "MutatingWebhookConfiguration",
        "metadata": _metadata(name, labels or {}, cert_manager_certificate),
        "webhooks": webhooks,
    }


def validating_webhook_configuration(
    name: str,
    *,
    client: WebhookClient,
    ca_bundle: bytes | None = None,
    timeout_seconds: int = 5,
    failure_policy: str = "Fail",
    cert_manager_certificate: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration for ModelDeployments (CREATE, UPDATE)."""
    return {
        "apiVersion": ADMISSION,
        "kind": "ValidatingWebhookConfiguration",
        "metadata": _metadata(name, labels or {}, cert_manager_certificate),
        "webhooks": [
            {
                "name": MODELDEPLOYMENT_WEBHOOK,
                **_common(timeout_seconds, failure_policy),
                "clientConfig": client.config(VALIDATE_MODELDEPLOYMENTS_PATH, ca_bundle),
                # metadata-only updates (finalizers, labels) never reach us, so a
                # ModelDeployment can still be released while the webhook is down
                "matchConditions": [
                    {
                        "name": "spec-changed",
                        "expression": "request.operation == 'CREATE' || "
                        "!has(oldObject.spec) || !has(object.spec) || "
                        "object.spec != oldObject.spec",
                    }
                ],
                "rules": [
                    {
                        "apiGroups": [constants.GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [constants.PLURAL],
                        "scope": "Namespaced",
                    }
                ],
            }
        ],
    }


def ca_bundle_patch(configuration: Mapping[str, Any], ca_bundle: bytes) -> list[dict[str, Any]]:
    """JSON patch setting caBundle on every entry of an existing configuration object."""
    encoded = base64.b64encode(ca_bundle).decode()
    return [
        {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": encoded}
        for i, _ in enumerate(configuration.get("webhooks") or [])
    ]
