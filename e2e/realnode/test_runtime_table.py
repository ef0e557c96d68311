"""docs/runtimes.md on real containerd 2.2: what an image volume of each artifact shows.

Bare pods (no operator, no webhook) mount our own artifacts as image volumes:
the native ModelPack with raw and with tar layers, and the OCI image derived from each
(`ensure_derived_image`, what the operator mounts on containerd), with and without a
subPath. Then the guards: `hold` refuses the empty native mount, and the webhook
refuses a workload whose model no node can mount.

Observed on containerd 2.2.9 (kubelet 1.35.4):

| artifact | no subPath | subPath "extra" |
|---|---|---|
| native ModelPack, raw layers | empty dir, container runs, no event | CreateContainerError (1) |
| native ModelPack, tar layers | empty dir, container runs, no event | CreateContainerError (1) |
| derived OCI image (from raw) | every file | the subtree's files |
| derived OCI image (from tar) | every file | the subtree's files |

(1) "failed to mount image volume: ... failed to ensure image subpath: no such file or
directory". In both native cases containerd still downloads every model layer into its
content store.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.models import make_model_dir, push_model
from e2e.operator_tests.helpers import apply, wait_for
from e2e.realnode.helpers import (
    DONE,
    RealNodeEnv,
    listed_files,
    mount_pod,
    wait_log,
    wait_terminated,
    wait_waiting_reason,
)
from e2e.realnode.test_model_mount import model_deployment
from modelprefetch.oci import ensure_derived_image, resolve
from modelprefetch.oci.client import RegistryClient

ALL_FILES = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]
SUBPATH = "extra"
SUBPATH_FILES = ["generation_config.json"]

pytestmark = pytest.mark.realnode


@dataclass
class Artifacts:
    namespace: str
    native: dict[str, str]  # "raw" | "tar" -> digest-pinned ModelPack reference
    derived: dict[str, str]  # "raw" | "tar" -> the derived OCI image reference
    layers: dict[str, list[str]]  # "raw" | "tar" -> the ModelPack's layer digests
    model_dir: Path


async def _derive(reference: str) -> tuple[str, list[str]]:
    async with RegistryClient(plain_http=True) as client:
        artifact = await resolve(client, reference)
        derived = await ensure_derived_image(client, artifact)
        return derived, [layer.digest for layer in artifact.layers]


@pytest.fixture(scope="module")
def artifacts(
    real_node: RealNodeEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Artifacts]:
    """The same small model pushed as raw and as tar ModelPacks, plus their derived images."""
    env = real_node
    namespace = f"rn-table-{uuid.uuid4().hex[:6]}"
    env.cluster.kubectl("create", "namespace", namespace)
    model = make_model_dir(tmp_path_factory.mktemp("table") / "m", seed=namespace)
    native, derived, layers = {}, {}, {}
    for kind in ("raw", "tar"):
        repo = f"{env.registries.crane.host}/models/table-{kind}-{namespace}"
        digest = push_model(model, f"{repo}:v1", raw=kind == "raw")
        native[kind] = f"{repo}@{digest}"
        derived[kind], layers[kind] = asyncio.run(_derive(native[kind]))
    try:
        yield Artifacts(namespace, native, derived, layers, model)
    finally:
        env.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _run(env: RealNodeEnv, art: Artifacts, reference: str, sub_path: str | None = None) -> str:
    name = f"p-{uuid.uuid4().hex[:6]}"
    pod = mount_pod(env, art.namespace, name, reference, sub_path=sub_path)
    env.cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    return name


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_native_modelpack_mounts_empty_dir_without_error(
    real_node: RealNodeEnv, artifacts: Artifacts, kind: str
) -> None:
    """A native ModelPack image volume is an empty directory and the container runs (exit 0)."""
    name = _run(real_node, artifacts, artifacts.native[kind])
    terminated = wait_terminated(real_node, artifacts.namespace, name)
    log = wait_log(real_node, artifacts.namespace, name, "c", DONE, 30)
    assert terminated["exitCode"] == 0
    assert listed_files(log) == []
    assert log.splitlines()[0] == "/m:"


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_native_modelpack_pull_downloads_every_layer(
    real_node: RealNodeEnv, artifacts: Artifacts, kind: str
) -> None:
    """Mounting the native ModelPack still downloads every model layer into containerd."""
    name = _run(real_node, artifacts, artifacts.native[kind])
    wait_terminated(real_node, artifacts.namespace, name)
    content = real_node.node.ctr("content", "ls", "-q").stdout.split()
    assert set(artifacts.layers[kind]) <= set(content)


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_native_modelpack_with_subpath_fails_container_creation(
    real_node: RealNodeEnv, artifacts: Artifacts, kind: str
) -> None:
    """A subPath into a native ModelPack fails: CreateContainerError, the path does not exist."""
    name = _run(real_node, artifacts, artifacts.native[kind], SUBPATH)
    waiting = wait_waiting_reason(real_node, artifacts.namespace, name, "CreateContainerError")
    assert "failed to ensure image subpath" in waiting["message"]
    assert "no such file or directory" in waiting["message"]


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_derived_image_mounts_every_file(
    real_node: RealNodeEnv, artifacts: Artifacts, kind: str
) -> None:
    """The derived OCI image mounts as the model's files, nested directories included."""
    name = _run(real_node, artifacts, artifacts.derived[kind])
    terminated = wait_terminated(real_node, artifacts.namespace, name)
    log = wait_log(real_node, artifacts.namespace, name, "c", DONE, 30)
    assert terminated["exitCode"] == 0
    assert listed_files(log) == ALL_FILES
    assert "/m/extra:" in log


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_derived_image_subpath_mounts_the_subtree(
    real_node: RealNodeEnv, artifacts: Artifacts, kind: str
) -> None:
    """subPath into the derived image mounts only that directory's files (containerd 2.2)."""
    name = _run(real_node, artifacts, artifacts.derived[kind], SUBPATH)
    terminated = wait_terminated(real_node, artifacts.namespace, name)
    log = wait_log(real_node, artifacts.namespace, name, "c", DONE, 30)
    assert terminated["exitCode"] == 0
    assert listed_files(log) == SUBPATH_FILES


