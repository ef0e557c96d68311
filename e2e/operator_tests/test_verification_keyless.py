"""spec.model.verify.keyless and OpenSSF model signing against the real API server, the
running operator and its webhook, with nothing but loopback:

* a local Fulcio-like CA (e2e/sigstore_ca.py) issues a 20-second code-signing
  certificate with an email identity and the OIDC-issuer extension; the real cosign CLI
  signs with it (`--certificate --certificate-chain --tlog-upload=false`) and takes an
  RFC 3161 timestamp from sigstore's timestamp-authority on 127.0.0.1; the certificate
  has EXPIRED before the ModelDeployment exists, so it verifies only because the
  timestamp proves when it was used -> Verified -> prefetched, pods admitted; cosign
  itself verifies the same signature offline with the same trusted_root.json;
* wrong identity, wrong issuer, a certificate from an untrusted CA, a timestamp from an
  untrusted timestamp authority -> UntrustedSigner, pulled nowhere, pods denied;
* a model folder signed with the `model-signing` library (model.sig inside, key-based)
  -> Verified, the message naming model.sig; a file changed after model signing (and
  the manifest still cosign-signed) -> ModelDigestMismatch, pulled nowhere, denied.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import model_signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
from e2e.sigstore_ca import LocalCA, pem, trusted_root_json
from e2e.tsa import TimestampAuthority, timestamp_authority
from e2e.webhook.workloads import wait_ca_bundles

IDENTITY = "release-bot@models.example"
ISSUER = "https://issuer.models.example"
LIFETIME = timedelta(seconds=20)  # Fulcio's are 10 minutes; expired before the check


def _root_configmap(namespace: str, name: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"trusted_root.json": text},
    }


def _keyless(identity: str = IDENTITY, issuer: str = ISSUER) -> dict[str, Any]:
    signer = {"trustedRoot": {"configMapName": "sigstore-root"}, "identity": identity}
    return {"verify": {"keyless": [{**signer, "issuer": issuer}]}}


def _sign(
    cosign: Cosign,
    ca: LocalCA,
    tsa: TimestampAuthority | None,
    image: str,
    name: str,
    *,
    lifetime: timedelta = timedelta(minutes=10),
    identity: str = IDENTITY,
    issuer: str = ISSUER,
    new_bundle: bool = False,
) -> datetime:
    """cosign signs `image` with a fresh key and a certificate `ca` issued for it (as
    Fulcio would); returns when the certificate became valid."""
    keys = cosign.generate_key_pair(name)
    public = serialization.load_pem_public_key(keys.public.read_bytes())
    not_before = datetime.now(UTC) - timedelta(seconds=2)
    cert = ca.issue(
        public,  # type: ignore[arg-type]
        identity=identity,
        issuer=issuer,
        lifetime=lifetime,
        not_before=not_before,
    )
    folder = keys.public.parent
    (folder / "cert.pem").write_text(pem(cert))
    (folder / "chain.pem").write_text(pem(*ca.chain))
    url = tsa.url if tsa else None
    cosign.sign_keyless(
        keys,
        folder / "cert.pem",
        folder / "chain.pem",
        image,
        timestamp_url=url,
        new_bundle=new_bundle,
    )
    return not_before


def _cosign_verifies_offline(cosign: Cosign, tmp_path: Path, root: str, image: str) -> str:
    """cosign's own verdict on the same signature with the same trusted root, no logs."""
    path = tmp_path / "trusted_root.json"
    path.write_text(root)
    return cosign.run(
        "verify",
        "--trusted-root",
        str(path),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        "--insecure-ignore-tlog=true",
        "--insecure-ignore-sct=true",
        "--allow-insecure-registry",
        "--allow-http-registry",
        image,
    )


