"""`hold`'s per-file sha256 check on a real node (containerd + kubelet), verification on.

The derived OCI image is unsigned: the operator trusts it only by what it can prove
(verify/derived.py). Its tar layers must be the verified blobs; a raw ModelPack layer is
re-wrapped in a one-file tar, a new blob whose SIZE is all the operator can check without
downloading the model. A derived image built from a tampered copy of the model (same
paths, sizes and modes, one byte changed) passes that proof, and only `hold` reading
every mounted file on the node can catch it. So:

* tampered: a cosign-signed raw ModelPack, and an attacker-published derived image (an
  OCI 1.1 referrer of the signed digest, made by the operator's own derivation code from
  a tampered copy pushed to the same repository) -> Verified (signature and size proof
  pass), the holder pod pulls the tampered image and fails with exit 3 and the reason
  (which file, "sha256 differs from the verified ..."), the node is VerificationFailed in
  status.failedNodes, never Ready and never labelled warm (workload pods do not select it);
* honest: the same kind of signed model without a pre-published image -> the operator
  derives it, the holder hashes every file and the node turns Ready.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.realnode import LABEL_KEY, TOLERATION
from e2e.cosign import Cosign, KeyPair
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import apply, condition, get_md, node_labels, wait_for, wait_ready
from e2e.realnode.helpers import RealNodeEnv, wait_log
from e2e.webhook.workloads import wait_ca_bundles
from modelprefetch.oci import ensure_derived_image, resolve
from modelprefetch.oci.client import RegistryClient

MiB = 1024 * 1024
HOLDER = "app.kubernetes.io/component=prefetch-holder"
WARM = "warm.modelprefetch.io/"
WEIGHTS = "model.safetensors"

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1200)]


@pytest.fixture
def hold_namespace(real_node: RealNodeEnv, operator: OperatorProcess) -> Iterator[str]:
    name = f"rn-hold-{uuid.uuid4().hex[:6]}"
    real_node.cluster.kubectl("create", "namespace", name)
    wait_ca_bundles(real_node.cluster)
    try:
        yield name
    finally:
        real_node.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _md(name: str, namespace: str, reference: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelprefetch.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {
                "reference": reference,
                "verify": {"publicKeys": [{"configMapName": "signers"}]},
            },
            "nodes": {"nodeSelector": {LABEL_KEY: "true"}, "tolerations": [TOLERATION]},
            "mount": {"path": f"/models/{name}"},
        },
    }


def _signers(namespace: str, keys: KeyPair) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "signers", "namespace": namespace},
        "data": {"cosign.pub": keys.public_pem},
    }


async def _publish_tampered_image(signed_ref: str, tampered_ref: str) -> str:
    """A derived image of the tampered copy, published as a referrer of the SIGNED digest:
    the operator's own derivation run on the copy's layers with the signed subject."""
    async with RegistryClient(plain_http=True) as client:
        signed = await resolve(client, signed_ref)
        copy = await resolve(client, tampered_ref)
        disguised = replace(
            copy,
            digest=signed.digest,
            pinned_reference=signed.pinned_reference,
            media_type=signed.media_type,
            manifest_size=signed.manifest_size,
            derived_image=None,
        )
        return await ensure_derived_image(client, disguised)


def _tampered_copy(source: Path, target: Path) -> Path:
    """The same tree with one byte of the weights flipped: same paths, sizes and modes."""
    copy = make_model_dir(target, seed=source.name, weight_bytes=1 * MiB)
    for path in source.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(source)).write_bytes(path.read_bytes())
    weights = bytearray((copy / WEIGHTS).read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (copy / WEIGHTS).write_bytes(bytes(weights))
    return copy


def _holders(env: RealNodeEnv, namespace: str, md: str) -> list[dict[str, Any]]:
    selector = f"{HOLDER},modelprefetch.io/modeldeployment={md}"
    out = env.cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def _warm_keys(env: RealNodeEnv) -> set[str]:
    return {k for k in node_labels(env.cluster, env.node.name) if k.startswith(WARM)}


def _terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = status.get("lastState", {}).get("terminated") or status["state"].get("terminated")
        if state:
            return dict(state)
    return None


def test_tampered_derived_image_fails_hold_honest_copy_turns_ready(
    real_node: RealNodeEnv, hold_namespace: str, tmp_path: Path
) -> None:
    env, namespace, host = real_node, hold_namespace, real_node.registries.crane.host
    started = time.monotonic()
    cosign = Cosign(tmp_path / "cosign")
    keys = cosign.generate_key_pair("trusted")
    apply(env.cluster, _signers(namespace, keys))

    # The model as its publisher signed it, and a tampered copy in the same repository.
    repo = f"{host}/models/hold-{namespace}"
    source = make_model_dir(tmp_path / "model", seed=namespace, weight_bytes=1 * MiB)
    digest = push_model(source, f"{repo}:v1", raw=True)
    cosign.sign(keys, f"{repo}@{digest}", referrer=True)
    copy_digest = push_model(_tampered_copy(source, tmp_path / "copy"), f"{repo}:copy", raw=True)
    assert copy_digest != digest
    tampered_image = asyncio.run(_publish_tampered_image(f"{repo}:v1", f"{repo}:copy"))

    warm_before = _warm_keys(env)
    apply(env.cluster, _md("tampered", namespace, f"{repo}:v1"))

    seen: dict[str, dict[str, Any]] = {}  # holder pod -> its volume and terminated state

    def failed() -> dict[str, Any] | None:
        for holder in _holders(env, namespace, "tampered"):
            entry = seen.setdefault(holder["metadata"]["name"], {})
            entry["volume"] = holder["spec"]["volumes"][0]["image"]["reference"]
            entry["terminated"] = _terminated(holder) or entry.get("terminated")
        status = get_md(env.cluster, namespace, "tampered").get("status") or {}
        entries = [f for f in status.get("failedNodes") or [] if f["name"] == env.node.name]
        return entries[0] if entries and entries[0]["reason"] == "VerificationFailed" else None

    failure = wait_for("the node failed by hold's sha256 check", failed, 300)
    # The operator may have read the holder's exit before this test did: read on a little
    # (a retired holder keeps its last state while it terminates).
    wait_for(
        "the holder's terminated state",
        lambda: failed() and any(e.get("terminated") for e in seen.values()),
        60,
    )
    message = failure["message"]
    assert f"{WEIGHTS} (sha256 differs from the verified sha256:" in message, message
    assert "1 files are not the verified content" in message, message
    md = get_md(env.cluster, namespace, "tampered")
    verified = condition(md, "Verified")
    # The signature and the size proof pass: only the node's hash check can tell.
    assert verified["status"] == "True", verified
    assert md["status"]["resolved"]["mounts"][0]["reference"] == tampered_image
    assert md["status"]["nodes"]["ready"] == 0, md["status"]["nodes"]
    assert condition(md, "Ready").get("status") != "True"
    # The holder pulled the tampered image and `hold` exited 3 with the reason.
    assert seen and all(e["volume"] == tampered_image for e in seen.values()), seen
    terminated = [e["terminated"] for e in seen.values() if e.get("terminated")]
    assert terminated and terminated[0]["exitCode"] == 3, seen
    assert "sha256 differs from the verified" in terminated[0].get("message", ""), seen
    assert _warm_keys(env) == warm_before  # workload pods never select the node for it
    tampered_seconds = time.monotonic() - started

    # The honest model: no derived image yet, the operator derives it, hold checks it.
    honest_repo = f"{host}/models/hold-ok-{namespace}"
    honest = make_model_dir(tmp_path / "honest", seed=namespace + "ok", weight_bytes=1 * MiB)
    honest_digest = push_model(honest, f"{honest_repo}:v1", raw=True)
    cosign.sign(keys, f"{honest_repo}@{honest_digest}", referrer=True)
    apply(env.cluster, _md("honest", namespace, f"{honest_repo}:v1"))
    ready = wait_ready(env.cluster, namespace, "honest", "1/1", timeout=300)
    assert condition(ready, "Verified")["status"] == "True"
    (holder_pod,) = _holders(env, namespace, "honest")
    log = wait_log(env, namespace, holder_pod["metadata"]["name"], "holder", "verified", 60)
    files = [p for p in honest.rglob("*") if p.is_file()]
    assert f"verified: {len(files)} files" in log, log
    annotations = holder_pod["metadata"].get("annotations") or {}
    expected = json.loads(next(v for k, v in annotations.items() if "expected-files" in k))
    assert len(expected) == len(files) and all(e[2].startswith("sha256:") for e in expected)
    print(
        f"\nhold sha256 check on {env.node.name}: tampered -> {failure['reason']}: {message}"
        f" ({tampered_seconds:.1f}s); honest -> Ready 1/1"
        f" ({time.monotonic() - started - tampered_seconds:.1f}s)"
    )
