"""Planner decisions: waves, timeouts, retries, targeting changes, rollouts, idempotence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from modelprefetch.api.status import ModelDeploymentStatus
from modelprefetch.core.plan import Plan
from modelprefetch.core.planner import plan
from modelprefetch.core.status import rfc3339
from modelprefetch.core.world import NodeInfo, Problem, World

from .helpers import (
    NEW_DIGEST,
    NOW,
    OLD_CONTAINERD,
    admitted,
    artifact,
    ds_name,
    existing,
    holder,
    key,
    node,
    spec,
    warm,
    world,
)

FIVE = tuple(node(f"n{i}") for i in range(1, 6))


def applied(before: World, result: Plan) -> World:
    """The world after the handler applied the plan's labels and wrote its status."""
    nodes = []
    for n in before.nodes:
        labels = dict(n.labels)
        for label, value in result.node_labels.get(n.name, {}).items():
            if value is None:
                labels.pop(label, None)
            else:
                labels[label] = value
        nodes.append(replace(n, labels=labels))
    return replace(before, nodes=tuple(nodes), previous_status=result.status.to_dict())


def labelled(name: str, value: str | None = None, **labels: str) -> NodeInfo:
    return node(name, labels={key(): value or admitted(), **labels})


def condition(result: Plan, type_: str) -> dict[str, Any]:
    return next(c for c in result.status.to_dict()["conditions"] if c["type"] == type_)


def test_first_wave_admits_a_quarter_rounded_up_by_name() -> None:
    """With 25% of five nodes, the first two nodes by name are admitted now."""
    result = plan(world(nodes=tuple(reversed(FIVE))))
    assert result.node_labels == {
        "n1": {key(): admitted(timedelta(0))},
        "n2": {key(): admitted(timedelta(0))},
    }


def test_counts_after_first_wave() -> None:
    """Admitted nodes count as pulling, the rest as waiting, summary is ready/desired."""
    nodes = plan(world(nodes=FIVE)).status.to_dict()["nodes"]
    assert nodes == {
        "desired": 5,
        "ready": 0,
        "pulling": 2,
        "waiting": 3,
        "failed": 0,
        "unmountable": 0,
        "summary": "0/5",
    }


def test_one_daemonset_per_mounted_reference() -> None:
    """One holder DaemonSet is desired for the mounted digest."""
    result = plan(world(nodes=FIVE))
    assert [d["metadata"]["name"] for d in result.daemonsets] == [ds_name()]


def test_full_wave_admits_nobody() -> None:
    """While the wave is full of pulling nodes no one else is admitted."""
    nodes = (labelled("n1"), labelled("n2"), *FIVE[2:])
    assert plan(world(nodes=nodes)).node_labels == {}


def test_ready_node_frees_a_slot_and_turns_warm() -> None:
    """A node whose holder is Ready gets the warm label and its slot goes to the next node."""
    nodes = (labelled("n1"), labelled("n2"), *FIVE[2:])
    result = plan(world(nodes=nodes, holder_pods=(holder("n1", ready=True),)))
    assert result.node_labels == {"n1": {warm(): "true"}, "n3": {key(): admitted(timedelta(0))}}


def test_absolute_max_concurrent_nodes() -> None:
    """maxConcurrentNodes: 1 admits exactly one node."""
    result = plan(world(nodes=FIVE, spec=spec(maxConcurrentNodes=1)))
    assert list(result.node_labels) == ["n1"]


def test_zero_pauses_prefetching() -> None:
    """maxConcurrentNodes: 0 admits nobody and reports Paused."""
    result = plan(world(nodes=FIVE, spec=spec(maxConcurrentNodes=0)))
    assert (result.node_labels, condition(result, "Prefetched")["reason"]) == ({}, "Paused")


def test_not_ready_and_cordoned_nodes_wait() -> None:
    """NotReady or cordoned nodes are not admitted; the next healthy node is."""
    nodes = (node("n1", ready=False), node("n2", unschedulable=True), node("n3"))
    result = plan(world(nodes=nodes, spec=spec(maxConcurrentNodes=1)))
    assert list(result.node_labels) == ["n3"]


