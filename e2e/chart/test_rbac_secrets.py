"""Secret reads: nowhere outside the release namespace by default, in the namespaces
rbac.secretNamespaces lists, everywhere only with rbac.clusterWideSecrets=true.

Checked with `kubectl auth can-i --as` against the real authorizer, one fresh release per
values set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from e2e.chart.render import render_chart
from e2e.chart.test_rbac import Rbac, can_i
from e2e.cluster.controlplane import LocalCluster

RBAC_TEMPLATES = ["templates/rbac.yaml", "templates/serviceaccount.yaml"]


@pytest.fixture
def install(cluster: LocalCluster) -> Iterator[Callable[..., Rbac]]:
    """Applies the chart's RBAC for a fresh release with the given --set values."""
    applied: list[tuple[Rbac, str]] = []

    def _install(*sets: str, namespaces: tuple[str, ...] = ()) -> Rbac:
        suffix = uuid.uuid4().hex[:6]
        found = Rbac(release=f"modelprefetch-{suffix}", namespace=f"rbac-{suffix}")
        for name in (found.namespace, *namespaces):
            cluster.kubectl("create", "namespace", name, check=False)
        manifest = render_chart(
            release=found.release, namespace=found.namespace, sets=sets, show_only=RBAC_TEMPLATES
        )
        cluster.kubectl("apply", "-f", "-", input=manifest)
        applied.append((found, manifest))
        return found

    yield _install
    for found, manifest in applied:
        cluster.kubectl("delete", "-f", "-", "--wait=false", input=manifest, check=False)
        cluster.kubectl("delete", "namespace", found.namespace, "--wait=false", check=False)


def test_listed_namespaces_only(cluster: LocalCluster, install: Callable[..., Rbac]) -> None:
    """Two listed namespaces: get (not list) Secrets there, nothing in a third."""
    suffix = uuid.uuid4().hex[:6]
    team_a, team_b, other = f"team-a-{suffix}", f"team-b-{suffix}", f"other-{suffix}"
    rbac = install(
        f"rbac.secretNamespaces={{{team_a},{team_b}}}", namespaces=(team_a, team_b, other)
    )
    try:
        assert can_i(cluster, rbac, "get", "secrets", team_a)
        assert can_i(cluster, rbac, "get", "secrets", team_b)
        assert not can_i(cluster, rbac, "list", "secrets", team_a)
        assert not can_i(cluster, rbac, "watch", "secrets", team_b)
        assert not can_i(cluster, rbac, "update", "secrets", team_a)
        assert not can_i(cluster, rbac, "get", "secrets", other)
        assert not can_i(cluster, rbac, "get", "secrets", "*")
        # Its own webhook certificate Secret stays reachable.
        assert can_i(cluster, rbac, "update", "secrets/{release}-webhook-tls", "own")
    finally:
        for name in (team_a, team_b, other):
            cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_default_reads_no_secret_outside_its_namespace(
    cluster: LocalCluster, install: Callable[..., Rbac]
) -> None:
    """Defaults: no Secret of any other namespace, the certificate Secret still."""
    rbac = install()
    assert not can_i(cluster, rbac, "get", "secrets", "default")
    assert not can_i(cluster, rbac, "get", "secrets", "*")
    assert can_i(cluster, rbac, "get", "secrets/{release}-webhook-tls", "own")


def test_cluster_wide_opt_in(cluster: LocalCluster, install: Callable[..., Rbac]) -> None:
    """rbac.clusterWideSecrets=true: get Secrets in every namespace, still never list."""
    rbac = install("rbac.clusterWideSecrets=true")
    assert can_i(cluster, rbac, "get", "secrets", "default")
    assert can_i(cluster, rbac, "get", "secrets", "*")
    assert not can_i(cluster, rbac, "list", "secrets", "default")
