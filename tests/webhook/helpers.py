"""Test helpers: a strict RFC 6902 applier and ModelEntry / pod factories."""

from __future__ import annotations

import copy
from typing import Any

from modelprefetch.webhook.types import ModelEntry, Readiness, Scheduling, volume_name

DIGEST = "sha256:" + "ab" * 32


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply add/replace/remove as RFC 6902 says, failing on any path that does not exist.

    Stricter than needed on purpose: the API server's json-patch library rejects an
    `add` whose parent is missing, and so does this.
    """
    out = copy.deepcopy(doc)
    for op in ops:
        assert set(op) <= {"op", "path", "value"}, op
        assert op["path"].startswith("/"), op
        tokens = [_unescape(t) for t in op["path"].split("/")[1:]]
        parent: Any = out
        for token in tokens[:-1]:
            if isinstance(parent, list):
                parent = parent[int(token)]
            else:
                assert isinstance(parent, dict) and token in parent, (op, token)
                parent = parent[token]
        last = tokens[-1]
        if op["op"] == "add":
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                else:
                    assert 0 <= int(last) <= len(parent), op
                    parent.insert(int(last), value)
            else:
                assert isinstance(parent, dict), op
                parent[last] = value
        elif op["op"] == "replace":
            assert last in parent if isinstance(parent, dict) else int(last) < len(parent), op
            parent[last if isinstance(parent, dict) else int(last)] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[last if isinstance(parent, dict) else int(last)]
        else:
            raise AssertionError(f"unexpected op {op}")
    return out


def entry(
    name: str = "llama",
    *,
    namespace: str = "team",
    readiness: Readiness = Readiness.WARM,
    mount_path: str | None = None,
    sub_path: str | None = None,
    containers: tuple[str, ...] = (),
    scheduling: Scheduling = Scheduling.PREFERRED,
    pull_secrets: tuple[str, ...] = ("regcred",),
    warm_label: str | None = None,
) -> ModelEntry:
    """A pinned ModelEntry with overridable fields."""
    return ModelEntry(
        namespace=namespace,
        name=name,
        readiness=readiness,
        message="" if readiness is Readiness.WARM else f"{name} is {readiness}",
        reference=f"registry.local/models/{name}@{DIGEST}",
        digest=DIGEST,
        model_name=name,
        model_format="safetensors",
        mount_path=mount_path or f"/models/{name}",
        sub_path=sub_path,
        containers=containers,
        scheduling=scheduling,
        warm_label=warm_label or f"warm.node.modelprefetch.io/{name}",
        pull_secrets=pull_secrets,
        pod_selector=None,
        volume=volume_name(name),
    )


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A Pod dict with the given containers (default one named `app`) and spec fields."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-", "labels": {"modelprefetch.io/model": "llama"}},
        "spec": {"containers": list(containers) or [{"name": "app", "image": "busybox"}], **spec},
    }


def md(
    name: str = "llama",
    *,
    namespace: str = "team",
    spec: dict[str, Any] | None = None,
    ready_nodes: int = 1,
    resolved: bool = True,
    mountable: bool = True,
) -> dict[str, Any]:
    """A ModelDeployment object as the watch delivers it."""
    reference = f"registry.local/models/{name}@{DIGEST}"
    status: dict[str, Any] = {"nodes": {"ready": ready_nodes}, "conditions": []}
    if resolved:
        status["resolved"] = {
            "reference": f"registry.local/models/{name}:v1",
            "digest": DIGEST,
            "shortDigest": DIGEST[7:19],
            "kind": "ModelPack",
            "format": "gguf",
            "name": f"{name}-model",
            "mountedReference": reference if mountable else None,
            "mounts": [
                {
                    "reference": reference,
                    "digest": DIGEST,
                    "ready": ready_nodes,
                    "nodeLabel": f"warm.x/{name}",
                    "current": True,
                }
            ],
        }
    else:
        status["conditions"].append(
            {
                "type": "Resolved",
                "status": "False",
                "reason": "NotFound",
                "message": "tag v1 not found",
            }
        )
    return {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec or {"model": {"reference": f"registry.local/models/{name}:v1"}},
        "status": status,
    }