def test_timed_out_node_fails_and_frees_its_slot() -> None:
    """A node pulling longer than the timeout loses its label and the next node is admitted."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    pod = holder("n1", ready=False, waiting_reason="ImagePullBackOff", waiting_message="Back-off")
    result = plan(
        world(nodes=(late, node("n2")), holder_pods=(pod,), spec=spec(maxConcurrentNodes=1))
    )
    assert result.node_labels == {"n1": {key(): None}, "n2": {key(): admitted(timedelta(0))}}


def test_failed_node_is_reported_with_pod_reason() -> None:
    """The failure is listed with the pod's waiting reason and a retry time."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    pod = holder("n1", ready=False, waiting_reason="ErrImagePull", waiting_message="401")
    failed = plan(world(nodes=(late,), holder_pods=(pod,))).status.to_dict()["failedNodes"]
    assert [(f["name"], f["reason"], f["attempts"], f["retryAt"]) for f in failed] == [
        ("n1", "ErrImagePull", 1, rfc3339(NOW + timedelta(minutes=2)))
    ]


def test_failure_emits_a_warning_event() -> None:
    """A node failure emits a NodePrefetchFailed warning naming the node."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    events = plan(world(nodes=(late,))).events
    assert any(e.reason == "NodePrefetchFailed" and "n1" in e.message for e in events)


def test_verification_failure_fails_at_once() -> None:
    """A holder that exited with hold's message fails the node before the timeout."""
    pod = holder(
        "n1",
        ready=False,
        terminated_message="Model mount /model is empty",
        terminated_exit_code=3,
        waiting_reason="CrashLoopBackOff",
    )
    result = plan(world(nodes=(labelled("n1"),), holder_pods=(pod,)))
    assert [(f["reason"], f["message"]) for f in result.status.to_dict()["failedNodes"]] == [
        ("VerificationFailed", "Model mount /model is empty")
    ]


def test_failed_node_backs_off_then_retries() -> None:
    """A failed node is not readmitted before its retry time, and is after it."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    first = plan(world(nodes=(late,)))
    during = applied(world(nodes=(late,)), first)
    assert plan(during).node_labels == {}
    after = replace(during, now=NOW + timedelta(minutes=3))
    assert plan(after).node_labels == {"n1": {key(): admitted(-timedelta(minutes=3))}}


def test_second_failure_doubles_the_backoff() -> None:
    """Attempts accumulate and the retry delay doubles."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    previous = {
        "failedNodes": [
            {"name": "n1", "reason": "Timeout", "failedAt": rfc3339(NOW), "attempts": 1}
        ]
    }
    failed = plan(world(nodes=(late,), previous_status=previous)).status.to_dict()["failedNodes"]
    assert (failed[0]["attempts"], failed[0]["retryAt"]) == (
        2,
        rfc3339(NOW + timedelta(minutes=4)),
    )


def test_ready_node_leaves_the_failed_list() -> None:
    """A node that becomes Ready is no longer listed as failed."""
    previous = {"failedNodes": [{"name": "n1", "reason": "Timeout", "failedAt": "x"}]}
    result = plan(
        world(
            nodes=(labelled("n1"),),
            holder_pods=(holder("n1", ready=True),),
            previous_status=previous,
        )
    )
    assert result.status.to_dict()["failedNodes"] == []


def test_untargeted_node_loses_its_labels() -> None:
    """A node that no longer matches spec.nodes loses the prefetch and warm labels."""
    gone = node("gpu", labels={key(): admitted(), warm(): "true", "pool": "cpu"})
    narrow = spec().model_copy(
        update={"nodes": spec().nodes.model_copy(update={"node_selector": {"pool": "gpu"}})}
    )
    result = plan(world(nodes=(gone, node("n1", labels={"pool": "gpu"})), spec=narrow))
    assert result.node_labels["gpu"] == {key(): None, warm(): None}


