"""Which pods use which ModelDeployments, in memory, and the deletion guard built on it.

The pod webhook labels every pod it gives a model with `modelprefetch.io/injected: "true"`
(`marker_ops`); the annotation of the same key lists the models. The operator watches
only pods carrying that label (`SELECTOR`), never every pod of the cluster, and
`PodUsage` keeps, per (namespace, model), the names of the pods that are Pending or
Running and not being deleted: those would lose their model, or their replacements would
be refused by the pod webhook, if the ModelDeployment went away.

`review_deletion` answers a DELETE of a ModelDeployment: refused while such pods exist,
naming a few of them and the count, unless the ModelDeployment carries the annotation
`modelprefetch.io/allow-delete-in-use: "true"`. Pods admitted by a version without the
label are not seen (they still carry the annotation; relabel them to count them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelprefetch import constants
from modelprefetch.webhook.shapes import escape
from modelprefetch.webhook.types import JsonPatchOp

SELECTOR = constants.POD_INJECTED_LABEL  # label selector: the key exists
MARKER_VALUE = "true"
IN_USE_PHASES = frozenset({"Pending", "Running"})
NAMES_SHOWN = 5  # a denial lists this many pods and the count: bounded at any scale

PodKey = tuple[str, str]  # (namespace, pod name)


def marker_ops(pod: Mapping[str, Any]) -> list[JsonPatchOp]:
    """The JSON patch that labels `pod` as using models; none when it already is."""
    metadata = pod.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if isinstance(labels, Mapping):
        if labels.get(constants.POD_INJECTED_LABEL) == MARKER_VALUE:
            return []
        path = f"/metadata/labels/{escape(constants.POD_INJECTED_LABEL)}"
        return [{"op": "add", "path": path, "value": MARKER_VALUE}]
    return [
        {
            "op": "add",
            "path": "/metadata/labels",
            "value": {constants.POD_INJECTED_LABEL: MARKER_VALUE},
        }
    ]


def models_in_use(pod: Mapping[str, Any]) -> frozenset[str]:
    """The models a pod keeps in use: those our annotation lists, while it may still run."""
    metadata = pod.get("metadata")
    status = pod.get("status")
    if not isinstance(metadata, Mapping) or metadata.get("deletionTimestamp"):
        return frozenset()  # a terminating pod is going away and is not replaced by itself
    phase = status.get("phase") if isinstance(status, Mapping) else None
    if (phase or "Pending") not in IN_USE_PHASES:
        return frozenset()  # Succeeded / Failed pods mount nothing any more
    annotations = metadata.get("annotations")
    raw = (
        annotations.get(constants.POD_INJECTED_ANNOTATION)
        if isinstance(annotations, Mapping)
        else None
    )
    return (
        frozenset(n.strip() for n in raw.split(",") if n.strip())
        if isinstance(raw, str)
        else frozenset()
    )


def _key(pod: Mapping[str, Any]) -> PodKey | None:
    metadata = pod.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return namespace, name


class PodUsage:
    """Pods using each (namespace, model), kept current by `replace_all` / `apply`."""

    def __init__(self) -> None:
        self._models: dict[PodKey, frozenset[str]] = {}
        self._users: dict[tuple[str, str], set[str]] = {}
        self.synced = False  # True after the first replace_all: before it, we know nothing

    def replace_all(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """Replace everything with a fresh list (the watch's initial LIST)."""
        self._models, self._users = {}, {}
        for pod in pods:
            self.apply("ADDED", pod)
        self.synced = True

    def apply(self, event_type: str, pod: Mapping[str, Any]) -> None:
        """One watch event: ADDED / MODIFIED replace the pod's models, DELETED drops them."""
        key = _key(pod)
        if key is None:
            return
        namespace, name = key
        for model in self._models.pop(key, frozenset()):
            users = self._users.get((namespace, model))
            if users is not None:
                users.discard(name)
                if not users:
                    del self._users[(namespace, model)]
        models = frozenset() if event_type.upper() == "DELETED" else models_in_use(pod)
        if models:
            self._models[key] = models
            for model in models:
                self._users.setdefault((namespace, model), set()).add(name)

    def users(self, namespace: str, model: str) -> list[str]:
        """Names of the pods of `namespace` that use `model`, sorted."""
        return sorted(self._users.get((namespace, model), ()))

    def __len__(self) -> int:
        return len(self._models)


def deletion_refusal(request: Mapping[str, Any], usage: PodUsage) -> str | None:
    """Why this DELETE of a ModelDeployment must be refused, or None to allow it."""
    old = request.get("oldObject")
    metadata = old.get("metadata") if isinstance(old, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    annotations = metadata.get("annotations")
    override = (
        annotations.get(constants.ANNOTATION_ALLOW_DELETE_IN_USE)
        if isinstance(annotations, Mapping)
        else None
    )
    if isinstance(override, str) and override.strip().lower() == "true":
        return None
    if metadata.get("deletionTimestamp"):
        return None  # already being deleted: a repeated delete changes nothing
    namespace = str(request.get("namespace") or metadata.get("namespace") or "")
    name = str(request.get("name") or metadata.get("name") or "")
    how = (
        f"set the annotation {constants.ANNOTATION_ALLOW_DELETE_IN_USE}=true on it "
        f"(kubectl annotate md {name} -n {namespace} "
        f"{constants.ANNOTATION_ALLOW_DELETE_IN_USE}=true)"
    )
    if not usage.synced:
        return (
            f"ModelDeployment {namespace}/{name}: the modelprefetch webhook has not loaded "
            f"the pods that use models yet; retry in a moment, or {how}"
        )
    users = usage.users(namespace, name)
    if not users:
        return None
    shown = ", ".join(f"{namespace}/{pod}" for pod in users[:NAMES_SHOWN])
    more = f", and {len(users) - NAMES_SHOWN} more" if len(users) > NAMES_SHOWN else ""
    noun = "pod" if len(users) == 1 else "pods"
    return (
        f"ModelDeployment {namespace}/{name} is in use by {len(users)} running or pending "
        f"{noun} ({shown}{more}); delete them first, or {how}"
    )
