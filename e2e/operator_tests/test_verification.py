"""spec.model.verify against the real API server, the running operator and its webhook,
with signatures made by the real cosign CLI (keys generated in the test):

* signed (OCI 1.1 referrer on the crane registry) -> Verified -> prefetched, pods
  admitted; the derived image's proof in the Verified message, the verified file
  digests in the holder's expected-files list; then the tag moves to an unsigned digest
  -> SignatureMissing, nothing new rolled out, pods denied;
* unsigned, and signed with another key (cosign's `.sig` tag on distribution, which has
  no referrers API) -> not pulled anywhere (no DaemonSet, no node label), pods denied
  naming the model and the reason;
* the cluster-wide policy: no spec.model.verify -> VerificationRequired, nothing pulled.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cosign import Cosign
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    condition,
    delete_nodes,
    get_md,
    make_pool,
    model_deployment,
    node_labels,
    wait_ready,
    wait_reason,
)
from e2e.webhook.workloads import MODEL_LABEL, create, pod, wait_ca_bundles

DENIED = 'admission webhook "pods.modelprefetch.io" denied the request'


def _keys_configmap(namespace: str, name: str, pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"cosign.pub": pem},
    }


def _keys_secret(namespace: str, name: str, pem: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"cosign.pub": pem},
    }


def _daemonsets(cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "ds", "-n", namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def _our_labels(cluster: LocalCluster, node: str) -> dict[str, str]:
    return {k: v for k, v in node_labels(cluster, node).items() if "modelprefetch.io/" in k}


def _pod_answer(cluster: LocalCluster, namespace: str, model: str) -> tuple[bool, str]:
    result = create(cluster, pod(namespace, {MODEL_LABEL: model}), check=False)
    return result.returncode == 0, str(result.stderr)


def test_signed_model_is_verified_prefetched_and_a_moved_tag_is_stopped(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    trusted = cosign.generate_key_pair("trusted")
    repo = f"{registries.crane.host}/models/signed-{unique}"
    digest = push_model(make_model_dir(tmp_path / "m1", seed=unique), f"{repo}:v1", raw=True)
    cosign.sign(trusted, f"{repo}@{digest}", referrer=True)
    nodes = [f"ver-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, f"ver-{unique}")
    wait_ca_bundles(cluster)
    try:
        apply(cluster, _keys_configmap(namespace, "signers", trusted.public_pem))
        md = model_deployment(
            "signed",
            namespace,
            f"{repo}:v1",
            f"ver-{unique}",
            model={
                "verify": {"publicKeys": [{"configMapName": "signers"}]},
                "refreshInterval": "30s",
            },
        )
        apply(cluster, md)
        ready = wait_ready(cluster, namespace, "signed", "2/2", timeout=180)
        verified = condition(ready, "Verified")
        assert verified["status"] == "True" and verified["reason"] == "Verified"
        assert f"{digest} is signed: cosign signature in referrer sha256:" in verified["message"]
        # containerd nodes mount the derived image: its proof is in the status
        assert (
            "raw files re-wrapped (exact tar sizes; hold checks each file's sha256"
            in (verified["message"])
        )
        (daemonset,) = _daemonsets(cluster, namespace)
        annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
        expected = json.loads(next(v for k, v in annotations.items() if "expected-files" in k))
        assert expected and all(len(e) == 3 and e[2].startswith("sha256:") for e in expected)
        admitted, _ = _pod_answer(cluster, namespace, "signed")
        assert admitted
        print(f"\nsigned -> Verified=True: {verified['message']}")

        # tampered: the tag now points at an unsigned digest
        moved = push_model(
            make_model_dir(tmp_path / "m2", seed=unique + "x"), f"{repo}:v1", raw=True
        )
        cond = wait_reason(
            cluster, namespace, "signed", "Verified", "SignatureMissing", timeout=120
        )
        assert moved in cond["message"]
        status = get_md(cluster, namespace, "signed")
        assert condition(status, "Ready")["reason"] == "SignatureMissing"
        remaining = _daemonsets(cluster, namespace)
        assert [d["metadata"]["name"] for d in remaining] == [daemonset["metadata"]["name"]]
        assert all(moved[7:19] not in json.dumps(_our_labels(cluster, n)) for n in nodes)
        admitted, stderr = _pod_answer(cluster, namespace, "signed")
        assert not admitted and DENIED in stderr
        assert f"ModelDeployment {namespace}/signed: NotVerified: SignatureMissing" in stderr
        print(f"\nmoved tag -> Verified=False {cond['reason']}: {cond['message']}")
        print(f"pod denied: {stderr.strip()}")
    finally:
        delete_nodes(cluster, nodes)


def test_unsigned_and_wrong_key_models_are_pulled_nowhere_and_pods_denied(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    trusted = cosign.generate_key_pair("trusted")
    other = cosign.generate_key_pair("other")
    repo = f"{registries.distribution.host}/models/unverified-{unique}"
    unsigned = push_model(make_model_dir(tmp_path / "u", seed=unique + "u"), f"{repo}:unsigned")
    wrong = push_model(make_model_dir(tmp_path / "w", seed=unique + "w"), f"{repo}:wrong-key")
    cosign.sign(other, f"{repo}@{wrong}")  # cosign's default: the sha256-<hex>.sig tag
    pool = f"unv-{unique}"
    nodes = [f"unv-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, pool)
    wait_ca_bundles(cluster)
    verify = {"verify": {"publicKeys": [{"secretName": "signers"}]}}
    cases = {
        "unsigned": ("unsigned", "SignatureMissing"),
        "wrong-key": ("wrong-key", "UntrustedSigner"),
    }
    try:
        apply(cluster, _keys_secret(namespace, "signers", trusted.public_pem))
        for name, (tag, _) in cases.items():
            apply(cluster, model_deployment(name, namespace, f"{repo}:{tag}", pool, model=verify))
        for name, (_, reason) in cases.items():
            cond = wait_reason(cluster, namespace, name, "Verified", reason, timeout=120)
            assert cond["status"] == "False"
            print(f"\n{name}: Verified=False {cond['reason']}: {cond['message']}")
        assert unsigned in condition(get_md(cluster, namespace, "unsigned"), "Verified")["message"]
        assert (
            "none made with a configured key"
            in (condition(get_md(cluster, namespace, "wrong-key"), "Verified")["message"])
        )
        for name, (_, reason) in cases.items():
            admitted, stderr = _pod_answer(cluster, namespace, name)
            assert not admitted and DENIED in stderr
            assert f"ModelDeployment {namespace}/{name}: NotVerified: {reason}" in stderr
            print(f"{name} pod denied: {stderr.strip()}")
        time.sleep(5)  # more reconcile passes (retries on back-off): still nothing anywhere
        for name in cases:
            md = get_md(cluster, namespace, name)
            assert condition(md, "Ready")["status"] == "False"
            assert not (md.get("status") or {}).get("resolved")
        assert _daemonsets(cluster, namespace) == []
        assert all(_our_labels(cluster, n) == {} for n in nodes)
    finally:
        delete_nodes(cluster, nodes)


def test_cluster_policy_requires_verification(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """With the chart's verification.required (MODELPREFETCH_REQUIRE_VERIFICATION), a
    ModelDeployment without spec.model.verify is pulled nowhere and its pods are denied;
    adding the key to the spec verifies the (signed) model and it is prefetched."""
    cosign = Cosign(tmp_path / "cosign")
    trusted = cosign.generate_key_pair("trusted")
    repo = f"{registries.distribution.host}/models/policy-{unique}"
    digest = push_model(make_model_dir(tmp_path / "p", seed=unique + "p"), f"{repo}:v1")
    cosign.sign(trusted, f"{repo}@{digest}")
    pool = f"pol-{unique}"
    nodes = [f"pol-{unique}-0"]
    make_pool(cluster, nodes, pool)
    logdir = operator.logdir / f"operator-policy-{unique}"
    logdir.mkdir()
    env = {"MODELPREFETCH_POD_NAME": "e2e-policy", "MODELPREFETCH_REQUIRE_VERIFICATION": "true"}
    strict = replace(operator, logdir=logdir, proc=None, extra_env={**operator.extra_env, **env})
    operator.stop()  # SIGTERM releases the Lease: the strict process leads at once
    try:
        strict.start()
        wait_ca_bundles(cluster)
        apply(cluster, _keys_configmap(namespace, "signers", trusted.public_pem))
        apply(cluster, model_deployment("policy", namespace, f"{repo}:v1", pool))
        cond = wait_reason(cluster, namespace, "policy", "Verified", "VerificationRequired")
        print(f"\nno spec.model.verify -> Verified=False {cond['reason']}: {cond['message']}")
        admitted, stderr = _pod_answer(cluster, namespace, "policy")
        assert not admitted and "NotVerified: VerificationRequired" in stderr
        assert _daemonsets(cluster, namespace) == []
        assert _our_labels(cluster, nodes[0]) == {}

        model = {"verify": {"publicKeys": [{"configMapName": "signers"}]}}
        apply(cluster, model_deployment("policy", namespace, f"{repo}:v1", pool, model=model))
        ready = wait_ready(cluster, namespace, "policy", "1/1", timeout=180)
        verified = condition(ready, "Verified")
        assert verified["status"] == "True"
        assert f"tag sha256-{digest[7:]}.sig" in verified["message"]
        assert strict.forbidden_lines() == []
    finally:
        strict.stop()
        operator.start()
        delete_nodes(cluster, nodes)
