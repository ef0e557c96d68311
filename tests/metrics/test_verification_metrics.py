"""modelprefetch_model_verified / _verifications_total / _verify_duration_seconds:
bounded labels (namespace, model, result = a Reason value), dropped with the model."""

from __future__ import annotations

from modelprefetch import metrics
from modelprefetch.verify import Reason


def _value(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_verdicts_are_counted_by_result_and_forgotten_with_the_model() -> None:
    labels = {"namespace": "vm-ns", "model": "m"}
    metrics.observe_verification("vm-ns", "m", Reason.UNTRUSTED_SIGNER, 0.2)
    assert _value("modelprefetch_model_verified", **labels) == 0
    metrics.observe_verification("vm-ns", "m", Reason.VERIFIED, 0.1)
    metrics.observe_verification("vm-ns", "m", Reason.VERIFIED, 0.1)
    assert _value("modelprefetch_model_verified", **labels) == 1
    total = "modelprefetch_verifications_total"
    assert _value(total, result="Verified", **labels) == 2
    assert _value(total, result="UntrustedSigner", **labels) == 1
    assert _value("modelprefetch_verify_duration_seconds_count", **labels) == 3
    metrics.forget_model("vm-ns", "m")
    assert _value("modelprefetch_model_verified", **labels) is None
    assert _value(total, result="Verified", **labels) is None


def test_result_label_is_only_ever_a_reason() -> None:
    """The only label beyond namespace/model is `result`, and Reason has a fixed set."""
    family = next(f for f in metrics.REGISTRY.collect() if f.name == "modelprefetch_verifications")
    metrics.observe_verification("vm-ns2", "m", Reason.SIGNATURE_MISSING, 0.0)
    family = next(f for f in metrics.REGISTRY.collect() if f.name == "modelprefetch_verifications")
    assert {tuple(sorted(s.labels)) for s in family.samples} <= {("model", "namespace", "result")}
    assert len(Reason) < 20
    metrics.forget_model("vm-ns2", "m")
