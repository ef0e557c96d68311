"""Keeping the chart's live webhook configurations current: JSON patches, built purely.

The Mutating/ValidatingWebhookConfiguration objects come from the Helm chart only
(charts/modelprefetch/templates/webhooks.yaml; the tests install its render too). The
operator never creates them; every replica patches what the chart installed:
- `ca_bundle_patch`: without cert-manager, the operator's own CA into every entry's
  clientConfig (the chart leaves caBundle out so Helm's three-way merge keeps the patch).
- `selector_entries_patch`: podSelector-only opt-in. The chart's `pods.modelprefetch.io`
  entry sends only pods with the `modelprefetch.io/model` label; every ModelDeployment
  with a podSelector gets one more entry, `<hash>.selector.pods.modelprefetch.io`, whose
  namespaceSelector is that namespace and whose objectSelector is the podSelector plus
  "no modelprefetch.io/model label" (those pods already reach the first entry). The
  entries are copied from the live pod entry (clientConfig with its caBundle, policies,
  rules, excluded namespaces) and kept in step with `ModelIndex.selector_opt_ins()`; a
  pod created before its entry lands is not seen. This keeps latency and failurePolicy
  Fail to exactly the pods that opted in.
- `resource_version_test`: the guard that makes a patch computed from a stale read fail
  (422) instead of overwriting another replica's or Helm's write.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelprefetch import constants
from modelprefetch.webhook.types import LabelMatcher

POD_WEBHOOK = "pods.modelprefetch.io"  # the chart's pod entry
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
SELECTOR_SUFFIX = f".selector.{POD_WEBHOOK}"
_PER_ENTRY = frozenset({"name", "objectSelector", "namespaceSelector"})


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
