"""In-memory index of ModelDeployments, fed by the operator's watch, read by admission.

Every watch event is digested into a frozen `ModelEntry` right away (the spec is parsed
with the same pydantic model as the operator, the status is read for the pinned
reference, the warm node label and readiness), so an admission is a couple of dict
look-ups. Updates replace whole per-namespace dicts instead of mutating them, so a
reader in another thread never sees a half-updated namespace.

Readiness, from status:
    no status.resolved                      Unresolved     pods denied (no digest to pin)
    resolved, no resolved.mountedReference  NotMountable   pods denied (no runtime mounts it)
    spec does not parse                     Invalid        pods denied (message names fields)
    Verified condition not True (or spec.model.verify set and no Verified condition yet)
                                            NotVerified    pods denied (reason and message)
    mountedReference, its mount ready == 0  Cold           admitted, affinity Preferred at most
    mountedReference, its mount ready > 0   Warm           admitted as asked

Warm or cold is judged from the chosen mount itself (`status.resolved.mounts[]` whose
reference is the mountedReference: its `ready` count and `nodeLabel`), never from
`status.nodes.ready`: during a rollout the operator keeps mounting the previous digest
until the new one is Ready on more nodes, while `nodes.ready` counts the new digest only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.api.validation import describe
from modelprefetch.api.verification import VerifyPolicy
from modelprefetch.core.labels import warm_label_key as default_warm_label_key
from modelprefetch.webhook.types import (
    LabelMatcher,
    ModelEntry,
    Readiness,
    Scheduling,
    volume_name,
)
from modelprefetch.webhook.verification_hint import verification_fix

logger = logging.getLogger(__name__)

# (namespace, name, digest) -> node label key; used only when status has no nodeLabel
# (status written by an older operator); the default is the planner's own function
WarmLabelKey = Callable[[str, str, str], str]


def _condition_message(status: Mapping[str, Any], kind: str) -> str:
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return str(condition.get("message") or condition.get("reason") or "")
    return ""


def _unverified(verify: VerifyPolicy | None, status: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why pods must wait for verification and what to do, or None. A Verified condition
    that is not True denies (it is written only when verification is on: the spec or the
    cluster policy asks); a spec that asks and no True condition yet denies too."""
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Verified":
            if condition.get("status") == "True":
                return None
            reason, message = str(condition.get("reason")), str(condition.get("message") or "")
            return f"{reason}: {message}".strip(), verification_fix(verify, reason, message)
    if verify is None:
        return None
    return "the operator has not verified its signature yet", verification_fix(verify, None)


