"""The runtime table, observed: what an image volume of each artifact kind shows on the
session's real node (containerd 2.2.9 by default) and, in `make test`, on one more node
per CI runtime (containerd 2.1.9, CRI-O 1.35.2: e2e/realnode/runtimes.py). With
MODELPREFETCH_NODE_RUNTIME set (`make matrix`) only the session's node, of that runtime.

Bare pods (no operator, no webhook) mount our own artifacts as image volumes: the native
ModelPack with raw layers (named the three ways producers do: ours, modctl main, modctl
v0.2.2, and with a base-name title) and with tar layers, with and without a subPath, and
the OCI image derived from each (`ensure_derived_image`). Each container lists the mount
(`ls -laR`: names, nesting, sizes, modes); the listing is classified into one word
(e2e/realnode/observe.py), written to .tmp/observations/ and compared with the committed
facts (operator/modelprefetch/oci/compatibility.json, the table in
docs/compatibility.md), which the operator's mount decision reads. A difference fails the
test; `python hack/compatibility.py update` adopts the observation. Then the guards: `hold`
refuses the native tar mount, the webhook a workload whose model no node can mount.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.cluster.nodes import RealNodes
from e2e.models import make_model_dir, push_model
from e2e.operator_tests.helpers import apply, wait_for
from e2e.realnode.helpers import (
    DONE,
    RealNodeEnv,
    container_state,
    get_pod,
    mount_pod,
    wait_log,
    wait_terminated,
)
from e2e.realnode.observe import Observations, classify
from e2e.realnode.runtimes import node_env, runtime_params
from e2e.realnode.test_model_mount import model_deployment
from modelprefetch.oci import ensure_derived_image, mediatypes, parse_reference, resolve
from modelprefetch.oci.client import RegistryClient

SUBPATH = "extra"
# The raw ModelPack's layers renamed the ways producers name them: case -> the naming
# annotations every layer keeps (the title replaced by the base name where asked).
RAW_NAMINGS = {
    "modelpack-raw-cncf": (mediatypes.ANNOTATION_FILEPATH,),
    "modelpack-raw-cnai": (mediatypes.LEGACY_ANNOTATION_FILEPATH,),
    "modelpack-raw-cncf-title-other": (mediatypes.ANNOTATION_FILEPATH, "base-name-title"),
}

pytestmark = pytest.mark.realnode
RUNTIMES = runtime_params()


@pytest.fixture(scope="module", params=RUNTIMES["params"], ids=RUNTIMES["ids"])
def table_node(
    request: pytest.FixtureRequest, real_node: RealNodeEnv, real_nodes: RealNodes
) -> Iterator[RealNodeEnv]:
    """The node whose runtime this pass observes (e2e/realnode/runtimes.py)."""
    with node_env(real_node, real_nodes, request.param) as env:
        yield env


@dataclass
class Artifacts:
    namespace: str
    native: dict[str, str]  # "raw" | "tar" | RAW_NAMINGS case -> pinned ModelPack reference
    derived: dict[str, str]  # "raw" | "tar" -> the derived OCI image reference
    layers: dict[str, list[str]]  # "raw" | "tar" -> the ModelPack's layer digests
    model_dir: Path
    expected: dict[str, int]  # the model's files: relative path -> size


async def _renamed(reference: str, case: str) -> str:
    """The raw ModelPack at `reference` re-pushed with its layers named as in `case`."""
    ref = parse_reference(reference)
    async with RegistryClient(plain_http=True) as client:
        fetched = await client.get_manifest(ref)
        manifest = json.loads(fetched.data)
        for layer in manifest["layers"]:
            path = layer["annotations"][mediatypes.ANNOTATION_FILEPATH]
            names = {}
            for key in RAW_NAMINGS[case]:
                if key == "base-name-title":
                    names[mediatypes.ANNOTATION_TITLE] = path.rsplit("/", 1)[-1]
                else:
                    names[key] = path
            keep = {
                k: v
                for k, v in layer["annotations"].items()
                if k not in mediatypes.FILEPATH_ANNOTATIONS
            }
            layer["annotations"] = {**keep, **names}
        data = json.dumps(manifest).encode()
        digest = await client.put_manifest(ref, data, fetched.media_type, case)
    return f"{reference.split('@')[0]}@{digest}"


async def _derive(reference: str) -> tuple[str, list[str]]:
    async with RegistryClient(plain_http=True) as client:
        artifact = await resolve(client, reference)
        derived = await ensure_derived_image(client, artifact)
        return derived, [layer.digest for layer in artifact.layers]


@pytest.fixture(scope="module")
def artifacts(
    table_node: RealNodeEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Artifacts]:
    """The same small model pushed as raw and as tar ModelPacks, plus their derived images."""
    env = table_node
    namespace = f"rn-table-{uuid.uuid4().hex[:6]}"
    env.cluster.kubectl("create", "namespace", namespace)
    model = make_model_dir(tmp_path_factory.mktemp("table") / "m", seed=namespace)
    native, derived, layers = {}, {}, {}
    for kind in ("raw", "tar"):
        repo = f"{env.registries.crane.host}/models/table-{kind}-{namespace}"
        digest = push_model(model, f"{repo}:v1", raw=kind == "raw")
        native[kind] = f"{repo}@{digest}"
        derived[kind], layers[kind] = asyncio.run(_derive(native[kind]))
    for case in RAW_NAMINGS:
        native[case] = asyncio.run(_renamed(native["raw"], case))
    expected = {
        str(p.relative_to(model)): p.stat().st_size for p in model.rglob("*") if p.is_file()
    }
    try:
        yield Artifacts(namespace, native, derived, layers, model, expected)
    finally:
        env.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def observations(table_node: RealNodeEnv) -> Observations:
    """What this module sees on the node's runtime, checked against the committed facts."""
    out = table_node.cluster.kubectl("get", "node", table_node.node.name, "-o", "json")
    info = json.loads(out.stdout)["status"]["nodeInfo"]
    name, _, version = info["containerRuntimeVersion"].partition("://")
    return Observations(name, version.lstrip("v"), info["kubeletVersion"])