def test_daemonset_without_nodes_is_deleted_with_its_labels() -> None:
    """When no node is targeted any more, the DaemonSet and its labels go."""
    gone = node("gpu", labels={key(): admitted(), warm(): "true"})
    narrow = spec().model_copy(
        update={"nodes": spec().nodes.model_copy(update={"node_selector": {"pool": "gpu"}})}
    )
    result = plan(world(nodes=(gone,), spec=narrow, daemonsets=(existing(),)))
    assert (result.delete_daemonsets, result.node_labels) == (
        (ds_name(),),
        {"gpu": {key(): None, warm(): None}},
    )


def test_unmountable_nodes_are_reported_not_targeted() -> None:
    """A runtime without image volumes is listed and never labelled."""
    result = plan(world(nodes=(node("old", OLD_CONTAINERD), node("n1"))))
    assert (list(result.node_labels), result.status.to_dict()["unmountableNodes"][0]["name"]) == (
        ["n1"],
        "old",
    )


def test_some_unmountable_nodes_keep_mountable_true() -> None:
    """Mountable stays True with reason SomeNodesUnmountable when others can mount."""
    result = plan(world(nodes=(node("old", OLD_CONTAINERD), node("n1"))))
    assert (condition(result, "Mountable")["status"], condition(result, "Mountable")["reason"]) == (
        "True",
        "SomeNodesUnmountable",
    )


def test_all_ready_is_ready() -> None:
    """Every targeted node Ready: Ready True, summary n/n, no requeue."""
    nodes = (labelled("n1", **{warm(): "true"}), labelled("n2", **{warm(): "true"}))
    pods = (holder("n1", ready=True), holder("n2", ready=True))
    result = plan(world(nodes=nodes, holder_pods=pods))
    assert (
        condition(result, "Ready")["status"],
        result.status.to_dict()["nodes"]["summary"],
        result.node_labels,
        result.requeue_after,
    ) == ("True", "2/2", {}, None)


def test_requeue_while_pulling_is_the_poll_interval() -> None:
    """While nodes pull, the plan asks to be requeued after the poll interval."""
    assert plan(world(nodes=FIVE)).requeue_after == 15.0


def test_requeue_for_backoff_is_the_retry_time() -> None:
    """With only a failed node backing off, requeue when its retry is due."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    assert plan(world(nodes=(late,))).requeue_after == 120.0


def test_replanning_after_apply_changes_no_labels() -> None:
    """Applying a plan and planning again (a restart) yields no further label changes."""
    first = world(nodes=FIVE)
    again = plan(applied(first, plan(first)))
    assert (again.node_labels, again.daemonsets) == ({}, plan(first).daemonsets)


def test_plan_is_independent_of_input_order() -> None:
    """Shuffled nodes give the same plan."""
    assert plan(world(nodes=FIVE)) == plan(world(nodes=FIVE[::-1]))


def test_unreadable_admission_time_restarts_the_clock() -> None:
    """A prefetch label that is not a timestamp is rewritten with the current time."""
    result = plan(world(nodes=(labelled("n1", "garbage"),)))
    assert result.node_labels == {"n1": {key(): admitted(timedelta(0))}}


def test_status_matches_the_api_model() -> None:
    """The status the planner writes reads back unchanged through the CRD's status model."""
    late = labelled("n1", admitted(timedelta(minutes=31)))
    status = plan(world(nodes=(late, node("old", OLD_CONTAINERD), node("n2")))).status
    assert (ModelDeploymentStatus.model_validate(status.to_dict()), status.nodes.summary) == (
        status,
        "0/2",
    )


def test_unresolved_changes_nothing_and_says_why() -> None:
    """A resolve error keeps children untouched and reports the reason."""
    result = plan(
        world(
            nodes=FIVE,
            resolved=None,
            resolve_error=Problem("RegistryUnauthorized", "401 from registry.example.com"),
        )
    )
    assert (
        result.daemonsets,
        result.node_labels,
        condition(result, "Resolved")["reason"],
        condition(result, "Ready")["reason"],
    ) == ((), {}, "RegistryUnauthorized", "RegistryUnauthorized")


