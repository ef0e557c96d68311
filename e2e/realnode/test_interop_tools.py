"""Artifacts of today's model tools, mounted on a real node (docs/interop.md).

For each producer (e2e/interop/producers.py) one small model (nested paths, several
files) is written to the session registry, targeted at the real node by a ModelDeployment,
and then either mounted in a pod that checksums every file, or, for a format we do not
support, refused with a clear Resolved=False condition and no holder pod. Each row seen
is compared with the committed e2e/interop/interop.json, from which docs/interop.md is
rendered (tests/test_interop_doc.py), so the table cannot drift from what runs.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.oci.modeldir import make_model_dir

from e2e.interop.producers import PRODUCERS, Producer
from e2e.interop.table import load_rows
from e2e.oci.helpers import client_for
from e2e.operator_tests.helpers import apply, condition, get_md, wait_for, wait_ready
from e2e.realnode.helpers import (
    CHECKSUM_SCRIPT,
    DONE,
    RealNodeEnv,
    checksums,
    mount_pod,
    parse_checksums,
    wait_log,
)
from e2e.realnode.test_model_mount import model_deployment
from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.oci.resolve import resolve

pytestmark = pytest.mark.realnode


def interop_model(root: Path, producer: Producer) -> Path:
    """The model a producer packs: a Hugging Face-like tree, or one GGUF for Ollama."""
    if producer.tool == "Ollama":
        root.mkdir(parents=True)
        (root / "model.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + uuid.uuid4().bytes * 2048)
        return root
    model = make_model_dir(root)
    deep = model / "docs" / "deep"
    deep.mkdir(parents=True)
    (deep / "USAGE.md").write_text(f"# {producer.id}\n")
    return model


@pytest.fixture(scope="module")
def namespace(real_node: RealNodeEnv) -> Iterator[str]:
    name = f"rn-interop-{uuid.uuid4().hex[:6]}"
    real_node.cluster.kubectl("create", "namespace", name)
    yield name
    real_node.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _observe_mounted(env: RealNodeEnv, namespace: str, name: str, model: Path) -> dict[str, Any]:
    md = wait_ready(env.cluster, namespace, name, "1/1", timeout=300)
    resolved = md["status"]["resolved"]
    reference = resolved["mounts"][0]["reference"]
    pod = mount_pod(
        env,
        namespace,
        f"{name}-reader",
        reference,
        command=["sh", "-c", CHECKSUM_SCRIPT, "sh", "/m"],
    )
    apply(env.cluster, pod)
    log = wait_log(env, namespace, f"{name}-reader", "c", DONE, 180)
    seen, expected = parse_checksums(log), checksums(model)
    assert seen == expected, f"{name}: mounted files differ\nseen {seen}\nexpected {expected}"
    return {
        "kind": resolved["kind"],
        "format": resolved.get("format"),
        "formatSource": resolved.get("formatSource"),
        "mounted": "derived image" if resolved["digest"] not in reference else "as published",
        "files": f"{len(seen)} files, sha256 equal",
    }


def _resolved_shape(env: RealNodeEnv, reference: str) -> dict[str, Any]:
    """What `resolve` (the operator's call) makes of the artifact."""

    async def run() -> ResolvedArtifact:
        async with client_for(env.registries.crane) as client:
            return await resolve(client, reference)

    artifact = asyncio.run(run())
    return {"generation": artifact.generation, "layerFormat": str(artifact.layer_format)}


def _observe_refused(env: RealNodeEnv, namespace: str, name: str) -> dict[str, Any]:
    def refused() -> dict[str, Any] | None:
        cond = condition(get_md(env.cluster, namespace, name), "Resolved")
        return cond if cond.get("status") == "False" else None

    cond = wait_for(f"{name} Resolved=False", refused, 120)
    selector = f"app.kubernetes.io/instance={name}"
    out = env.cluster.kubectl(
        "get", "daemonsets,pods", "-n", namespace, "-l", selector, "-o", "json"
    )
    holders = json.loads(out.stdout)["items"]
    assert not holders, f"{name}: a holder was created for a refused artifact: {holders}"
    return {"refused": cond["reason"], "message": cond["message"]}


@pytest.mark.parametrize("producer", PRODUCERS, ids=[p.id for p in PRODUCERS])
def test_tool_artifact_on_real_node(
    producer: Producer,
    real_node: RealNodeEnv,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The tool's artifact resolves, is made mountable and every file reads back; or it
    is refused with a clear condition, as the committed table says."""
    expected = load_rows()[producer.id]
    model = interop_model(tmp_path / "model", producer)
    reference = f"{real_node.registries.crane.host}/interop/{producer.id}:v1"
    producer.produce(model, reference, tmp_path)
    name = producer.id.replace(".", "-")
    apply(real_node.cluster, model_deployment(name, namespace, reference))
    if expected.get("refused"):
        observed = _observe_refused(real_node, namespace, name)
        assert observed["refused"] == expected["refused"]
        assert expected["messageContains"] in observed["message"], observed
        return
    observed = {
        **_resolved_shape(real_node, reference),
        **_observe_mounted(real_node, namespace, name, model),
    }
    wanted = {key: expected.get(key) for key in observed}
    assert observed == wanted, f"{producer.id}: observed {observed}, interop.json says {wanted}"
