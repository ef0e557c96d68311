"""Deletion cleanup and tag refresh timing."""

from __future__ import annotations

from datetime import timedelta

from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, parse_spec
from modelprefetch.core.lifecycle import plan_cleanup, refresh_due
from modelprefetch.core.status import rfc3339

from .helpers import NEW_DIGEST, NOW, REPO, admitted, ds_name, existing, key, node, warm, world


def test_cleanup_removes_labels_of_daemonsets_and_status() -> None:
    """Deletion removes labels known from DaemonSets and from status, leaving others."""
    n1 = node("n1", labels={key(): admitted(), warm(): "true", "zone": "a"})
    n2 = node("n2", labels={key(NEW_DIGEST): admitted()})
    result = plan_cleanup(
        world(
            nodes=(n1, n2),
            daemonsets=(existing(),),
            previous_status={"nodeLabelKeys": [key(NEW_DIGEST)]},
        )
    )
    assert result.node_labels == {
        "n1": {key(): None, warm(): None},
        "n2": {key(NEW_DIGEST): None},
    }


def test_cleanup_deletes_every_daemonset() -> None:
    """Deletion deletes all prefetch DaemonSets of the ModelDeployment."""
    result = plan_cleanup(world(daemonsets=(existing(NEW_DIGEST), existing())))
    assert result.delete_daemonsets == tuple(sorted([ds_name(), ds_name(NEW_DIGEST)]))


def tag_spec(interval: str = "10m") -> ModelDeploymentSpec:
    return parse_spec({"model": {"reference": f"{REPO}:8b", "refreshInterval": interval}})


def previous(at: timedelta, reference: str = f"{REPO}:8b") -> dict[str, object]:
    return {"resolved": {"reference": reference, "resolvedAt": rfc3339(NOW - at)}}


def test_refresh_due_after_interval() -> None:
    """A tag resolved 4 minutes ago with a 10m interval is due in 6 minutes."""
    assert refresh_due(tag_spec(), previous(timedelta(minutes=4)), NOW) == timedelta(minutes=6)


def test_edited_reference_is_due_now() -> None:
    """A reference different from the resolved one is resolved at once."""
    status = previous(timedelta(0), reference=f"{REPO}:old")
    assert refresh_due(tag_spec(), status, NOW) == timedelta(0)


def test_zero_interval_never_refreshes() -> None:
    """refreshInterval 0s disables refreshing once resolved."""
    assert refresh_due(tag_spec("0s"), previous(timedelta(hours=5)), NOW) is None


def test_digest_reference_never_refreshes() -> None:
    """A digest reference is never re-resolved."""
    reference = f"{REPO}@sha256:" + "a" * 64
    spec = parse_spec({"model": {"reference": reference}})
    assert refresh_due(spec, previous(timedelta(hours=5), reference), NOW) is None
