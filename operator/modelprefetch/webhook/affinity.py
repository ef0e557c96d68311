"""Node affinity toward warm nodes, merged into what the pod already asks for.

Required: the warm label `Exists` is added to every requiredDuringScheduling term (terms
are ORed, so a term without it would let the pod land on a cold node). Preferred: one
weight-100 preferred term. None: nothing. A model warm on no node is capped at Preferred.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelprefetch.webhook.shapes import as_dict as _dict
from modelprefetch.webhook.shapes import as_list as _list
from modelprefetch.webhook.types import ModelEntry, Readiness, Scheduling


def effective_scheduling(model: ModelEntry) -> Scheduling:
    """Required toward a label no node has yet would strand the pod: cap it at Preferred."""
    if model.warm_label is None:
        return Scheduling.NONE
    if model.scheduling is Scheduling.REQUIRED and model.readiness is not Readiness.WARM:
        return Scheduling.PREFERRED
    return model.scheduling


def node_affinity(spec: dict[str, Any], models: Sequence[ModelEntry]) -> dict[str, Any] | None:
    """The new nodeAffinity, or None when it would not change."""
    affinity = _dict(spec.get("affinity"), "spec.affinity")
    current = _dict(affinity.get("nodeAffinity"), "spec.affinity.nodeAffinity")
    required_keys = [m.warm_label for m in models if effective_scheduling(m) is Scheduling.REQUIRED]
    preferred_keys = [
        m.warm_label for m in models if effective_scheduling(m) is Scheduling.PREFERRED
    ]
    if not required_keys and not preferred_keys:
        return None
    new = dict(current)
    if required_keys:
        field = "requiredDuringSchedulingIgnoredDuringExecution"
        required = _dict(current.get(field), f"spec.affinity.nodeAffinity.{field}")
        terms = _list(required.get("nodeSelectorTerms"), "nodeSelectorTerms") or [{}]
        new_terms = []
        for term in terms:
            term = _dict(term, "nodeSelectorTerms[]")
            exprs = list(_list(term.get("matchExpressions"), "matchExpressions"))
            have = {
                e["key"]
                for e in exprs
                if isinstance(e, dict)
                and isinstance(e.get("key"), str)
                and e.get("operator") == "Exists"
            }
            exprs += [{"key": k, "operator": "Exists"} for k in required_keys if k not in have]
            new_terms.append({**term, "matchExpressions": exprs})
        new[field] = {**required, "nodeSelectorTerms": new_terms}
    if preferred_keys:
        field = "preferredDuringSchedulingIgnoredDuringExecution"
        preferred = list(_list(current.get(field), f"spec.affinity.nodeAffinity.{field}"))
        for key in preferred_keys:
            term = {
                "weight": 100,
                "preference": {"matchExpressions": [{"key": key, "operator": "Exists"}]},
            }
            if term not in preferred:
                preferred.append(term)
        new[field] = preferred
    return None if new == current else new
