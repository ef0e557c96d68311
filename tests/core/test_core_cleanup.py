"""Deletion cleanup: every DaemonSet deleted, every label the operator set removed."""

from __future__ import annotations

from modelprefetch.core.cleanup import plan_cleanup
from modelprefetch.core.labels import (
    WARM_LABEL_PREFIX,
    prefetch_label_key,
    warm_key_for,
    warm_label_key,
)

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


def test_the_warm_key_is_the_same_built_from_either_key() -> None:
    """From the prefetch key or from the warm key itself: never `warm.../warm.../<hash>`."""
    ns, name, digest = "ns", "md", NEW_DIGEST
    prefetch, warm_key = prefetch_label_key(ns, name, digest), warm_label_key(ns, name, digest)
    assert warm_key_for(prefetch) == warm_key
    assert warm_key_for(warm_key) == warm_key
    assert warm_key.count(WARM_LABEL_PREFIX) == 1


def test_cleanup_names_only_keys_that_exist() -> None:
    """A status recording both kinds of key: cleanup names exactly those two."""
    n1 = node("n1", labels={key(): admitted(), warm(): "true"})
    result = plan_cleanup(
        world(
            nodes=(n1,),
            daemonsets=(existing(),),
            previous_status={"nodeLabelKeys": [warm(), key()]},
        )
    )
    assert result.label_keys == {key(), warm()}
    assert result.node_labels == {"n1": {key(): None, warm(): None}}
