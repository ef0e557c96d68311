"""OpenSSF model signing (sigstore `model-signing`, v1.0 predicate) inside a ModelPack.

`model_signing sign key` writes `model.sig` into the model folder: a sigstore bundle
whose DSSE envelope holds an in-toto statement listing every file's sha256
(`predicate.resources`) and their combined digest (`subject[0].digest.sha256`). Packed as
a ModelPack with raw layers, each file IS a layer whose digest is that file's sha256; so
the operator checks the signed manifest against the layer digests without downloading
a single weight:

* the envelope's signature (DSSE PAE, ECDSA as the library's key signer makes) verifies
  with a configured public key (else UntrustedSigner);
* the statement is the model-signing one and consistent (else SignatureInvalid);
* every file layer (but model.sig itself and the manifest's ignore_paths) is in the
  manifest with the same sha256, and every manifest file is a layer (else
  ModelDigestMismatch).

The model-signing library verifies a folder on disk; the operator has only the registry
manifest, hence this check (same steps as the library's key verifier, cross-checked
against it in tests/unit/verify/test_modelsig.py). Keyless model signatures need a
transparency log entry in model-signing; they are not supported offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from modelprefetch.oci.artifact import LayerFormat, LayerInfo
from modelprefetch.verify.keys import PublicKey
from modelprefetch.verify.outcome import Reason

SIGNATURE_FILE = "model.sig"
MAX_SIGNATURE_BYTES = 4 * 1024 * 1024  # a manifest of ~10k files; weights never are here
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class ModelSignatureVerdict:
    reason: Reason
    message: str


def signature_layer(layers: tuple[LayerInfo, ...]) -> LayerInfo | None:
    """The layer holding model.sig (top-level file of the model), if any."""
    return next((layer for layer in layers if layer.path == SIGNATURE_FILE), None)


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding: what the signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def check_model_signature(
    bundle: bytes, layers: tuple[LayerInfo, ...], keys: list[PublicKey]
) -> ModelSignatureVerdict:
    """The verdict on a model.sig (bundle bytes) against the model's layers."""
    try:
        payload_type, body, signatures = _envelope(bundle)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return _invalid(f"is no sigstore bundle with a DSSE envelope: {exc}")
    signer = next(
        (k for k in keys for sig in signatures if _verifies(k, sig, payload_type, body)), None
    )
    if signer is None:
        names = ", ".join(f"{k.fingerprint} ({k.source})" for k in keys) or "none configured"
        return ModelSignatureVerdict(
            Reason.UNTRUSTED_SIGNER,
            f"{SIGNATURE_FILE} is not signed with a configured public key ({names})",
        )
    try:
        files, ignored = _signed_files(payload_type, body)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return _invalid(f"holds no model-signing v1.0 statement: {exc}")
    problems = _compare(files, ignored, layers)
    if problems:
        return ModelSignatureVerdict(
            Reason.MODEL_DIGEST_MISMATCH,
            f"the model's layers differ from its signed {SIGNATURE_FILE}: "
            + "; ".join(problems[:5])
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
        )
    return ModelSignatureVerdict(
        Reason.VERIFIED,
        f"{SIGNATURE_FILE} (OpenSSF model signing) by key {signer.fingerprint} lists the "
        f"{len(files)} files with the layers' digests",
    )


def _invalid(message: str) -> ModelSignatureVerdict:
    return ModelSignatureVerdict(Reason.SIGNATURE_INVALID, f"{SIGNATURE_FILE} {message}")


def _envelope(bundle: bytes) -> tuple[str, bytes, list[bytes]]:
    document = json.loads(bundle)
    envelope = document["dsseEnvelope"]
    body = base64.b64decode(envelope["payload"], validate=True)
    signatures = [base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"][:8]]
    return str(envelope["payloadType"]), body, signatures


def _verifies(key: PublicKey, signature: bytes, payload_type: str, body: bytes) -> bool:
    if not isinstance(key.key, ec.EllipticCurvePublicKey):
        return False  # the library signs with EC keys only
    size = key.key.curve.key_size
    digest = hashes.SHA256() if size == 256 else hashes.SHA384() if size == 384 else hashes.SHA512()
    try:
        key.key.verify(signature, pae(payload_type, body), ec.ECDSA(digest))
    except InvalidSignature:
        return False
    return True


def _signed_files(payload_type: str, body: bytes) -> tuple[dict[str, str], list[str]]:
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise ValueError(f"payload type {payload_type!r}")
    statement: dict[str, Any] = json.loads(body)
    if statement["_type"] != STATEMENT_TYPE or statement["predicateType"] != PREDICATE_TYPE:
        raise ValueError(f"statement {statement['_type']!r} / {statement['predicateType']!r}")
    (subject,) = statement["subject"]
    predicate = statement["predicate"]
    serialization = predicate["serialization"]
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise ValueError(f"serialization {serialization!r} (want method files, sha256)")
    files, combined = {}, hashlib.sha256()
    for resource in predicate["resources"]:
        if resource["algorithm"] != "sha256":
            raise ValueError(f"{resource['name']}: algorithm {resource['algorithm']!r}")
        files[str(resource["name"])] = str(resource["digest"]).lower()
        combined.update(bytes.fromhex(resource["digest"]))
    if combined.hexdigest() != subject["digest"]["sha256"]:
        raise ValueError("the subject digest is not the digest of the listed files")
    return files, [str(p) for p in serialization.get("ignore_paths") or []]


def _compare(files: dict[str, str], ignored: list[str], layers: tuple[LayerInfo, ...]) -> list[str]:
    problems, seen = [], set()
    for layer in layers:
        path = layer.path
        if path is None or path == SIGNATURE_FILE or _ignored(path, ignored):
            continue
        if layer.layer_format is not LayerFormat.RAW:
            problems.append(f"{path} is packed as {layer.layer_format} (push raw layers)")
            continue
        seen.add(path)
        signed = files.get(path)
        if signed is None:
            problems.append(f"{path} is not in the signed manifest")
        elif layer.digest != f"sha256:{signed}":
            problems.append(f"{path} is {layer.digest}, signed sha256:{signed}")
    problems += [f"{path} is signed but not in the model" for path in files if path not in seen]
    return problems


def _ignored(path: str, ignored: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in ignored)
