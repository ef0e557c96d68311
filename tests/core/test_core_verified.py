"""The planner's verification gate: an unverified digest gets no DaemonSet and no node
label, a verified one is planned as usual with the file digests `hold` checks."""

from __future__ import annotations

import json
from dataclasses import replace

from modelprefetch.core.plan import Plan
from modelprefetch.core.planner import plan, verified_file_digests
from modelprefetch.core.world import Verification
from modelprefetch.oci.artifact import LayerFormat, LayerInfo

from .helpers import DIGEST, NEW_DIGEST, artifact, existing, key, node, world

RAW = "application/vnd.cncf.model.weight.v1.raw"
WEIGHTS = "sha256:" + "c" * 64


def _verdict(reason: str, digest: str = DIGEST) -> Verification:
    return Verification(digest, reason == "Verified", reason, f"{reason} for {digest}")


def _conditions(decided: Plan) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in decided.status.conditions}


def test_unverified_digest_plans_nothing_and_says_why() -> None:
    for reason in ("SignatureMissing", "SignatureInvalid", "UntrustedSigner", "VerificationError"):
        decided = plan(world(nodes=(node("n1"), node("n2")), verification=_verdict(reason)))
        assert decided.daemonsets == () and decided.node_labels == {}
        assert decided.delete_daemonsets == ()
        conditions = _conditions(decided)
        assert conditions["Verified"] == ("False", reason)
        assert conditions["Ready"] == ("False", reason)
        assert any(e.reason == reason and e.type == "Warning" for e in decided.events)


def test_verified_digest_is_planned_and_reported() -> None:
    decided = plan(world(nodes=(node("n1"),), verification=_verdict("Verified")))
    assert len(decided.daemonsets) == 1
    assert key() in decided.node_labels["n1"]
    assert _conditions(decided)["Verified"] == ("True", "Verified")


def test_without_verification_there_is_no_verified_condition() -> None:
    decided = plan(world(nodes=(node("n1"),)))
    assert "Verified" not in _conditions(decided)


def test_moved_tag_to_unverified_digest_keeps_the_old_one_and_rolls_nothing_out() -> None:
    """The old (verified) DaemonSet stays, no DaemonSet for the new digest appears."""
    decided = plan(
        world(
            nodes=(node("n1", labels={key(): "1"}),),
            resolved=artifact(NEW_DIGEST),
            daemonsets=(existing(DIGEST),),
            verification=_verdict("SignatureMissing", NEW_DIGEST),
        )
    )
    assert decided.daemonsets == () and decided.delete_daemonsets == ()
    assert decided.node_labels == {}


def test_verified_raw_files_carry_their_digest_to_hold() -> None:
    # (kind left an OCI image so every runtime mounts it: only the digests matter here)
    raw = artifact(
        layers=(
            LayerInfo(WEIGHTS, 4096, RAW, "weight", LayerFormat.RAW, path="model.safetensors"),
        ),
    )
    assert verified_file_digests(raw) == {"model.safetensors": WEIGHTS}
    base = world(nodes=(node("n1"),), resolved=raw)
    for verification, digested in ((_verdict("Verified"), True), (None, False)):
        decided = plan(replace(base, verification=verification))
        annotations = decided.daemonsets[0]["spec"]["template"]["metadata"]["annotations"]
        entries = json.loads(next(iter(annotations.values())))
        assert (["model.safetensors", 4096, WEIGHTS] in entries) is digested
