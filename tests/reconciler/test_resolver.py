"""Resolution caching, back-off and pull secret errors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.core.world import Problem
from modelprefetch.errors import CredentialsError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import SECRETS
from modelprefetch.reconciler.resolver import Resolution, read_credentials, refresh
from tests.k8s.fakeapi import FakeApi

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REFRESH = timedelta(minutes=10)


def test_same_key_is_not_resolved_again_before_refresh() -> None:
    """A good resolution is reused until refreshInterval has passed."""
    r = Resolution(key="k", at=NOW)
    assert r.due("k", REFRESH, NOW + timedelta(minutes=9), 300) is False
    assert r.due("k", REFRESH, NOW + timedelta(minutes=10), 300) is True


def test_changed_reference_or_secret_resolves_at_once() -> None:
    """A new key (reference or secret version changed) is due immediately."""
    assert Resolution(key="k", at=NOW).due("k2", REFRESH, NOW, 300) is True


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    """5s, 10s, 20s ... never more than the cap: no hot loop on a dead registry."""

    def r(failures: int) -> Resolution:
        return Resolution(key="k", at=NOW, failures=failures, error=Problem("X", "y"))

    assert r(1).retry_in(REFRESH, NOW, 300) == 5
    assert r(3).retry_in(REFRESH, NOW, 300) == 20
    assert r(20).retry_in(REFRESH, NOW, 300) == 300
    assert r(3).due("k", REFRESH, NOW + timedelta(seconds=19), 300) is False
    assert r(3).due("k", REFRESH, NOW + timedelta(seconds=20), 300) is True


def _spec(secrets: list[str]) -> object:
    return parse_spec(
        {
            "model": {
                "reference": "127.0.0.1:5000/m/x:v1",
                "pullSecrets": [{"name": s} for s in secrets],
            }
        }
    )


async def test_missing_pull_secret_has_its_own_reason(kube: KubeClient) -> None:
    """A pull secret that does not exist is PullSecretNotFound, naming it."""
    with pytest.raises(CredentialsError) as err:
        await read_credentials(kube, "ns", _spec(["absent"]))  # type: ignore[arg-type]
    assert err.value.reason == "PullSecretNotFound"
    assert "ns/absent" in err.value.message


async def test_wrong_secret_type_is_rejected(kube: KubeClient) -> None:
    """An Opaque secret is not a pull secret."""
    await kube.create(
        SECRETS, {"metadata": {"name": "s", "namespace": "ns"}, "type": "Opaque", "data": {}}
    )
    with pytest.raises(CredentialsError, match=r"expected kubernetes\.io/dockerconfigjson"):
        await read_credentials(kube, "ns", _spec(["s"]))  # type: ignore[arg-type]


async def test_credentials_for_the_reference_registry(kube: KubeClient) -> None:
    """The dockerconfigjson entry for the reference's registry is used, secrets hidden."""
    config = {"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"u:p").decode()}}}
    await kube.create(
        SECRETS,
        {
            "metadata": {"name": "s", "namespace": "ns"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
        },
    )
    creds, fingerprint = await read_credentials(kube, "ns", _spec(["s"]))  # type: ignore[arg-type]
    assert creds["127.0.0.1:5000"].username == "u"
    assert fingerprint and "p" not in repr(creds)


async def test_fresh_resolution_makes_no_api_call(kube: KubeClient, fake_api: FakeApi) -> None:
    """Healthy and within refreshInterval: the reconcile hot path reads nothing."""
    spec = _spec(["s"])
    resolution = Resolution(key="127.0.0.1:5000/m/x:v1|s|fp", at=datetime.now(UTC))
    await refresh(
        resolution,
        kube=kube,
        namespace="ns",
        name="m",
        spec=spec,  # type: ignore[arg-type]
        insecure=[],
        max_backoff=300,
    )
    assert fake_api.requests == []


async def test_broken_resolution_rereads_secrets_without_counting_failures(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """While a secret is missing it is looked up each pass (a fix is seen at once), but
    the failure count only grows on the back-off schedule."""
    spec = _spec(["absent"])
    resolution = Resolution(
        key="127.0.0.1:5000/m/x:v1|absent|PullSecretNotFound",
        at=datetime.now(UTC),
        failures=3,
        error=Problem("PullSecretNotFound", "missing"),
    )
    await refresh(
        resolution,
        kube=kube,
        namespace="ns",
        name="m",
        spec=spec,  # type: ignore[arg-type]
        insecure=[],
        max_backoff=300,
    )
    assert [r[1] for r in fake_api.requests] == ["/api/v1/namespaces/ns/secrets/absent"]
    assert resolution.failures == 3
