"""What admission needs to know about one ModelDeployment, computed once per watch event.

`ModelEntry` is the pre-digested form the index keeps: the admission hot path reads
its fields and never parses a spec or a status. `LabelMatcher` is a Kubernetes label
selector compiled to tuples so that matching a pod is a few dict look-ups.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelprefetch.api.v1alpha1 import Scheduling

__all__ = ["JsonPatchOp", "LabelMatcher", "ModelEntry", "Readiness", "Scheduling"]

JsonPatchOp = dict[str, Any]

# Volume names are DNS-1123 labels (63 chars, no dots); ModelDeployment names are
# DNS subdomains (253 chars, dots allowed).
_VOLUME_PREFIX = "model-"
_MAX_LABEL = 63
_NOT_ENV = re.compile(r"[^A-Za-z0-9]")


class Readiness(enum.StrEnum):
    """How far a ModelDeployment got, as far as a new pod is concerned."""

    UNRESOLVED = "Unresolved"  # no digest yet: nothing to pin, pods are denied
    NOT_MOUNTABLE = "NotMountable"  # no runtime in the cluster can mount it: denied
    INVALID = "Invalid"  # the spec does not parse (validating webhook bypassed): denied
    UNVERIFIED = "NotVerified"  # spec.model.verify (or the cluster policy) not met: denied
    COLD = "Cold"  # pinned, but warm on no node yet: admitted, affinity only Preferred
    WARM = "Warm"  # warm on at least one node: admitted as asked


def volume_name(md_name: str) -> str:
    """The pod volume name for a ModelDeployment: `model-<name>`, a valid DNS label."""
    base = _VOLUME_PREFIX + md_name.replace(".", "-")
    if len(base) <= _MAX_LABEL:
        return base
    digest = hashlib.sha256(md_name.encode()).hexdigest()[:8]
    return f"{base[: _MAX_LABEL - 9].rstrip('-')}-{digest}"


def env_suffix(md_name: str) -> str:
    """The per-model suffix of environment variables: `llama-3.1` -> `LLAMA_3_1`."""
    return _NOT_ENV.sub("_", md_name).upper()


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """A compiled metav1.LabelSelector; an empty selector matches nothing here.

    Kubernetes says an empty selector matches everything, but a ModelDeployment with an
    empty podSelector opting in every pod of its namespace is never what anyone meant.
    """

    match_labels: tuple[tuple[str, str], ...] = ()
    # (key, operator, values) with operator In | NotIn | Exists | DoesNotExist
    expressions: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @classmethod
    def from_selector(cls, selector: Mapping[str, Any] | None) -> LabelMatcher | None:
        """Compile a label selector dict; None when absent or empty."""
        if not selector:
            return None
        labels = tuple(
            sorted((str(k), str(v)) for k, v in (selector.get("matchLabels") or {}).items())
        )
        exprs = tuple(
            (str(e["key"]), str(e["operator"]), frozenset(str(v) for v in e.get("values") or ()))
            for e in selector.get("matchExpressions") or ()
        )
        if not labels and not exprs:
            return None
        return cls(labels, exprs)

    def matches(self, labels: Mapping[str, Any]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True

    def to_selector(self) -> dict[str, Any]:
        """Back to a metav1.LabelSelector dict (for webhook objectSelectors)."""
        out: dict[str, Any] = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.expressions:
            out["matchExpressions"] = [
                {"key": k, "operator": op, **({"values": sorted(v)} if v else {})}
                for k, op, v in self.expressions
            ]
        return out


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """Everything admission needs about one ModelDeployment, ready to copy into a pod."""

    namespace: str
    name: str
    readiness: Readiness
    message: str  # why it is not WARM (human sentence), empty when WARM
    reference: str | None  # digest-pinned reference to mount
    digest: str | None
    model_name: str  # what the serving process calls it
    model_format: str  # safetensors, gguf, ... ("" when unknown)
    mount_path: str
    sub_path: str | None
    containers: tuple[str, ...]  # names; empty = every (non-init) container
    scheduling: Scheduling
    warm_label: str | None  # node label key marking warm nodes
    pull_secrets: tuple[str, ...]
    pod_selector: LabelMatcher | None
    volume: str  # pod volume name, volume_name(name)
    fix: str = ""  # what to do about it, when the generic fix of its readiness is not enough

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)
