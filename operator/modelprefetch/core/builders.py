"""Pure builders of the objects the operator creates: the prefetch holder DaemonSet.

Each mounted (ModelDeployment, digest) gets one DaemonSet. Its pod mounts the model as
an image volume, so the kubelet pulls it into the runtime's image store, and runs
`modelprefetch hold`, which verifies the mounted files and keeps the image in use. A
required node affinity on the wave label (`core.labels.prefetch_label_key`) means a pod
exists only on nodes the planner admitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from modelprefetch import constants
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec
from modelprefetch.core.labels import label_value, mount_hash, prefetch_label_key
from modelprefetch.core.world import PlannerSettings
from modelprefetch.oci.artifact import ModelFile

ANNOTATION_REFERENCE = f"{constants.GROUP}/reference"
ANNOTATION_DIGEST = f"{constants.GROUP}/digest"
ANNOTATION_NODE_LABEL = f"{constants.GROUP}/node-label"

COMPONENT_HOLDER = "prefetch-holder"
CONTAINER_NAME = "holder"
MODEL_DIR = "/model"
EXPECTED_FILES_DIR = "/etc/modelprefetch"
EXPECTED_FILES_NAME = "expected-files.json"
STATUS_DIR = "/run/modelprefetch"
STATUS_FILE = f"{STATUS_DIR}/status.json"
NONROOT_UID = 65532
MAX_NAME_LENGTH = 63

DEFAULT_REQUESTS = {"cpu": "5m", "memory": "32Mi"}
# Room for the Python interpreter running `hold`; it reads metadata only, never file data.
DEFAULT_LIMITS = {"memory": "128Mi"}


def holder_daemonset_name(name: str, namespace: str, digest: str) -> str:
    """`<name>-prefetch-<hash>`, at most 63 characters, the same on every call."""
    suffix = f"-prefetch-{mount_hash(namespace, name, digest)}"
    return name[: MAX_NAME_LENGTH - len(suffix)].rstrip("-.") + suffix


def expected_files_json(
    files: Sequence[ModelFile], digests: Mapping[str, str] | None = None
) -> str:
    """Compact JSON `[[path, size], ...]` sorted by path: what `hold` checks. With
    `digests` (spec.model.verify), a file listed there gets its verified sha256 digest as
    a third element, which `hold` checks against the mounted file."""
    digests = digests or {}
    entries = sorted(
        [file.path, file.size, digests[file.path]]
        if file.path in digests
        else [file.path, file.size]
        for file in files
    )
    return json.dumps(entries, separators=(",", ":"))


def common_labels(name: str, namespace: str) -> dict[str, str]:
    """Labels on every object created for a ModelDeployment."""
    return {
        constants.LABEL_NAME: "modelprefetch",
        constants.LABEL_INSTANCE: label_value(name),
        constants.LABEL_COMPONENT: COMPONENT_HOLDER,
        constants.LABEL_PART_OF: "modelprefetch",
        constants.LABEL_MANAGED_BY: constants.MANAGED_BY_VALUE,
        constants.LABEL_DEPLOYMENT: label_value(name),
        constants.LABEL_DEPLOYMENT_NAMESPACE: namespace,
    }


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    """Controller owner reference to the ModelDeployment (garbage collection)."""
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_holder_daemonset(
    *,
    namespace: str,
    name: str,
    uid: str,
    spec: ModelDeploymentSpec,
    reference: str,
    digest: str,
    files: Sequence[ModelFile],
    settings: PlannerSettings,
    file_digests: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The DaemonSet holding `reference` (digest-pinned) on admitted nodes."""
    selector = {
        constants.LABEL_DEPLOYMENT: label_value(name),
        constants.LABEL_DIGEST: digest.partition(":")[2][:63],
    }
    labels = {**common_labels(name, namespace), **selector}
    label_key = prefetch_label_key(namespace, name, digest)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": holder_daemonset_name(name, namespace, digest),
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {
                ANNOTATION_REFERENCE: reference,
                ANNOTATION_DIGEST: digest,
                ANNOTATION_NODE_LABEL: label_key,
            },
            "ownerReferences": [owner_reference(name, uid)],
        },
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            # Surge instead of unavailability: a new holder starts before the old one
            # stops, so the model image stays in use (safe from image GC) throughout.
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 2,
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {
                        constants.ANNOTATION_EXPECTED_FILES: expected_files_json(
                            files, file_digests
                        )
                    },
                },
                "spec": _pod_spec(spec, reference, label_key, settings),
            },
        },
    }


def _pod_spec(
    spec: ModelDeploymentSpec, reference: str, label_key: str, settings: PlannerSettings
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": label_key, "operator": "Exists"}]}
                    ]
                }
            }
        },
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NONROOT_UID,
            "runAsGroup": NONROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_holder_container(spec, settings)],
        "volumes": _volumes(reference),
    }
    tolerations = [*spec.nodes.tolerations, *settings.holder_tolerations]
    if tolerations:
        pod["tolerations"] = [_without_empty(t.to_dict()) for t in tolerations]
    if spec.prefetch.priority_class_name:
        pod["priorityClassName"] = spec.prefetch.priority_class_name
    if spec.model.pull_secrets:
        pod["imagePullSecrets"] = [{"name": s.name} for s in spec.model.pull_secrets]
    return pod


def _holder_container(spec: ModelDeploymentSpec, settings: PlannerSettings) -> dict[str, Any]:
    command = list(settings.holder_command)
    resources = spec.prefetch.resources
    return {
        "name": CONTAINER_NAME,
        "image": settings.holder_image,
        "imagePullPolicy": settings.holder_image_pull_policy,
        "command": [
            *command,
            "--model-dir",
            MODEL_DIR,
            "--expected-files",
            f"{EXPECTED_FILES_DIR}/{EXPECTED_FILES_NAME}",
            "--status-file",
            STATUS_FILE,
        ],
        "readinessProbe": {
            "exec": {"command": [*settings.probe_command, "--probe", "--status-file", STATUS_FILE]},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 1,
        },
        "resources": {
            "requests": dict(resources.requests) if resources else dict(DEFAULT_REQUESTS),
            "limits": dict(resources.limits) if resources else dict(DEFAULT_LIMITS),
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # `hold` writes why the files are wrong here; the planner reports it.
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "model", "mountPath": MODEL_DIR, "readOnly": True},
            {"name": "expected-files", "mountPath": EXPECTED_FILES_DIR, "readOnly": True},
            {"name": "run", "mountPath": STATUS_DIR},
        ],
    }


def _volumes(reference: str) -> list[dict[str, Any]]:
    annotation_path = f"metadata.annotations['{constants.ANNOTATION_EXPECTED_FILES}']"
    return [
        {"name": "model", "image": {"reference": reference, "pullPolicy": "IfNotPresent"}},
        {
            "name": "expected-files",
            "downwardAPI": {
                "items": [{"path": EXPECTED_FILES_NAME, "fieldRef": {"fieldPath": annotation_path}}]
            },
        },
        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
    ]


def _without_empty(data: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in data.items() if value not in ("", None)}