def test_orphan_label_keys_from_status_are_removed() -> None:
    """A label key recorded in status without a DaemonSet is removed from nodes."""
    stale = key(NEW_DIGEST)
    n1 = node("n1", labels={stale: admitted()})
    result = plan(world(nodes=(n1,), previous_status={"nodeLabelKeys": [stale]}))
    assert result.node_labels["n1"][stale] is None


def test_status_records_label_keys_in_use() -> None:
    """status.nodeLabelKeys lists the prefetch and warm keys of the current digest."""
    assert plan(world(nodes=FIVE)).status.to_dict()["nodeLabelKeys"] == sorted([key(), warm()])


def rollout_world(new_ready_on_n1: bool) -> World:
    """n1 holds the old digest; n2 was still pulling it when the tag moved."""
    n1_labels = {key(): admitted(), warm(): "true"}
    if new_ready_on_n1:
        n1_labels.update({key(NEW_DIGEST): admitted(), warm(NEW_DIGEST): "true"})
    pods = [holder("n1", ready=True), holder("n2", ready=False)]
    if new_ready_on_n1:
        pods.append(holder("n1", ready=True, digest=NEW_DIGEST))
    return world(
        resolved=artifact(NEW_DIGEST),
        nodes=(node("n1", labels=n1_labels), node("n2", labels={key(): admitted()})),
        holder_pods=tuple(pods),
        daemonsets=(existing(), existing(NEW_DIGEST)),
        spec=spec(maxConcurrentNodes=1),
    )


def test_rollout_keeps_old_model_where_it_is_ready() -> None:
    """A new digest keeps the old DaemonSet and the old labels on nodes holding it."""
    result = plan(rollout_world(new_ready_on_n1=False))
    assert (
        result.delete_daemonsets,
        result.node_labels["n2"][key()],
        key() in result.node_labels.get("n1", {}),
        [d["metadata"]["name"] for d in result.daemonsets],
    ) == ((), None, False, [ds_name(NEW_DIGEST)])


def test_rollout_admits_new_digest_in_waves() -> None:
    """The new digest's wave admits the first node by name."""
    result = plan(rollout_world(new_ready_on_n1=False))
    assert result.node_labels["n1"] == {key(NEW_DIGEST): admitted(timedelta(0))}


def test_rollout_reports_rolling_out() -> None:
    """While the old DaemonSet remains, Prefetched says RollingOut."""
    result = plan(rollout_world(new_ready_on_n1=False))
    assert condition(result, "Prefetched")["reason"] == "RollingOut"


def test_rollout_completes_when_new_digest_is_ready() -> None:
    """Once the new digest is Ready where the old one was, the old DaemonSet and labels go."""
    result = plan(rollout_world(new_ready_on_n1=True))
    assert (result.delete_daemonsets, result.node_labels["n1"]) == (
        (ds_name(),),
        {key(): None, warm(): None},
    )


def test_rollout_completion_is_an_event() -> None:
    """Deleting the old DaemonSet is announced with a RolloutComplete event."""
    result = plan(rollout_world(new_ready_on_n1=True))
    assert [e.reason for e in result.events if e.reason == "RolloutComplete"] == ["RolloutComplete"]


def test_digest_change_is_an_event() -> None:
    """A moved tag emits DigestChanged naming both digests."""
    previous = {"resolved": {"digest": "sha256:" + "a" * 64}}
    result = plan(replace(rollout_world(False), previous_status=previous))
    assert any(e.reason == "DigestChanged" and NEW_DIGEST in e.message for e in result.events)


def test_awaiting_derivation_asks_to_publish() -> None:
    """Nodes needing the derived image make the plan ask for it and Mountable False."""
    from .test_core_targeting import modelpack

    result = plan(world(resolved=modelpack(), nodes=(node("c"),)))
    assert (
        result.publish_derived_image,
        result.daemonsets,
        condition(result, "Mountable")["reason"],
    ) == (True, (), "DerivingImage")


def test_no_events_without_transitions() -> None:
    """Planning again from the written status emits no condition events."""
    first = world(nodes=FIVE)
    again = plan(applied(first, plan(first)))
    assert again.events == ()


