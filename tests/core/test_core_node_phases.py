"""Per-node progress phases, the ETA and the bounded status.progress block."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from modelprefetch.api.status import MAX_PROGRESS_NODES, ModelDeploymentStatus
from modelprefetch.core.node_phases import NodePhase, Phase, estimate_eta, node_phase, summarize
from modelprefetch.core.planner import plan
from modelprefetch.core.pulls import KubeletPull, PodPulls, parse_kubelet_pull, pulls_by_pod
from modelprefetch.core.waves import NodeProgress, NodeState
from modelprefetch.core.world import Problem
from tests.core.helpers import (
    NOW,
    admitted,
    existing,
    holder,
    key,
    node,
    spec,
    warm,
    world,
)

ADMITTED = NOW - timedelta(minutes=3)


def _progress(state: NodeState, **changes: object) -> NodeProgress:
    return replace(NodeProgress(node("n1"), key(), state, ADMITTED), **changes)  # type: ignore[arg-type]


def _event(pod: str, reason: str, message: str, at: str, uid: str = "") -> dict[str, object]:
    return {
        "metadata": {"uid": uid},
        "involvedObject": {"kind": "Pod", "name": pod},
        "reason": reason,
        "message": message,
        "firstTimestamp": at,
        "lastTimestamp": at,
    }


def test_parse_kubelet_pull_reads_durations_and_size() -> None:
    """A current kubelet Pulled message gives pull time, total time and image size."""
    message = (
        'Successfully pulled image "reg.local/models/llm@sha256:abc" in 1m2.5s '
        "(1m4.25s including waiting). Image size: 123456 bytes."
    )
    assert parse_kubelet_pull(message) == KubeletPull(62.5, 64.25, 123456)


def test_parse_kubelet_pull_accepts_the_older_message_and_ignores_others() -> None:
    """Kubelets before 1.30 omit the size; 'already present' and Pulling are no pulls."""
    old = 'Successfully pulled image "busybox" in 850ms (1.2s including waiting)'
    assert parse_kubelet_pull(old) == KubeletPull(0.85, 1.2, None)
    assert parse_kubelet_pull('Container image "busybox" already present on machine') is None
    assert parse_kubelet_pull('Pulling image "busybox"') is None
    assert (
        parse_kubelet_pull('Successfully pulled image "x" in 5 parsecs (1s including waiting)')
        is None
    )


def test_pulls_by_pod_keeps_the_first_pulling_and_the_last_pulled_of_listed_pods() -> None:
    """Events of other pods are ignored; the earliest Pulling and newest Pulled count."""
    pulled = 'Successfully pulled image "m" in 2m (2m1s including waiting). Image size: 1000 bytes.'
    events = [
        _event("h1", "Pulling", 'Pulling image "m"', "2026-01-02T03:01:00Z"),
        _event("h1", "Pulling", 'Pulling image "m"', "2026-01-02T03:00:00Z"),
        _event("h1", "Pulled", pulled, "2026-01-02T03:02:00Z", uid="u1"),
        _event("other", "Pulled", pulled, "2026-01-02T03:03:00Z", uid="u2"),
        _event(
            "h2",
            "Pulled",
            'Container image "m" already present on machine',
            "2026-01-02T03:04:00Z",
            uid="u3",
        ),
    ]
    found = pulls_by_pod(events, {"h1", "h2"})
    assert set(found) == {"h1", "h2"}
    assert found["h1"].pulling_since == NOW.replace(hour=3, minute=0, second=0)
    assert found["h1"].pull == KubeletPull(120.0, 121.0, 1000)
    assert found["h1"].event_uid == "u1"
    assert found["h2"].pull is None and found["h2"].pulled_at is not None


def test_phases_follow_the_holder_pod_and_the_kubelet_events() -> None:
    """Waiting -> Pending; admitted without pod -> Pending; on the node -> Pulling since the
    Pulling event; Pulled or running -> Verifying; Ready -> Ready with its duration."""
    pulling = _progress(NodeState.PULLING)
    assert node_phase(_progress(NodeState.WAITING, admitted=None), None, None, now=NOW).phase is (
        Phase.PENDING
    )
    assert node_phase(pulling, None, None, now=NOW) == NodePhase(
        "n1", Phase.PENDING, ADMITTED, admitted=ADMITTED
    )
    pod = holder("n1", ready=False)
    assert node_phase(pulling, pod, None, now=NOW).since == ADMITTED
    started = NOW - timedelta(minutes=2)
    at_pull = node_phase(pulling, pod, PodPulls(pulling_since=started), now=NOW)
    assert (at_pull.phase, at_pull.since) == (Phase.PULLING, started)
    done = PodPulls(started, NOW, KubeletPull(100.0, 101.0, 10), "u")
    assert node_phase(pulling, pod, done, now=NOW).phase is Phase.VERIFYING
    assert node_phase(pulling, replace(pod, running=True), None, now=NOW).phase is Phase.VERIFYING
    ready = replace(pod, ready=True, ready_since=NOW - timedelta(seconds=30))
    finished = node_phase(_progress(NodeState.READY), ready, None, now=NOW)
    assert (finished.phase, finished.took) == (Phase.READY, 150.0)


def test_failed_and_backoff_nodes_carry_their_reason() -> None:
    """A fresh failure names the holder's reason; a node in back-off the previous entry's."""
    failed = _progress(NodeState.FAILED, failure=Problem("ErrImagePull", "manifest unknown"))
    phase = node_phase(failed, holder("n1", ready=False), None, now=NOW)
    assert (phase.phase, phase.reason, phase.message) == (
        Phase.FAILED,
        "ErrImagePull",
        "manifest unknown",
    )
    entry = {
        "name": "n1",
        "reason": "Timeout",
        "message": "slow",
        "failedAt": "2026-01-02T03:00:00Z",
    }
    backoff = node_phase(_progress(NodeState.BACKOFF), None, None, entry, now=NOW)
    assert (backoff.phase, backoff.reason, backoff.message) == (Phase.FAILED, "Timeout", "slow")


def test_pull_trouble_is_shown_on_a_pulling_node() -> None:
    """ImagePullBackOff keeps the node Pulling (the timeout decides) but says why."""
    pod = holder("n1", ready=False, waiting_reason="ImagePullBackOff", waiting_message="401")
    phase = node_phase(_progress(NodeState.PULLING), pod, None, now=NOW)
    assert (phase.phase, phase.reason, phase.message) == (Phase.PULLING, "ImagePullBackOff", "401")


def test_eta_fills_wave_slots_with_the_mean_duration() -> None:
    """Wave 2, mean 100s: two in flight finish at admission+100s, four pending take two more
    rounds: the last node is due 300s after admission of the first round."""
    t0 = NOW
    phases = [NodePhase(f"p{i}", Phase.PULLING, t0, admitted=t0) for i in range(2)]
    phases += [NodePhase(f"w{i}", Phase.PENDING) for i in range(4)]
    eta = estimate_eta(phases, wave=2, now=t0, mean_seconds=100)
    assert eta == t0 + timedelta(seconds=300)
    overdue = [NodePhase("late", Phase.PULLING, t0, admitted=t0 - timedelta(hours=1))]
    assert estimate_eta(overdue, wave=1, now=t0, mean_seconds=100) == t0


def test_summary_counts_eta_and_names_only_the_slowest_and_failing() -> None:
    """Counts per phase, percent, mean node time, throughput from Pulled events."""
    pull = KubeletPull(50.0, 50.0, 5000)
    phases = [
        NodePhase(
            "r1", Phase.READY, NOW, admitted=NOW - timedelta(seconds=100), took=100, pull=pull
        ),
        NodePhase("slow", Phase.PULLING, NOW - timedelta(minutes=9), admitted=NOW),
        NodePhase("fast", Phase.VERIFYING, NOW - timedelta(minutes=1), admitted=NOW),
        NodePhase("bad", Phase.FAILED, NOW, "Timeout", "x" * 500),
        NodePhase("q", Phase.PENDING),
    ]
    block = summarize(phases, desired=5, wave=2, now=NOW)
    assert block.phases.to_dict() == {
        "pending": 1, "pulling": 1, "verifying": 1, "ready": 1, "failed": 1,
    }  # fmt: skip
    assert block.percent == 20
    assert block.node_seconds == 100
    assert block.pulled_bytes_per_second == 100
    assert block.eta is not None
    assert [e.name for e in block.slowest] == ["slow", "fast"]
    assert [(e.name, e.reason, len(e.message)) for e in block.failing] == [("bad", "Timeout", 200)]
    assert summarize(phases[1:], desired=4, wave=2, now=NOW).eta is None  # nothing finished


def test_status_stays_bounded_at_5000_nodes() -> None:
    """5,000 nodes, every phase: the progress block names at most 10 + 10 nodes and the
    whole status stays a few kilobytes (etcd's object limit is 1.5 MiB)."""
    nodes = [node(f"gpu-node-{i:05d}") for i in range(5000)]
    labels = {key(): admitted(timedelta(minutes=5))}
    labelled = [replace(n, labels=labels) for n in nodes[:3000]]
    pods = [holder(n.name, ready=True, ready_since=NOW) for n in labelled[:1000]]
    pods += [holder(n.name, ready=False) for n in labelled[1000:2000]]
    pods += [holder(n.name, ready=False, running=True) for n in labelled[2000:2500]]
    pods += [holder(n.name, ready=False, terminated_exit_code=3) for n in labelled[2500:]]
    decided = plan(
        world(
            spec=spec(maxConcurrentNodes="100%"),
            nodes=tuple(labelled + nodes[3000:]),
            holder_pods=tuple(pods),
            daemonsets=(existing(),),
        )
    )
    progress = decided.status.progress
    assert progress is not None
    assert progress.phases.to_dict() == {
        "pending": 2000, "pulling": 1000, "verifying": 500, "ready": 1000, "failed": 500,
    }  # fmt: skip
    assert len(progress.slowest) == len(progress.failing) == MAX_PROGRESS_NODES
    assert progress.eta is not None and progress.node_seconds == 300
    size = len(json.dumps(decided.status.to_dict()))
    assert size < 16_000, size
    ModelDeploymentStatus.model_validate(decided.status.to_dict())  # the schema's maxItems hold


def test_planner_reads_pull_events_of_the_holder_pod() -> None:
    """World.pull_events, keyed by holder pod, turns a pulled node into Verifying."""
    labelled = node("n1", labels={key(): admitted()})
    pod = holder("n1", ready=False)
    base = world(nodes=(labelled,), holder_pods=(pod,), daemonsets=(existing(),))
    assert plan(base).status.progress.phases.pulling == 1  # type: ignore[union-attr]
    pulled = PodPulls(NOW, NOW, KubeletPull(3.0, 3.0, 9), "u")
    events = replace(base, pull_events={pod.name: pulled})
    assert plan(events).status.progress.phases.verifying == 1  # type: ignore[union-attr]
    warm_node = node("n1", labels={key(): admitted(), warm(): "true"})
    ready = replace(pod, ready=True, ready_since=NOW)
    done = plan(replace(base, nodes=(warm_node,), holder_pods=(ready,)))
    assert done.status.progress is not None and done.status.progress.percent == 100