def _run(env: RealNodeEnv, art: Artifacts, reference: str, sub_path: str | None = None) -> str:
    name = f"p-{uuid.uuid4().hex[:6]}"
    pod = mount_pod(env, art.namespace, name, reference, sub_path=sub_path)
    env.cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    return name


def _observe(env: RealNodeEnv, art: Artifacts, reference: str, sub_path: str | None) -> str:
    """Mount `reference` in a pod that lists it; the OUTCOMES word for what it saw."""
    name = _run(env, art, reference, sub_path)

    def settled() -> str | None:
        state = container_state(get_pod(env, art.namespace, name))
        if (state.get("waiting") or {}).get("reason") == "CreateContainerError":
            return "create-error"
        return "terminated" if "terminated" in state else None

    if wait_for(f"{art.namespace}/{name} settled", settled, 180) == "create-error":
        return "create-error"
    log = wait_log(env, art.namespace, name, "c", DONE, 30)
    return classify(log, art.expected, sub_path)


NATIVE_CASES = ["modelpack-raw", "modelpack-tar", *RAW_NAMINGS]


@pytest.mark.parametrize("case", NATIVE_CASES)
def test_native_modelpack(
    table_node: RealNodeEnv, artifacts: Artifacts, observations: Observations, case: str
) -> None:
    """A native ModelPack image volume shows what the committed facts say for this runtime."""
    key = {"modelpack-raw": "raw", "modelpack-tar": "tar"}.get(case, case)
    observations.check(case, _observe(table_node, artifacts, artifacts.native[key], None))


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_native_modelpack_with_subpath(
    table_node: RealNodeEnv, artifacts: Artifacts, observations: Observations, kind: str
) -> None:
    """A subPath into a native ModelPack (containerd 2.2: CreateContainerError)."""
    outcome = _observe(table_node, artifacts, artifacts.native[kind], SUBPATH)
    observations.check(f"modelpack-{kind}+subpath", outcome)


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_native_modelpack_pull_downloads_every_layer(
    table_node: RealNodeEnv, artifacts: Artifacts, kind: str
) -> None:
    """Mounting the native ModelPack downloads every model layer (containerd's content
    store, CRI-O's artifact store), whatever the container then sees."""
    name = _run(table_node, artifacts, artifacts.native[kind])
    wait_terminated(table_node, artifacts.namespace, name)
    assert set(artifacts.layers[kind]) <= table_node.node.pulled_blobs()


@pytest.mark.parametrize("kind", ["raw", "tar"])
def test_derived_image(
    table_node: RealNodeEnv, artifacts: Artifacts, observations: Observations, kind: str
) -> None:
    """The derived OCI image: every file under its path, nested directories, modes 0644."""
    outcome = _observe(table_node, artifacts, artifacts.derived[kind], None)
    observations.check(f"derived-{kind}", outcome)


def test_derived_image_with_subpath(
    table_node: RealNodeEnv, artifacts: Artifacts, observations: Observations
) -> None:
    """subPath into the derived image (containerd 2.2: only that directory's files)."""
    outcome = _observe(table_node, artifacts, artifacts.derived["raw"], SUBPATH)
    observations.check("derived+subpath", outcome)


def test_hold_on_the_empty_native_mount(
    table_node: RealNodeEnv, artifacts: Artifacts, observations: Observations
) -> None:
    """`modelprefetch hold` on the native tar ModelPack exits 3: containerd mounts an
    empty directory ("is empty"), CRI-O the tar archives (files of the wrong size)."""
    env, namespace = table_node, artifacts.namespace
    expected = json.dumps(sorted([path, size] for path, size in artifacts.expected.items()))
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
    message = terminated.get("message", "")
    if terminated["exitCode"] == 3 and "is empty" in message:
        outcome = "refused"
    elif terminated["exitCode"] == 3 and ("wrong size" in message or "missing" in message):
        outcome = "refused-wrong-files"
    else:
        outcome = "accepted" if terminated["exitCode"] == 0 else "other"
    observations.check("hold-on-empty-mount", outcome)


def test_workload_is_refused_when_no_node_can_mount_the_model(
    table_node: RealNodeEnv, artifacts: Artifacts
) -> None:
    """With derivation off, a tar ModelPack is NotMountable (containerd: empty, CRI-O: tar
    archives): the pod is denied."""
    env, namespace = table_node, artifacts.namespace
    # A model of its own: the fixture's ModelPacks already have derived images, which
    # the operator uses even with derivation off.
    model = make_model_dir(artifacts.model_dir.parent / "nomount", seed=f"nomount-{namespace}")
    reference = f"{env.registries.crane.host}/models/nomount-{namespace}:v1"
    push_model(model, reference, raw=False)
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


def test_committed_facts_are_exactly_what_was_observed(observations: Observations) -> None:
    """Last (run the whole module): this runtime's committed row holds every case seen
    here and nothing unseen (tests/test_compatibility_table.py checks the table)."""
    row = observations.committed()
    assert row is not None, f"no committed facts for {observations.runtime} {observations.version}"
    assert row.cases == observations.cases
