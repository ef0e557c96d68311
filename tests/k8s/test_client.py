"""The async Kubernetes client against an in-memory API server."""

from __future__ import annotations

import pytest

from modelprefetch.errors import KubernetesError, KubernetesNotFoundError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import DAEMONSETS, MODELDEPLOYMENTS, NODES, SECRETS
from tests.k8s.fakeapi import FakeApi


def test_paths_of_core_group_apps_and_our_crd() -> None:
    """REST paths follow the group/version/namespace/plural/name/subresource layout."""
    assert NODES.path(None, "n1") == "/api/v1/nodes/n1"
    assert DAEMONSETS.path("ns", "d") == "/apis/apps/v1/namespaces/ns/daemonsets/d"
    assert (
        MODELDEPLOYMENTS.path("ns", "m", "status")
        == "/apis/modelprefetch.io/v1alpha1/namespaces/ns/modeldeployments/m/status"
    )


async def test_apply_is_server_side_with_our_field_manager(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """apply() PATCHes with apply-patch content type, fieldManager and force."""
    obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "ns"},
    }
    await kube.apply(DAEMONSETS, obj)
    method, path, query, ctype = fake_api.requests[-1]
    assert (method, path) == ("PATCH", "/apis/apps/v1/namespaces/ns/daemonsets/d")
    assert "fieldManager=modelprefetch" in query and "force=true" in query
    assert ctype == "application/apply-patch+yaml"


async def test_missing_object_raises_not_found(kube: KubeClient) -> None:
    """A 404 becomes KubernetesNotFoundError, which is permanent."""
    with pytest.raises(KubernetesNotFoundError) as err:
        await kube.get(SECRETS, "absent", "ns")
    assert err.value.temporary is False
    assert await kube.get_or_none(SECRETS, "absent", "ns") is None


async def test_forbidden_is_a_kubernetes_error_with_reason(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """A 403 keeps its status and gets the Forbidden reason and the server's message."""
    fake_api.fail_next = [403]
    with pytest.raises(KubernetesError) as err:
        await kube.list(NODES)
    assert err.value.status == 403
    assert err.value.reason == "Forbidden"
    assert "injected 403" in err.value.message


async def test_merge_patch_removes_labels_given_as_null(
    kube: KubeClient, fake_api: FakeApi
) -> None:
    """Label changes with None remove the label (JSON merge patch semantics)."""
    await kube.create(NODES, {"metadata": {"name": "n1", "labels": {"a": "1", "b": "2"}}})
    out = await kube.merge_patch(NODES, "n1", {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert fake_api.requests[-1][3] == "application/merge-patch+json"


async def test_delete_reports_whether_it_existed(kube: KubeClient) -> None:
    """delete() is idempotent: False when the object was already gone."""
    await kube.create(NODES, {"metadata": {"name": "n1"}})
    assert await kube.delete(NODES, "n1") is True
    assert await kube.delete(NODES, "n1") is False


async def test_bearer_token_is_sent(kube: KubeClient, fake_api: FakeApi) -> None:
    """Requests carry the configured bearer token."""
    await kube.list(NODES)
    assert fake_api.authorization[-1] == "Bearer t0ken"