def test_hold_refuses_the_empty_native_mount(real_node: RealNodeEnv, artifacts: Artifacts) -> None:
    """`modelprefetch hold` in the holder image exits 3 naming the empty mount."""
    env, namespace = real_node, artifacts.namespace
    expected = json.dumps([["config.json", 10], ["model.safetensors", 65536]])
    env.cluster.kubectl(
        "create", "configmap", "expected", "-n", namespace, f"--from-literal=files.json={expected}"
    )
    name = f"hold-{uuid.uuid4().hex[:6]}"
    pod = mount_pod(
        env,
        namespace,
        name,
        artifacts.native["tar"],
        image=env.holder,
        command=[
            "modelprefetch",
            "hold",
            "--model-dir",
            "/m",
            "--expected-files",
            "/etc/expected/files.json",
            "--status-file",
            "/tmp/status.json",
        ],
        extra_volumes=[{"name": "expected", "configMap": {"name": "expected"}}],
        extra_mounts=[{"name": "expected", "mountPath": "/etc/expected"}],
    )
    pod["spec"]["securityContext"] = {"runAsUser": 65532, "runAsNonRoot": True}
    env.cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    terminated = wait_terminated(env, namespace, name)
    assert terminated["exitCode"] == 3
    assert "is empty" in terminated.get("message", "")


def test_workload_is_refused_when_no_node_can_mount_the_model(
    real_node: RealNodeEnv, artifacts: Artifacts
) -> None:
    """With derivation off, a raw ModelPack on containerd is NotMountable: the pod is denied."""
    env, namespace = real_node, artifacts.namespace
    # A model of its own: the fixture's ModelPacks already have derived images, which
    # the operator uses even with derivation off.
    model = make_model_dir(artifacts.model_dir.parent / "nomount", seed=f"nomount-{namespace}")
    reference = f"{env.registries.crane.host}/models/nomount-{namespace}:v1"
    push_model(model, reference, raw=True)
    md = model_deployment("nomount", namespace, reference)
    md["spec"]["model"]["allowDerivation"] = False
    apply(env.cluster, md)
    pod = mount_pod(env, namespace, "refused", env.busybox)  # any pod; the label opts it in
    pod["spec"]["volumes"] = []
    pod["spec"]["containers"][0]["volumeMounts"] = []
    pod["metadata"]["labels"] = {"modelprefetch.io/model": "nomount"}

    seen: list[str] = []

    def denial() -> str | None:
        result = env.cluster.kubectl(
            "create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
        )
        seen.append(result.stderr + result.stdout)
        return result.stderr if "NotMountable" in result.stderr else None

    try:
        message = wait_for("pod denied as NotMountable", denial, 120)
    except AssertionError as exc:
        md_status = env.cluster.kubectl("get", "md", "nomount", "-n", namespace, "-o", "json")
        raise AssertionError(f"{exc}\nlast answer: {seen[-1:]}\nmd: {md_status.stdout}") from None
    assert "denied" in message
