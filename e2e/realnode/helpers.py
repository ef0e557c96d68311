"""Pods on the real node, the models they mount, and what their containers printed."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.realnode import LABEL_KEY, TOLERATION, RealNode
from e2e.cluster.registries import Registries
from e2e.operator_tests.helpers import wait_for

MiB = 1024 * 1024


@dataclass
class RealNodeEnv:
    cluster: LocalCluster
    registries: Registries
    node: RealNode
    busybox: str  # the workload image: busybox-static with its applets
    holder: str  # the operator's image, as the holder DaemonSet uses it
    image_build_seconds: float


DONE = "CHECKSUMS-DONE"
# Every regular file under $1, sorted, with its sha256; then a marker line.
CHECKSUM_SCRIPT = (
    f'cd "$1" && find . -type f | sort | while read -r f; do sha256sum "$f"; done; echo {DONE}'
)


def make_big_model(root: Path, total_bytes: int, *, files: int = 3) -> Path:
    """A model tree of random bytes: `files` weight shards + config, tokenizer, nested docs."""
    root.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "seed": os.urandom(8).hex()}
    (root / "config.json").write_text(json.dumps(config))
    (root / "tokenizer").mkdir(exist_ok=True)
    (root / "tokenizer" / "tokenizer.json").write_text(json.dumps({"vocab": ["a", "b", "c"]}))
    (root / "docs" / "deep" / "nested").mkdir(parents=True, exist_ok=True)
    (root / "docs" / "deep" / "nested" / "README.md").write_text("# test model\n")
    (root / "weights").mkdir(exist_ok=True)
    shard = total_bytes // files
    for i in range(files):
        path = root / "weights" / f"model-{i + 1:05d}-of-{files:05d}.safetensors"
        with path.open("wb") as out:
            left = shard
            while left:
                chunk = min(left, 16 * MiB)
                out.write(os.urandom(chunk))
                left -= chunk
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def checksums(root: Path) -> dict[str, str]:
    """{"./relative/path": sha256} for every file, as CHECKSUM_SCRIPT prints them."""
    result = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(4 * MiB):
                digest.update(chunk)
        result[f"./{path.relative_to(root)}"] = digest.hexdigest()
    return result


def parse_checksums(log: str) -> dict[str, str]:
    result = {}
    for line in log.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            result[parts[1]] = parts[0]
    return result


def on_real_node(spec: dict[str, Any], node: str | None = None) -> dict[str, Any]:
    """A pod spec for the real nodes labelled for the operator tests (selector +
    toleration of their taint), or for the one named `node`."""
    selector = {"kubernetes.io/hostname": node} if node else {LABEL_KEY: "true"}
    return {
        **spec,
        "nodeSelector": selector,
        "tolerations": [TOLERATION],
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 1,
    }


def mount_pod(
    env: RealNodeEnv,
    namespace: str,
    name: str,
    reference: str,
    *,
    sub_path: str | None = None,
    command: list[str] | None = None,
    image: str | None = None,
    extra_volumes: list[dict[str, Any]] | None = None,
    extra_mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A run-once pod mounting `reference` as an image volume at /m (ls -laR by default)."""
    mount: dict[str, Any] = {"name": "m", "mountPath": "/m", "readOnly": True}
    if sub_path:
        mount["subPath"] = sub_path
    spec = on_real_node(
        {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": image or env.busybox,
                    "command": command or ["sh", "-c", f"ls -laR /m; echo {DONE}"],
                    "volumeMounts": [mount, *(extra_mounts or [])],
                }
            ],
            "volumes": [
                {"name": "m", "image": {"reference": reference, "pullPolicy": "IfNotPresent"}},
                *(extra_volumes or []),
            ],
        },
        env.node.name,
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def get_pod(env: RealNodeEnv, namespace: str, name: str) -> dict[str, Any]:
    out = env.cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json")
    return dict(json.loads(out.stdout))


def container_state(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0].get("state") or {})


def wait_terminated(
    env: RealNodeEnv, namespace: str, name: str, timeout: float = 180
) -> dict[str, Any]:
    """The container's terminated state, once it has one."""
    return dict(
        wait_for(
            f"{namespace}/{name} terminated",
            lambda: container_state(get_pod(env, namespace, name)).get("terminated"),
            timeout,
        )
    )


def wait_waiting_reason(
    env: RealNodeEnv, namespace: str, name: str, reason: str, timeout: float = 180
) -> dict[str, Any]:
    """The container's waiting state once its reason is `reason`."""

    def check() -> dict[str, Any] | None:
        waiting = container_state(get_pod(env, namespace, name)).get("waiting") or {}
        return waiting if waiting.get("reason") == reason else None

    return dict(wait_for(f"{namespace}/{name} waiting {reason}", check, timeout))


def wait_log(
    env: RealNodeEnv, namespace: str, pod: str, container: str, marker: str, timeout: float = 180
) -> str:
    """The container's log once it contains `marker`."""

    def check() -> str | None:
        text = env.node.container_log(namespace, pod, container)
        return text if marker in text else None

    return str(wait_for(f"{namespace}/{pod}/{container} log {marker!r}", check, timeout))


def listed_files(log: str) -> list[str]:
    """Names of regular files in an `ls -laR` listing (lines starting with '-')."""
    return sorted(line.split()[-1] for line in log.splitlines() if line.startswith("-"))
