"""Deletion cleanup: every DaemonSet deleted, every label the operator set removed."""

from __future__ import annotations

from modelprefetch.core.cleanup import plan_cleanup

from .helpers import NEW_DIGEST, admitted, ds_name, existing, key, node, warm, world


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


def test_cleanup_removes_the_warm_label_of_a_recorded_prefetch_key() -> None:
    """A prefetch key recorded in status also removes its warm label, on no other node."""
    n1 = node("n1", labels={warm(NEW_DIGEST): "true"})
    n2 = node("n2", labels={"zone": "a"})
    result = plan_cleanup(
        world(nodes=(n1, n2), previous_status={"nodeLabelKeys": [key(NEW_DIGEST)]})
    )
    assert result.node_labels == {"n1": {warm(NEW_DIGEST): None}}
