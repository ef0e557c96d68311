"""cosign's new bundle format (`cosign sign --new-bundle-format`: a sigstore bundle as an
OCI 1.1 referrer) against the real API server, the running operator and its webhook,
signed by the real cosign CLI (build.sh's pinned version) on the local registries:

* key-based bundle (crane registry; no referrers API, so cosign writes the sha256-<hex>
  tag-schema index) -> Verified=True naming the bundle referrer -> prefetched, pods
  admitted; a bundle by another key -> UntrustedSigner, pulled nowhere, pods denied with
  the key policy's fix;
* keyless bundle (a local CA's certificate, a local TSA's RFC 3161 timestamp, the
  certificate expired before the operator looks) on distribution -> Verified=True
  offline against the trusted root.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cosign import Cosign
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    condition,
    delete_nodes,
    make_pool,
    model_deployment,
    wait_ready,
    wait_reason,
)
from e2e.operator_tests.test_verification import (
    DENIED,
    _daemonsets,
    _keys_configmap,
    _our_labels,
    _pod_answer,
)
from e2e.operator_tests.test_verification_keyless import (
    IDENTITY,
    ISSUER,
    _keyless,
    _root_configmap,
    _sign,
)
from e2e.sigstore_ca import LocalCA, trusted_root_json
from e2e.tsa import timestamp_authority
from e2e.webhook.workloads import wait_ca_bundles

KEY_POLICY = {"verify": {"publicKeys": [{"configMapName": "signers"}]}}


def test_key_bundle_is_verified_and_another_keys_bundle_is_denied(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    trusted, other = cosign.generate_key_pair("trusted"), cosign.generate_key_pair("other")
    repo = f"{registries.crane.host}/models/bundle-{unique}"
    good = push_model(make_model_dir(tmp_path / "good", seed=unique), f"{repo}:good", raw=True)
    bad = push_model(make_model_dir(tmp_path / "bad", seed=unique + "b"), f"{repo}:bad", raw=True)
    version = next(line for line in cosign.run("version").splitlines() if "GitVersion" in line)
    print(f"\ncosign {version.split()[-1]}")
    cosign.sign(trusted, f"{repo}@{good}", new_bundle=True)
    cosign.sign(other, f"{repo}@{bad}", new_bundle=True)
    pool = f"bdl-{unique}"
    nodes = [f"bdl-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, pool)
    wait_ca_bundles(cluster)
    try:
        apply(cluster, _keys_configmap(namespace, "signers", trusted.public_pem))
        for name in ("good", "bad"):
            apply(
                cluster, model_deployment(name, namespace, f"{repo}:{name}", pool, model=KEY_POLICY)
            )
        ready = wait_ready(cluster, namespace, "good", "2/2", timeout=180)
        verified = condition(ready, "Verified")
        assert verified["status"] == "True", verified
        assert (
            f"{good} is signed: sigstore bundle (DSSE) in referrer sha256:" in (verified["message"])
        )
        assert "(ConfigMap signers[cosign.pub])" in verified["message"]
        admitted, _ = _pod_answer(cluster, namespace, "good")
        assert admitted
        print(f"new-bundle key signature -> Verified=True: {verified['message']}")

        cond = wait_reason(cluster, namespace, "bad", "Verified", "UntrustedSigner", 120)
        assert cond["status"] == "False"
        assert "none made with a configured key" in cond["message"], cond
        admitted, stderr = _pod_answer(cluster, namespace, "bad")
        assert not admitted and DENIED in stderr
        assert f"ModelDeployment {namespace}/bad: NotVerified: UntrustedSigner" in stderr
        assert "public key in ConfigMap signers[cosign.pub]" in stderr, stderr
        time.sleep(5)  # further reconcile passes: the bad model is still nowhere
        assert all(bad[7:19] not in str(_our_labels(cluster, n)) for n in nodes)
        assert len(_daemonsets(cluster, namespace)) == 1  # the good model's only
        print(f"new-bundle other key -> Verified=False {cond['reason']}: {cond['message']}")
        print(f"pod denied: {stderr.strip()}")
    finally:
        delete_nodes(cluster, nodes)


def test_keyless_bundle_is_verified_offline(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    ca = LocalCA("e2e-fulcio")
    repo = f"{registries.distribution.host}/models/bundle-keyless-{unique}"
    digest = push_model(make_model_dir(tmp_path / "m", seed=unique), f"{repo}:v1", raw=True)
    with timestamp_authority(operator.logdir) as tsa:
        root = trusted_root_json([ca], [tsa.chain])
        lifetime = timedelta(seconds=20)  # expired before the operator checks it
        _sign(cosign, ca, tsa, f"{repo}@{digest}", "kl", lifetime=lifetime, new_bundle=True)
    time.sleep(lifetime.total_seconds())
    pool = f"bkl-{unique}"
    nodes = [f"bkl-{unique}-0"]
    make_pool(cluster, nodes, pool)
    wait_ca_bundles(cluster)
    try:
        apply(cluster, _root_configmap(namespace, "sigstore-root", root))
        apply(cluster, model_deployment("kl", namespace, f"{repo}:v1", pool, model=_keyless()))
        ready = wait_ready(cluster, namespace, "kl", "1/1", timeout=180)
        verified = condition(ready, "Verified")
        assert verified["status"] == "True", verified
        message = verified["message"]
        assert f"{digest} is signed: sigstore bundle (DSSE) in referrer sha256:" in message
        assert f"certificate for {IDENTITY} from issuer {ISSUER}" in message
        assert "(timestamp by tsa-0)" in message
        print(f"\nnew-bundle keyless signature -> Verified=True: {message}")
    finally:
        delete_nodes(cluster, nodes)
