"""OpenSSF model signing: a folder signed with the `model-signing` library (key-based,
offline), packed with raw layers, pushed to the fake registry and resolved; the
operator's check of model.sig against the layer digests, and the library's own folder
verification agreeing with it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import model_signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from modelprefetch.oci.artifact import ResolvedArtifact
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed
from modelprefetch.oci.reference import parse_reference
from modelprefetch.oci.resolve import resolve
from modelprefetch.verify import Reason, load_public_keys
from modelprefetch.verify.check import verify_model_signature
from modelprefetch.verify.keys import PublicKey
from modelprefetch.verify.modelsig import check_model_signature, pae
from tests.oci.fakeregistry import FakeRegistry
from tests.oci.modeldir import make_model_dir
from tests.verify.signing import new_key, public_pem


def _sign_folder(folder: Path, tmp_path: Path) -> list[PublicKey]:
    key = new_key()
    private = tmp_path / "signer.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "signer.pub").write_bytes(public_pem(key))
    model_signing.signing.Config().use_elliptic_key_signer(private_key=private).sign(
        folder, folder / "model.sig"
    )
    return load_public_keys(public_pem(key), "Secret signers[cosign.pub]")


async def _push(
    folder: Path, registry: FakeRegistry, client: RegistryClient, *, raw: bool = True
) -> ResolvedArtifact:
    reference = f"{registry.host}/m/signed:v1"
    packed = await pack_directory(folder, PackOptions(name="signed", raw=raw))
    await push_packed(client, parse_reference(reference), packed)
    return await resolve(client, reference)


async def test_signed_folder_verifies_against_the_layer_digests(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    folder = make_model_dir(tmp_path / "model")
    keys = _sign_folder(folder, tmp_path)
    artifact = await _push(folder, registry, client)
    outcome = await verify_model_signature(client, artifact, keys, required=True)
    assert outcome is not None and outcome.verified, outcome and outcome.message
    files = len([layer for layer in artifact.layers if layer.path != "model.sig"])
    assert f"lists the {files} files with the layers' digests" in outcome.message
    # the library agrees on the folder (model.sig itself is not one of the signed files)
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=tmp_path / "signer.pub"
    ).set_ignore_unsigned_files(True).verify(folder, folder / "model.sig")


async def test_file_changed_after_signing_is_a_digest_mismatch(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    folder = make_model_dir(tmp_path / "model")
    keys = _sign_folder(folder, tmp_path)
    victim = next(p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "model.sig")
    victim.write_bytes(victim.read_bytes() + b"backdoor")
    artifact = await _push(folder, registry, client)
    outcome = await verify_model_signature(client, artifact, keys, required=False)
    assert outcome is not None and outcome.reason is Reason.MODEL_DIGEST_MISMATCH
    assert f"{victim.relative_to(folder)} is sha256:" in outcome.message
    with pytest.raises(ValueError, match="Hash mismatch"):  # the library says the same
        model_signing.verifying.Config().use_elliptic_key_verifier(
            public_key=tmp_path / "signer.pub"
        ).set_ignore_unsigned_files(True).verify(folder, folder / "model.sig")


async def test_added_file_is_a_digest_mismatch(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    folder = make_model_dir(tmp_path / "model")
    keys = _sign_folder(folder, tmp_path)
    (folder / "extra.py").write_text("import os\n")
    artifact = await _push(folder, registry, client)
    outcome = await verify_model_signature(client, artifact, keys, required=False)
    assert outcome is not None and outcome.reason is Reason.MODEL_DIGEST_MISMATCH
    assert "extra.py is not in the signed manifest" in outcome.message


async def test_other_key_is_untrusted_signer(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    folder = make_model_dir(tmp_path / "model")
    _sign_folder(folder, tmp_path)
    artifact = await _push(folder, registry, client)
    other = load_public_keys(public_pem(new_key()), "Secret other[cosign.pub]")
    outcome = await verify_model_signature(client, artifact, other, required=False)
    assert outcome is not None and outcome.reason is Reason.UNTRUSTED_SIGNER


async def test_edited_statement_fails_the_signature_check(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    folder = make_model_dir(tmp_path / "model")
    keys = _sign_folder(folder, tmp_path)
    signature = folder / "model.sig"
    bundle = json.loads(signature.read_text())
    bundle["dsseEnvelope"]["payload"] = bundle["dsseEnvelope"]["payload"][:-8] + "AAAAAAA="
    signature.write_text(json.dumps(bundle))
    artifact = await _push(folder, registry, client)
    outcome = await verify_model_signature(client, artifact, keys, required=False)
    assert outcome is not None and outcome.reason is Reason.UNTRUSTED_SIGNER  # sig fails


async def test_missing_model_sig(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    artifact = await _push(make_model_dir(tmp_path / "model"), registry, client)
    assert await verify_model_signature(client, artifact, [], required=False) is None
    outcome = await verify_model_signature(client, artifact, [], required=True)
    assert outcome is not None and outcome.reason is Reason.SIGNATURE_MISSING


async def test_tar_packed_model_sig_is_signature_invalid(
    tmp_path: Path, registry: FakeRegistry, client: RegistryClient
) -> None:
    folder = make_model_dir(tmp_path / "model")
    keys = _sign_folder(folder, tmp_path)
    artifact = await _push(folder, registry, client, raw=False)
    outcome = await verify_model_signature(client, artifact, keys, required=False)
    assert outcome is not None and outcome.reason is Reason.SIGNATURE_INVALID
    assert "must be a raw layer" in outcome.message


def _resign(folder: Path, key_pem: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit model.sig's statement and sign it again with the same key (DSSE PAE), as a
    signer with a buggy or malicious tool would: the signature verifies, the content lies."""
    signature = folder / "model.sig"
    bundle = json.loads(signature.read_text())
    envelope = bundle["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    edit(statement)
    body = json.dumps(statement).encode()
    key = serialization.load_pem_private_key(key_pem.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    sig = key.sign(pae(envelope["payloadType"], body), ec.ECDSA(hashes.SHA256()))
    envelope["payload"] = base64.b64encode(body).decode()
    envelope["signatures"] = [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]
    signature.write_text(json.dumps(bundle))


def _drop_first_resource(statement: dict[str, Any]) -> None:
    statement["predicate"]["resources"].pop(0)  # subject digest no longer matches


def _other_predicate(statement: dict[str, Any]) -> None:
    statement["predicateType"] = "https://slsa.dev/provenance/v1"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_drop_first_resource, "the subject digest is not the digest of the listed files"),
        (_other_predicate, "holds no model-signing v1.0 statement"),
    ],
)
async def test_signed_but_inconsistent_statement_is_signature_invalid(
    tmp_path: Path,
    registry: FakeRegistry,
    client: RegistryClient,
    edit: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    folder = make_model_dir(tmp_path / "model")
    keys = _sign_folder(folder, tmp_path)
    _resign(folder, tmp_path / "signer.pem", edit)
    artifact = await _push(folder, registry, client)
    outcome = await verify_model_signature(client, artifact, keys, required=False)
    assert outcome is not None and outcome.reason is Reason.SIGNATURE_INVALID
    assert expected in outcome.message


def test_deeply_nested_model_sig_is_signature_invalid_not_a_crash() -> None:
    """json.loads raises RecursionError (not ValueError) past ~1000 levels: a 200 KB
    model.sig must not take the verifier down."""
    verdict = check_model_signature(b"[" * 100_000 + b"]" * 100_000, (), [])
    assert verdict.reason is Reason.SIGNATURE_INVALID
    assert "is no sigstore bundle with a DSSE envelope" in verdict.message
