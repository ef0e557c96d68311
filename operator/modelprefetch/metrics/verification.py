"""spec.model.verify's verdicts (labels namespace, model[, result]).

`result` is the Verified condition's reason (modelprefetch.verify.Reason: a dozen
CamelCase values), never a digest, an identity or a key: the label set stays bounded
by the number of ModelDeployments. The series are dropped with the model's others
(models.forget_model / forget_all_models list them).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from modelprefetch.metrics.registry import REGISTRY

_MODEL = ("namespace", "model")
VERIFY_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

MODEL_VERIFIED: Final = Gauge(
    "modelprefetch_model_verified",
    "1 if the resolved digest's signatures verified (spec.model.verify), 0 if not.",
    _MODEL,
    registry=REGISTRY,
)
VERIFICATIONS: Final = Counter(
    "modelprefetch_verifications_total",
    "Signature verifications of a model's resolved digest, by result (the Verified "
    "condition's reason: Verified, SignatureMissing, UntrustedSigner, ...).",
    (*_MODEL, "result"),
    registry=REGISTRY,
)
VERIFY_DURATION: Final = Histogram(
    "modelprefetch_verify_duration_seconds",
    "Time to verify a resolved digest: signature discovery, keys, certificates, model.sig.",
    _MODEL,
    buckets=VERIFY_BUCKETS,
    registry=REGISTRY,
)

PER_MODEL_VERIFICATION: Final = (MODEL_VERIFIED, VERIFICATIONS, VERIFY_DURATION)


def observe_verification(namespace: str, name: str, result: str, seconds: float) -> None:
    """Record one verification of the model's digest and its result (a Reason value)."""
    MODEL_VERIFIED.labels(namespace, name).set(1 if result == "Verified" else 0)
    VERIFICATIONS.labels(namespace, name, result).inc()
    VERIFY_DURATION.labels(namespace, name).observe(seconds)