def _count(value: object) -> int:
    """A node count from status; TypeError when another version wrote something else."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"node count {value!r} is not an integer")
    return value


def build_entry(
    obj: Mapping[str, Any], warm_label_key: WarmLabelKey | None = default_warm_label_key
) -> ModelEntry:
    """Digest one ModelDeployment object (as the API server returns it) into a ModelEntry."""
    metadata = obj.get("metadata") or {}
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    status = obj.get("status") or {}
    try:
        spec = parse_spec(obj.get("spec") or {})
    except ValidationError as exc:
        return _unusable(namespace, name, Readiness.INVALID, f"invalid spec: {describe(exc)}")
    unverified = _unverified(spec.model.verify, status)
    if unverified is not None:
        why, fix = unverified
        return replace(_unusable(namespace, name, Readiness.UNVERIFIED, why), fix=fix)
    resolved = status.get("resolved") or {}
    reference = resolved.get("mountedReference")
    digest = resolved.get("digest")
    if not digest:
        why = _condition_message(status, "Resolved") or "the operator has not resolved it yet"
        return _unusable(namespace, name, Readiness.UNRESOLVED, why)
    if not reference:
        why = _condition_message(status, "Mountable") or "no runtime in the cluster can mount it"
        return _unusable(namespace, name, Readiness.NOT_MOUNTABLE, why)
    warm_label, mount_digest, ready_nodes, current = None, str(digest), 0, True
    for group in resolved.get("mounts") or ():
        if isinstance(group, Mapping) and group.get("reference") == reference:
            warm_label = warm_label or group.get("nodeLabel") or None
            mount_digest = str(group.get("digest") or digest)
            ready_nodes += _count(group.get("ready"))
            current = current and group.get("current", True) is not False
    if warm_label is None and warm_label_key is not None:
        # the label is keyed by the digest of the mounted reference (derived image or not)
        warm_label = warm_label_key(namespace, name, mount_digest)
    readiness = Readiness.WARM if ready_nodes > 0 else Readiness.COLD
    mount = spec.mount
    return ModelEntry(
        namespace=namespace,
        name=name,
        readiness=readiness,
        message="" if readiness is Readiness.WARM else "it is not warm on any node yet",
        reference=str(reference),
        # a previous digest still mounted during a rollout: name what the pod really gets
        digest=str(digest) if current else mount_digest,
        model_name=str(resolved.get("name") or name),
        model_format=str(resolved.get("format") or ""),
        mount_path=mount.effective_path(name),
        sub_path=mount.sub_path,
        containers=tuple(mount.containers),
        scheduling=mount.scheduling,
        warm_label=warm_label,
        pull_secrets=tuple(s.name for s in spec.model.pull_secrets),
        pod_selector=LabelMatcher.from_selector(
            mount.pod_selector.to_dict() if mount.pod_selector else None
        ),
        volume=volume_name(name),
    )


def _unusable(namespace: str, name: str, readiness: Readiness, message: str) -> ModelEntry:
    return ModelEntry(
        namespace=namespace,
        name=name,
        readiness=readiness,
        message=message,
        reference=None,
        digest=None,
        model_name=name,
        model_format="",
        mount_path="",
        sub_path=None,
        containers=(),
        scheduling=Scheduling.NONE,
        warm_label=None,
        pull_secrets=(),
        pod_selector=None,
        volume=volume_name(name),
    )


class ModelIndex:
    """ModelDeployments by (namespace, name), kept current by `apply` / `replace_all`."""

    def __init__(self, warm_label_key: WarmLabelKey | None = default_warm_label_key) -> None:
        self._warm_label_key = warm_label_key
        self._by_ns: dict[str, dict[str, ModelEntry]] = {}
        # per namespace: entries with a podSelector, sorted by name (stable model order)
        self._selectors: dict[str, tuple[tuple[LabelMatcher, ModelEntry], ...]] = {}
        self.synced = False  # True after the first replace_all: before it, we know nothing
        self.generation = 0  # bumped on every change; lets callers notice selector changes

    def replace_all(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace the whole index with a fresh list (the watch's initial LIST)."""
        by_ns: dict[str, dict[str, ModelEntry]] = {}
        for obj in objs:
            entry = self._build(obj)
            if entry is not None:
                by_ns.setdefault(entry.namespace, {})[entry.name] = entry
        self._by_ns = by_ns
        self._selectors = {ns: _with_selectors(entries) for ns, entries in by_ns.items()}
        self.synced = True
        self.generation += 1

    def apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """One watch event: ADDED / MODIFIED upsert, DELETED removes."""
        metadata = obj.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        if not isinstance(namespace, str) or not isinstance(name, str):
            return
        entries = dict(self._by_ns.get(namespace, {}))
        if event_type.upper() == "DELETED":
            entries.pop(name, None)
        else:
            entry = self._build(obj)
            if entry is None:
                return
            entries[name] = entry
        self._by_ns = {**self._by_ns, namespace: entries}
        self._selectors = {**self._selectors, namespace: _with_selectors(entries)}
        self.generation += 1

    def get(self, namespace: str, name: str) -> ModelEntry | None:
        """The entry of one ModelDeployment, if it exists."""
        return self._by_ns.get(namespace, {}).get(name)

    def selected(self, namespace: str, labels: Mapping[str, Any]) -> list[ModelEntry]:
        """Entries of the namespace whose spec.mount.podSelector matches these pod labels."""
        return [e for m, e in self._selectors.get(namespace, ()) if m.matches(labels)]

    def selector_opt_ins(self) -> list[tuple[str, LabelMatcher]]:
        """(namespace, podSelector) of every ModelDeployment that selects pods by labels."""
        return [(ns, m) for ns, pairs in sorted(self._selectors.items()) for m, _ in pairs]

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_ns.values())

    def _build(self, obj: Mapping[str, Any]) -> ModelEntry | None:
        try:
            return build_entry(obj, self._warm_label_key)
        except (TypeError, ValueError, AttributeError, KeyError):
            # a status written by another version we cannot read: keep serving the rest
            logger.exception(
                "Cannot index ModelDeployment %s", (obj.get("metadata") or {}).get("name")
            )
            return None


def _with_selectors(
    entries: Mapping[str, ModelEntry],
) -> tuple[tuple[LabelMatcher, ModelEntry], ...]:
    return tuple(
        (e.pod_selector, e) for e in (entries[n] for n in sorted(entries)) if e.pod_selector
    )