def test_keyless_signed_model_is_verified_offline_and_prefetched(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    ca = LocalCA("e2e-fulcio")
    with timestamp_authority(operator.logdir) as tsa:
        root = trusted_root_json([ca], [tsa.chain])
        repo = f"{registries.crane.host}/models/keyless-{unique}"
        digest = push_model(make_model_dir(tmp_path / "m", seed=unique), f"{repo}:v1", raw=True)
        signed_at = _sign(cosign, ca, tsa, f"{repo}@{digest}", "ok", lifetime=LIFETIME)
    _cosign_verifies_offline(cosign, tmp_path, root, f"{repo}@{digest}")
    expired = signed_at + LIFETIME
    time.sleep(max(0.0, (expired - datetime.now(UTC)).total_seconds() + 1))
    nodes = [f"kl-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, f"kl-{unique}")
    wait_ca_bundles(cluster)
    try:
        apply(cluster, _root_configmap(namespace, "sigstore-root", root))
        md = model_deployment("keyless", namespace, f"{repo}:v1", f"kl-{unique}", model=_keyless())
        apply(cluster, md)
        ready = wait_ready(cluster, namespace, "keyless", "2/2", timeout=180)
        verified = condition(ready, "Verified")
        assert verified["status"] == "True", verified
        assert f"certificate for {IDENTITY} from issuer {ISSUER}" in verified["message"]
        assert "(timestamp by tsa-0)" in verified["message"]
        assert datetime.now(UTC) > expired  # the certificate is no longer valid today
        admitted, _ = _pod_answer(cluster, namespace, "keyless")
        assert admitted
        print(f"\nkeyless (expired cert, TSA timestamp) -> Verified: {verified['message']}")
    finally:
        delete_nodes(cluster, nodes)


def test_wrong_identity_issuer_or_ca_is_pulled_nowhere_and_pods_denied(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    cosign = Cosign(tmp_path / "cosign")
    trusted, rogue = LocalCA("e2e-fulcio"), LocalCA("rogue-ca")
    repo = f"{registries.distribution.host}/models/keyless-bad-{unique}"
    cases = {  # name: (signing CA, certificate identity, issuer, the message's tell)
        "wrong-identity": (trusted, "intern@models.example", ISSUER, "intern@models.example"),
        "wrong-issuer": (trusted, IDENTITY, "https://evil.example", "'https://evil.example'"),
        "untrusted-ca": (rogue, IDENTITY, ISSUER, "does not chain to a CA of ConfigMap"),
    }
    untrusted_tsa = "the timestamp is not by a timestamp authority of ConfigMap sigstore-root"
    with timestamp_authority(operator.logdir) as tsa:
        root = trusted_root_json([trusted], [tsa.chain])
        for name, (ca, identity, issuer, _) in cases.items():
            model = make_model_dir(tmp_path / name, seed=unique + name)
            digest = push_model(model, f"{repo}:{name}")
            _sign(cosign, ca, tsa, f"{repo}@{digest}", name, identity=identity, issuer=issuer)
    # a trusted certificate, but the time comes from a timestamp authority not trusted
    # (the in-memory signer of a new server has a new chain)
    with timestamp_authority(operator.logdir) as other:
        assert other.chain[0] != tsa.chain[0]
        digest = push_model(make_model_dir(tmp_path / "tsa", seed=unique), f"{repo}:tsa")
        _sign(cosign, trusted, other, f"{repo}@{digest}", "untrusted-tsa")
    cases["untrusted-tsa"] = (trusted, IDENTITY, ISSUER, untrusted_tsa)
    pool = f"klb-{unique}"
    nodes = [f"klb-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, pool)
    wait_ca_bundles(cluster)
    try:
        apply(cluster, _root_configmap(namespace, "sigstore-root", root))
        for name in cases:
            tag = "tsa" if name == "untrusted-tsa" else name
            md = model_deployment(name, namespace, f"{repo}:{tag}", pool, model=_keyless())
            apply(cluster, md)
        for name, (*_, tell) in cases.items():
            cond = wait_reason(cluster, namespace, name, "Verified", "UntrustedSigner", 120)
            assert cond["status"] == "False" and tell in cond["message"], cond
            print(f"\n{name}: Verified=False {cond['reason']}: {cond['message']}")
            admitted, stderr = _pod_answer(cluster, namespace, name)
            assert not admitted and DENIED in stderr
            assert f"ModelDeployment {namespace}/{name}: NotVerified: UntrustedSigner" in stderr
            # the fix names the keyless policy, not a key
            assert (
                "sign the model's digest again keylessly with a certificate whose identity "
                f"and issuer match identity '{IDENTITY}' issuer '{ISSUER}' (ConfigMap "
                "sigstore-root[trusted_root.json]), or fix spec.model.verify.keyless"
            ) in " ".join(stderr.split()), stderr
            assert "cosign sign --key" not in stderr
            print(f"{name} pod denied: {stderr.strip()}")
        time.sleep(5)  # further reconcile passes: still nothing anywhere
        assert _daemonsets(cluster, namespace) == []
        assert all(_our_labels(cluster, n) == {} for n in nodes)
    finally:
        delete_nodes(cluster, nodes)


def _model_signed_folder(folder: Path, key_pem: Path) -> None:
    model_signing.signing.Config().use_elliptic_key_signer(private_key=key_pem).sign(
        folder, folder / "model.sig"
    )


def test_openssf_model_signature_is_checked_against_the_layers(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """The model publisher signs the folder (model-signing); the registry pipeline
    cosign-signs whatever manifest it pushes. A file swapped after model signing passes
    cosign but not model.sig: ModelDigestMismatch."""
    cosign = Cosign(tmp_path / "cosign")
    pipeline = cosign.generate_key_pair("pipeline")  # cosign-signs every pushed manifest
    publisher = ec.generate_private_key(ec.SECP256R1())  # model-signs the folder
    private_pem = tmp_path / "publisher.pem"
    private_pem.write_bytes(
        publisher.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    publisher_pub = publisher.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    repo = f"{registries.crane.host}/models/modelsig-{unique}"
    good_dir = make_model_dir(tmp_path / "good", seed=unique)
    _model_signed_folder(good_dir, private_pem)
    good = push_model(good_dir, f"{repo}:good", raw=True)
    bad_dir = make_model_dir(tmp_path / "bad", seed=unique + "b")
    _model_signed_folder(bad_dir, private_pem)
    victim = next(p for p in sorted(bad_dir.rglob("*.safetensors")))
    victim.write_bytes(victim.read_bytes()[:-8] + b"backdoor")
    bad = push_model(bad_dir, f"{repo}:bad", raw=True)
    for digest in (good, bad):
        cosign.sign(pipeline, f"{repo}@{digest}", referrer=True)
    pool = f"ms-{unique}"
    nodes = [f"ms-{unique}-0"]
    make_pool(cluster, nodes, pool)
    wait_ca_bundles(cluster)
    sources = [{"configMapName": "pipeline"}, {"configMapName": "publisher"}]
    verify = {"verify": {"publicKeys": sources}}
    try:
        apply(cluster, _keys_configmap(namespace, "pipeline", pipeline.public_pem))
        apply(cluster, _keys_configmap(namespace, "publisher", publisher_pub.decode()))
        for tag in ("good", "bad"):
            apply(cluster, model_deployment(tag, namespace, f"{repo}:{tag}", pool, model=verify))
        ready = wait_ready(cluster, namespace, "good", "1/1", timeout=180)
        verified = condition(ready, "Verified")
        assert verified["status"] == "True"
        assert "model.sig (OpenSSF model signing) by key" in verified["message"]
        print(f"\nmodel.sig intact -> Verified: {verified['message']}")
        cond = wait_reason(cluster, namespace, "bad", "Verified", "ModelDigestMismatch", 120)
        assert f"{victim.relative_to(bad_dir)} is sha256:" in cond["message"]
        print(f"file swapped after model signing -> {cond['reason']}: {cond['message']}")
        admitted, stderr = _pod_answer(cluster, namespace, "bad")
        assert not admitted and "NotVerified: ModelDigestMismatch" in stderr
        owners = [
            ref["name"]
            for ds in _daemonsets(cluster, namespace)
            for ref in ds["metadata"].get("ownerReferences", [])
        ]
        assert owners == ["good"]  # the tampered model is pulled nowhere
    finally:
        delete_nodes(cluster, nodes)