def test_first_plan_announces_conditions() -> None:
    """The first plan emits one event per condition that appeared."""
    assert len(plan(world(nodes=FIVE)).events) == 4


def test_webhook_keeps_mounting_the_old_digest_during_rollout() -> None:
    """While only the old digest is Ready anywhere, new pods get the old reference."""
    resolved = plan(rollout_world(new_ready_on_n1=False)).status.to_dict()["resolved"]
    assert (resolved["mountedReference"], [m["current"] for m in resolved["mounts"]]) == (
        existing().reference,
        [True, False],
    )


def test_webhook_switches_once_the_new_digest_is_ready() -> None:
    """When the new digest is Ready where the old one was, new pods get the new reference."""
    resolved = plan(rollout_world(new_ready_on_n1=True)).status.to_dict()["resolved"]
    assert resolved["mountedReference"] == existing(NEW_DIGEST).reference


def test_crash_is_not_a_verification_failure() -> None:
    """A holder that crashed (exit 1, traceback in the message) waits for the timeout."""
    pod = holder("n1", ready=False, terminated_message="Traceback ...", terminated_exit_code=1)
    result = plan(world(nodes=(labelled("n1"),), holder_pods=(pod,)))
    assert (
        result.status.to_dict()["failedNodes"],
        result.status.to_dict()["nodes"]["pulling"],
    ) == ([], 1)


def test_ready_node_that_restarts_gets_a_fresh_timeout() -> None:
    """A warm node whose holder is no longer Ready pulls again with the clock restarted."""
    was_ready = labelled("n1", admitted(timedelta(days=3)), **{warm(): "true"})
    result = plan(world(nodes=(was_ready,), holder_pods=(holder("n1", ready=False),)))
    assert (result.node_labels, result.status.to_dict()["failedNodes"]) == (
        {"n1": {warm(): None, key(): admitted(timedelta(0))}},
        [],
    )


def test_failed_refresh_keeps_the_digest_and_says_so() -> None:
    """A refresh error with the last artifact still known keeps Resolved True, RefreshFailed."""
    problem = Problem("RegistryUnavailable", "503 from registry.example.com")
    result = plan(world(nodes=FIVE, resolve_error=problem))
    resolved = condition(result, "Resolved")
    assert (resolved["status"], resolved["reason"], len(result.daemonsets)) == (
        "True",
        "RefreshFailed",
        1,
    )


def test_restart_with_registry_down_keeps_ready() -> None:
    """Unresolved after a restart, a previously Ready deployment stays Ready."""
    nodes = (labelled("n1", **{warm(): "true"}),)
    ready = plan(world(nodes=nodes, holder_pods=(holder("n1", ready=True),)))
    problem = Problem("RegistryUnavailable", "503 from registry.example.com")
    result = plan(
        world(
            nodes=nodes,
            resolved=None,
            resolve_error=problem,
            previous_status=ready.status.to_dict(),
        )
    )
    assert (condition(result, "Resolved")["reason"], condition(result, "Ready")["status"]) == (
        "RefreshFailed",
        "True",
    )


def test_node_states_for_metrics() -> None:
    """Every targeted node gets its state for the per-node metrics table."""
    nodes = (labelled("n1"), labelled("n2"), *FIVE[2:])
    result = plan(world(nodes=nodes, holder_pods=(holder("n1", ready=True),)))
    assert result.node_states == {
        "n1": "ready",
        "n2": "pulling",
        "n3": "waiting",
        "n4": "waiting",
        "n5": "waiting",
    }


def test_prefetch_duration_is_reported_once_when_a_node_turns_warm() -> None:
    """A node Ready but not yet warm reports admission-to-now; once warm, nothing more."""
    nodes = (labelled("n1"), *FIVE[1:])
    fresh = plan(world(nodes=nodes, holder_pods=(holder("n1", ready=True),)))
    assert fresh.prefetched == {"n1": 60.0}
    warm_n1 = node("n1", labels={key(): admitted(), warm(): "true"})
    again = plan(world(nodes=(warm_n1, *FIVE[1:]), holder_pods=(holder("n1", ready=True),)))
    assert again.prefetched == {}
