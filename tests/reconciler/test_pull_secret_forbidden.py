"""A pull secret the operator's RBAC does not cover: PullSecretForbidden, saying what to set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.errors import CredentialsError, KubernetesError, PullSecretForbiddenError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.reconciler.resolver import Resolution, read_credentials, refresh
from tests.k8s.fakeapi import FakeApi

SPEC = parse_spec(
    {"model": {"reference": "127.0.0.1:5000/m/x:v1", "pullSecrets": [{"name": "regcred"}]}}
)


async def test_refused_secret_read_is_pull_secret_forbidden(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """A 403 on the Secret is its own reason (not PullSecretNotFound), and the message names
    the Secret, its namespace and the chart value that grants access."""
    fake_api.fail_next = [403]
    with pytest.raises(CredentialsError) as err:
        await read_credentials(kube, "team-x", SPEC)
    assert isinstance(err.value, PullSecretForbiddenError)
    assert err.value.reason == "PullSecretForbidden"
    assert not err.value.temporary
    for needed in ("team-x/regcred", "rbac.secretNamespaces", "rbac.clusterWideSecrets"):
        assert needed in err.value.message


async def test_other_api_errors_are_not_called_forbidden(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """Only a 403 means missing RBAC; a conflict-like answer stays a KubernetesError."""
    fake_api.fail_next = [409]
    with pytest.raises(KubernetesError) as err:
        await read_credentials(kube, "team-x", SPEC)
    assert not isinstance(err.value, PullSecretForbiddenError)


async def test_refresh_records_the_forbidden_reason(kube: KubeClient, fake_api: FakeApi) -> None:
    """The reconcile loop records the reason and message the status condition shows."""
    fake_api.fail_next = [403]
    resolution = Resolution()
    await refresh(
        resolution,
        kube=kube,
        namespace="team-x",
        name="m",
        spec=SPEC,
        insecure=[],
        max_backoff=300,
    )
    assert resolution.error is not None
    assert resolution.error.reason == "PullSecretForbidden"
    assert "team-x/regcred" in resolution.error.message
    assert resolution.artifact is None
    assert resolution.at is not None and resolution.at <= datetime.now(UTC)
