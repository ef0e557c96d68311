"""Pure builders of the Mutating/ValidatingWebhookConfiguration objects.

Who is sent to the pod webhook (every other pod never pays our latency):
- `pods.modelprefetch.io`: pods with the `modelprefetch.io/model` label (objectSelector
  Exists), in every namespace but kube-system, kube-public, kube-node-lease, the
  operator's and `exclude_namespaces` (namespaceSelector on kubernetes.io/metadata.name).
- podSelector-only opt-in: one extra entry per ModelDeployment with a podSelector,
  `<hash>.selector.pods.modelprefetch.io`, whose namespaceSelector is that namespace and
  whose objectSelector is the podSelector plus "no modelprefetch.io/model label" (those
  pods already reach the first entry). Every operator replica keeps these entries of
  the live configuration in step with `ModelIndex.selector_opt_ins()`
  (`selector_entries_patch`, built on the live pod entry); a pod created before the
  entry lands is not seen.
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
import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
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
SELECTOR_SUFFIX = f".selector.{POD_WEBHOOK}"
_PER_ENTRY = frozenset({"name", "objectSelector", "namespaceSelector"})


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
    return f"{digest}{SELECTOR_SUFFIX}"


def _selector_entries(
    base: Mapping[str, Any],
    excluded: Iterable[str],
    selector_opt_ins: Sequence[tuple[str, LabelMatcher]],
) -> list[dict[str, Any]]:
    """One entry per (namespace, podSelector), built on `base` (a pod entry's settings)."""
    skip = {*SYSTEM_NAMESPACES, *excluded}
    template = {k: v for k, v in base.items() if k not in _PER_ENTRY}
    entries, seen = [], set()
    for namespace, selector in selector_opt_ins:
        entry_name = selector_webhook_name(namespace, selector)
        if namespace in skip or entry_name in seen:
            continue
        seen.add(entry_name)
        object_selector = selector.to_selector()
        object_selector["matchExpressions"] = [
            *object_selector.get("matchExpressions", []),
            {"key": constants.POD_MODEL_LABEL, "operator": "DoesNotExist"},
        ]
        entries.append(
            {
                "name": entry_name,
                **copy.deepcopy(template),
                "objectSelector": object_selector,
                "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}},
            }
        )
    return entries


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
    webhooks += _selector_entries(base, excluded, selector_opt_ins)
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


def is_selector_entry(webhook: Mapping[str, Any]) -> bool:
    """Whether a webhook entry is one of the per-podSelector entries the operator manages."""
    return str(webhook.get("name", "")).endswith(SELECTOR_SUFFIX)


def _excluded_namespaces(pod_entry: Mapping[str, Any]) -> list[str]:
    """The namespaces a pod entry's namespaceSelector leaves out (`NotIn` on the name)."""
    expressions = (pod_entry.get("namespaceSelector") or {}).get("matchExpressions") or []
    return [
        str(value)
        for expr in expressions
        if expr.get("key") == NAMESPACE_LABEL and expr.get("operator") == "NotIn"
        for value in expr.get("values") or ()
    ]


def desired_pod_webhooks(
    configuration: Mapping[str, Any], selector_opt_ins: Sequence[tuple[str, LabelMatcher]]
) -> list[dict[str, Any]]:
    """The `webhooks` list a live MutatingWebhookConfiguration should have for these opt-ins.

    Entries other than the per-podSelector ones (the chart's `pods.modelprefetch.io`) are
    kept exactly as they are. The selector entries are built on that pod entry as it is
    in the cluster: same clientConfig (Service or URL, and the caBundle already patched
    or injected), failurePolicy, timeout and rules, and the same excluded namespaces. So
    whatever way the configuration reaches this replica, the new entries reach it too.
    Without a pod entry (nothing to copy the clientConfig from) nothing is added.
    """
    webhooks = [dict(w) for w in configuration.get("webhooks") or ()]
    kept = [w for w in webhooks if not is_selector_entry(w)]
    base = next((w for w in kept if w.get("name") == POD_WEBHOOK), kept[0] if kept else None)
    if base is None:
        return webhooks
    return kept + _selector_entries(base, _excluded_namespaces(base), selector_opt_ins)


def resource_version_test(configuration: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch `test` op that fails (422) if the object changed since it was read."""
    version = (configuration.get("metadata") or {}).get("resourceVersion")
    if not version:
        return []
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]


def selector_entries_patch(
    configuration: Mapping[str, Any], selector_opt_ins: Sequence[tuple[str, LabelMatcher]]
) -> list[dict[str, Any]]:
    """JSON patch bringing the per-podSelector entries up to date; [] when they already are.

    Guarded by the resourceVersion it was computed from, so a concurrent caBundle patch
    or another replica's write is never overwritten with stale entries.
    """
    desired = desired_pod_webhooks(configuration, selector_opt_ins)
    if desired == list(configuration.get("webhooks") or ()):
        return []
    op = "replace" if "webhooks" in configuration else "add"
    return [
        *resource_version_test(configuration),
        {"op": op, "path": "/webhooks", "value": desired},
    ]


def ca_bundle_patch(configuration: Mapping[str, Any], ca_bundle: bytes) -> list[dict[str, Any]]:
    """JSON patch setting caBundle on every entry of an existing configuration object."""
    encoded = base64.b64encode(ca_bundle).decode()
    return [
        {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": encoded}
        for i, _ in enumerate(configuration.get("webhooks") or [])
    ]
