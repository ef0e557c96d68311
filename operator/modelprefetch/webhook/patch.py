"""The pod mutation: pure `mutate_pod(pod, models) -> RFC 6902 operations`.

For every model the patch adds, only when missing:

- an image volume `model-<name>` with the digest-pinned reference, pullPolicy IfNotPresent;
- a read-only mount at spec.mount.path (and subPath) in the selected containers (every
  regular container when spec.mount.containers is empty; init containers only by name);
- environment variables `MODEL_{PATH,NAME,FORMAT,DIGEST,REFERENCE}_<NAME>` where <NAME>
  is the ModelDeployment name upper-cased with non-alphanumerics as `_`, plus the plain
  `MODEL_PATH` ... for the first (primary) model of the pod. A variable the container
  already defines is left alone: the user's value wins;
- the pull secrets the prefetch used, merged into spec.imagePullSecrets;
- node affinity toward nodes carrying the warm label: Required adds `Exists` to every
  nodeSelectorTerm (terms are ORed, so each must carry it); Preferred adds a weight-100
  preferred term; None adds nothing. A model warm on no node gets Preferred at most
  (see `admission` for why);
- the annotation `modelprefetch.io/injected: name[,name...]`.

Everything is checked against what the pod already has, so applying the result and
mutating again yields no operation: reinvocation is safe. An existing volume named like
ours counts as ours when the annotation lists the model or its image reference is ours;
otherwise it is a conflict, as is a mount path already used by another volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelprefetch import constants
from modelprefetch.webhook.affinity import node_affinity
from modelprefetch.webhook.shapes import PodConflictError, escape
from modelprefetch.webhook.shapes import as_dict as _dict
from modelprefetch.webhook.shapes import as_list as _list
from modelprefetch.webhook.shapes import named as _named
from modelprefetch.webhook.types import JsonPatchOp, ModelEntry, env_suffix

__all__ = ["PodConflictError", "escape", "mutate_pod"]


def _append(ops: list[JsonPatchOp], path: str, present: bool, items: list[Any]) -> None:
    """Append to the list at `path`, creating it when absent (or null)."""
    if not items:
        return
    if present:
        ops.extend({"op": "add", "path": f"{path}/-", "value": item} for item in items)
    else:
        ops.append({"op": "add", "path": path, "value": items})


def injected_names(pod: dict[str, Any]) -> set[str]:
    """ModelDeployment names our annotation says were injected into this pod."""
    annotations = _dict(_dict(pod.get("metadata"), "metadata").get("annotations"), "metadata")
    raw = annotations.get(constants.POD_INJECTED_ANNOTATION)
    return {n for n in raw.split(",") if n} if isinstance(raw, str) else set()


def _env_for(model: ModelEntry, primary: bool) -> list[dict[str, str]]:
    values = (
        (constants.ENV_MODEL_PATH, model.mount_path),
        (constants.ENV_MODEL_NAME, model.model_name),
        (constants.ENV_MODEL_FORMAT, model.model_format),
        (constants.ENV_MODEL_DIGEST, model.digest or ""),
        (constants.ENV_MODEL_REFERENCE, model.reference or ""),
    )
    suffix = env_suffix(model.name)
    env = [{"name": f"{key}_{suffix}", "value": value} for key, value in values]
    if primary:
        env.extend({"name": key, "value": value} for key, value in values)
    return env


def _volumes(spec: dict[str, Any], models: Sequence[ModelEntry], ours: set[str]) -> list[Any]:
    existing = {
        v.get("name"): (i, v)
        for i, v in enumerate(_named(_list(spec.get("volumes"), "spec.volumes"), "spec.volumes"))
    }
    new = []
    for m in models:
        if m.volume in existing:
            i, vol = existing[m.volume]
            image = vol.get("image")
            if m.name in ours or (
                isinstance(image, dict) and image.get("reference") == m.reference
            ):
                continue
            raise PodConflictError(
                f"spec.volumes[{i}].name",
                f'volume "{m.volume}" already exists and is not ours; rename it, since '
                f"ModelDeployment {m.namespace}/{m.name} mounts its model under that name",
            )
        new.append(
            {"name": m.volume, "image": {"reference": m.reference, "pullPolicy": "IfNotPresent"}}
        )
    return new


def _containers(
    pod_spec: dict[str, Any], ops: list[JsonPatchOp], models: Sequence[ModelEntry]
) -> None:
    groups = [
        (kind, _named(_list(pod_spec.get(kind), f"spec.{kind}"), f"spec.{kind}"))
        for kind in ("containers", "initContainers")
    ]
    for index, model in enumerate(models):
        targets = [
            (kind, i, c)
            for kind, items in groups
            for i, c in enumerate(items)
            if (c.get("name") in model.containers if model.containers else kind == "containers")
        ]
        if not targets:
            names = [c.get("name") for _, items in groups for c in items]
            raise PodConflictError(
                "spec.containers",
                f"ModelDeployment {model.namespace}/{model.name} mounts into containers "
                f"{list(model.containers) or 'all'} but the pod has {names}; "
                "fix spec.mount.containers",
            )
        for kind, i, c in targets:
            _mount(ops, f"spec.{kind}[{i}]", f"/spec/{kind}/{i}", c, model)
            current = _named(_list(c.get("env"), f"spec.{kind}[{i}].env"), f"spec.{kind}[{i}].env")
            present = {e.get("name") for e in current}
            env = [e for e in _env_for(model, index == 0) if e["name"] not in present]
            _append(ops, f"/spec/{kind}/{i}/env", c.get("env") is not None, env)
            if env:  # `c` is our copy: later models must append, not re-create
                c["env"] = [*current, *env]


def _mount(
    ops: list[JsonPatchOp], field: str, path: str, c: dict[str, Any], model: ModelEntry
) -> None:
    mounts = _named(_list(c.get("volumeMounts"), f"{field}.volumeMounts"), f"{field}.volumeMounts")
    want = model.mount_path.rstrip("/") or "/"
    for j, vm in enumerate(mounts):
        taken = str(vm.get("mountPath", "")).rstrip("/") or "/"
        if taken != want:
            continue
        if vm.get("name") == model.volume:
            return  # already mounted by an earlier pass
        raise PodConflictError(
            f"{field}.volumeMounts[{j}].mountPath",
            f'{want} is already used by volume "{vm.get("name")}"; change spec.mount.path of '
            f"ModelDeployment {model.namespace}/{model.name} or move that mount",
        )
    mount: dict[str, Any] = {"name": model.volume, "mountPath": model.mount_path, "readOnly": True}
    if model.sub_path:
        mount["subPath"] = model.sub_path
    _append(ops, f"{path}/volumeMounts", c.get("volumeMounts") is not None, [mount])
    # later models in the same pod must see this mount for their conflict check
    c["volumeMounts"] = [*mounts, mount]


def _pull_secrets(spec: dict[str, Any], models: Sequence[ModelEntry]) -> list[dict[str, str]]:
    present = {
        s.get("name")
        for s in _named(
            _list(spec.get("imagePullSecrets"), "spec.imagePullSecrets"), "spec.imagePullSecrets"
        )
    }
    new: list[dict[str, str]] = []
    for m in models:
        for name in m.pull_secrets:
            if name not in present:
                present.add(name)
                new.append({"name": name})
    return new


def mutate_pod(pod: dict[str, Any], models: Sequence[ModelEntry]) -> list[JsonPatchOp]:
    """RFC 6902 operations that give `pod` every model in `models` (the first is primary).

    Raises PodConflictError naming the pod field when a model cannot be added. `pod` is
    not modified. Models must be pinned (reference set): admission checks that first.
    """
    if not isinstance(pod, dict):
        raise PodConflictError("object", "must be a Pod object")
    metadata = _dict(pod.get("metadata"), "metadata")
    spec = _dict(pod.get("spec"), "spec")
    ours = injected_names(pod)
    names = {m.name for m in models}
    if len({m.mount_path.rstrip("/") for m in models}) < len(models):
        raise PodConflictError(
            "metadata.labels",
            f"models {sorted(names)} share one spec.mount.path; give each its own",
        )
    ops: list[JsonPatchOp] = []
    # shallow copies of the containers: the helpers record on them what earlier models
    # added, so later models append to lists instead of re-creating them
    work_spec = {
        kind: [dict(c) if isinstance(c, dict) else c for c in _list(spec.get(kind), f"spec.{kind}")]
        for kind in ("containers", "initContainers")
    }
    volumes = _volumes(spec, models, ours)
    _containers(work_spec, ops, models)
    mount_ops = ops
    ops = []
    if not names <= ours:
        annotations = metadata.get("annotations")
        value = ",".join(sorted(ours | names))
        if "metadata" not in pod:
            ops.append(
                {
                    "op": "add",
                    "path": "/metadata",
                    "value": {"annotations": {constants.POD_INJECTED_ANNOTATION: value}},
                }
            )
        elif annotations is None:
            ops.append(
                {
                    "op": "add",
                    "path": "/metadata/annotations",
                    "value": {constants.POD_INJECTED_ANNOTATION: value},
                }
            )
        else:
            ops.append(
                {
                    "op": "add",
                    "path": f"/metadata/annotations/{escape(constants.POD_INJECTED_ANNOTATION)}",
                    "value": value,
                }
            )
    _append(ops, "/spec/volumes", spec.get("volumes") is not None, volumes)
    ops.extend(mount_ops)
    _append(
        ops,
        "/spec/imagePullSecrets",
        spec.get("imagePullSecrets") is not None,
        _pull_secrets(spec, models),
    )
    new_affinity = node_affinity(spec, models)
    if new_affinity is not None:
        if spec.get("affinity") is None:
            ops.append(
                {"op": "add", "path": "/spec/affinity", "value": {"nodeAffinity": new_affinity}}
            )
        else:
            ops.append({"op": "add", "path": "/spec/affinity/nodeAffinity", "value": new_affinity})
    return ops
