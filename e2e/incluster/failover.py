"""One failover of the in-cluster operator, measured: the leader replica deleted (graceful:
SIGTERM, kopf stopped, the Lease released) or its container SIGKILLed through the node's
containerd (nothing released: the standby waits for the lease to expire on its own clock).
Used by test_leader_failover.py and e2e/bench/bench_failover.py.

The probe for "the new leader reconciles" is a ModelDeployment created once the old leader
can no longer reconcile (after the Lease left it, or after the kill): only a leader writes
ModelDeployment status, so its first status is the new leader reconciling. Its model is a
repository the pod registry does not have, so the status (ModelNotFound) comes from one
registry round trip; an unreachable registry would add the client's retries.

Leadership intervals come from each process's log (`kubectl logs -f --timestamps`, the
node's clock, which is the host's here): "Became leader" opens one, "Stopped reconciling"
closes it (or the kill, for SIGKILL).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.nodes import RealNodes
from e2e.cluster.tools import tool_path
from e2e.incluster.helm import LEASE, NAMESPACE, is_ready, operator_pods
from e2e.operator_tests.helpers import model_deployment, wait_for

# The chart's defaults (values.yaml leaderElection), which the suite installs.
LEASE_DURATION = 15.0
RETRY_PERIOD = 2.0
# Lease acquired -> kopf's watches listed and the probe's status written (measured < 2 s).
START_UP = 5.0
BECAME = "Became leader"
STOPPED = "Stopped reconciling"


@dataclass
class LeaseWatch:
    """The Lease sampled every 0.1 s in a thread: (monotonic time, holder, transitions)."""

    cluster: LocalCluster
    samples: list[tuple[float, str | None, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> LeaseWatch:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            spec = lease_spec(self.cluster)
            if spec is not None:
                holder = spec.get("holderIdentity") or None
                self.samples.append(
                    (time.monotonic(), holder, int(spec.get("leaseTransitions") or 0))
                )
            self.stop.wait(0.1)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def holders(self) -> list[str]:
        """Distinct holders in the order they held the Lease."""
        seen: list[str] = []
        for _, holder, _ in self.samples:
            if holder and (not seen or seen[-1] != holder):
                seen.append(holder)
        return seen

    def first_seen(self, holder: str) -> float | None:
        return next((t for t, h, _ in self.samples if h == holder), None)


def lease_spec(cluster: LocalCluster) -> dict[str, Any] | None:
    out = cluster.kubectl("get", "lease", "-n", NAMESPACE, LEASE, "-o", "json", check=False)
    return json.loads(out.stdout)["spec"] if out.returncode == 0 else None


def holder(cluster: LocalCluster) -> str:
    return str((lease_spec(cluster) or {}).get("holderIdentity") or "")


def two_ready(cluster: LocalCluster) -> list[dict[str, Any]]:
    pods = operator_pods(cluster)
    return pods if len(pods) == 2 and all(is_ready(p) for p in pods) else []


class LogFollower:
    """`kubectl logs -f --timestamps` of one pod's current container, until it ends."""

    def __init__(self, cluster: LocalCluster, pod: str) -> None:
        argv = [str(tool_path("kubectl")), "--kubeconfig", str(cluster.kubeconfig), "logs", "-f"]
        self.proc = subprocess.Popen(
            [*argv, "--timestamps", "-n", NAMESPACE, pod],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def text(self, timeout: float = 60) -> str:
        try:
            return self.proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[0]


def log_times(text: str, needle: str) -> list[datetime]:
    """Timestamps (kubectl logs --timestamps) of the lines containing `needle`."""
    times = []
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        if needle in rest:
            times.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    return times


def kill_container(nodes: RealNodes, pod: dict[str, Any]) -> None:
    """SIGKILL the pod's operator container through its node's containerd (`ctr tasks
    kill`): the process dies at once, nothing is released, the kubelet restarts it."""
    node = next(n for n in nodes.nodes if n.name == pod["spec"]["nodeName"])
    container_id = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    node.ctr("tasks", "kill", "--signal", "SIGKILL", container_id)


def _has_status(cluster: LocalCluster, namespace: str, name: str) -> bool:
    out = cluster.kubectl("get", "modeldeployment", "-n", namespace, name, "-o", "json")
    return bool((json.loads(out.stdout).get("status") or {}).get("conditions"))


@dataclass
class Round:
    mode: str  # "delete" or "sigkill"
    old_pod: str
    old_identity: str
    new_identity: str
    handed_over: float  # seconds from the delete/kill to the new holder in the Lease
    reconciled: float  # ... to the new leader's status on the probe
    killed_at: datetime  # wall clock (host = nodes) right after the delete/kill call
    old_log: str
    new_log: str
    lease: LeaseWatch

    @property
    def new_pod(self) -> str:
        return self.new_identity.rsplit("_", 1)[0]


def failover(
    cluster: LocalCluster, nodes: RealNodes, mode: str, probe_namespace: str, pod_registry: str
) -> Round:
    """One round from two Ready replicas: returns once the new leader reconciled the probe."""
    pods = wait_for("two Ready replicas", lambda: two_ready(cluster), timeout=180, interval=1)
    old_identity = wait_for("a Lease holder", lambda: holder(cluster), timeout=60)
    old = next((p for p in pods if old_identity.startswith(f"{p['metadata']['name']}_")), None)
    assert old is not None, (
        f"Lease holder {old_identity} is none of {[p['metadata'] for p in pods]}"
    )
    old_pod = old["metadata"]["name"]
    follower = LogFollower(cluster, old_pod)
    lease = LeaseWatch(cluster).start()
    probe = f"probe-{uuid.uuid4().hex[:6]}"
    reference = f"{pod_registry}/probe/missing-{probe}:v1"  # the registry answers 404
    try:
        time.sleep(0.5)  # the follower attached, the sampler has a first sample
        started = time.monotonic()
        if mode == "delete":
            cluster.kubectl("delete", "pod", "-n", NAMESPACE, old_pod, "--wait=false")
        else:
            kill_container(nodes, old)
        killed_at = datetime.now(UTC)
        # The probe once the old leader cannot reconcile any more (see the module doc).
        wait_for(
            "the Lease to leave the old leader" if mode == "delete" else "the kill",
            lambda: mode != "delete" or holder(cluster) != old_identity,
            timeout=LEASE_DURATION + 30,
            interval=0.1,
        )
        body = json.dumps(model_deployment(probe, probe_namespace, reference, "none"))
        # A SIGKILLed replica stays behind the webhook Service until its readiness probe
        # fails, and the API server does not retry another endpoint: retry the create.
        wait_for(
            "the probe ModelDeployment admitted",
            lambda: cluster.kubectl("apply", "-f", "-", input=body, check=False).returncode == 0,
            timeout=60,
            interval=0.5,
        )
        wait_for(
            "the new leader's status on the probe ModelDeployment",
            lambda: _has_status(cluster, probe_namespace, probe),
            timeout=LEASE_DURATION + 60,
            interval=0.1,
        )
        reconciled = time.monotonic() - started
        new_identity = holder(cluster)
        time.sleep(0.3)  # one more Lease sample
    finally:
        lease.close()
    seen = lease.first_seen(new_identity)
    handed_over = (seen if seen is not None else time.monotonic()) - started
    new_log = cluster.kubectl(
        "logs", "--timestamps", "-n", NAMESPACE, new_identity.rsplit("_", 1)[0]
    ).stdout
    if mode == "delete":
        old_log = follower.text()  # the pod is gone: what was streamed is all there is
    else:  # the killed process is the container's previous one
        follower.proc.kill()
        follower.text()
        old_log = cluster.kubectl(
            "logs", "--previous", "--timestamps", "-n", NAMESPACE, old_pod
        ).stdout
    return Round(
        mode,
        old_pod,
        old_identity,
        new_identity,
        handed_over,
        reconciled,
        killed_at,
        old_log,
        new_log,
        lease,
    )


def never_two_leaders(round_: Round) -> None:
    """Lease history: the old holder, then (after nobody, for a release) the new one, one
    transition. Logs: the old process led once and stopped (log) or died (kill) before the
    new one became leader, and the new one became leader once."""
    assert round_.new_identity != round_.old_identity, round_.new_identity
    assert round_.lease.holders() == [round_.old_identity, round_.new_identity], (
        round_.lease.holders()
    )
    transitions = sorted({t for _, _, t in round_.lease.samples})
    assert transitions[-1] - transitions[0] == 1, f"not one hand-over: {transitions}"
    old_became = log_times(round_.old_log, BECAME)
    assert len(old_became) <= 1, round_.old_log[-3000:]
    new_process = _process_log(round_.new_log, round_.new_identity)
    became = log_times(new_process, BECAME)
    assert len(became) == 1, new_process[-3000:]
    if round_.mode == "delete":
        stopped = log_times(round_.old_log, STOPPED)
        assert stopped, f"the old leader never logged {STOPPED!r}:\n{round_.old_log[-3000:]}"
        old_end = stopped[-1]
    else:
        old_end = round_.killed_at
    assert old_end < became[0], (
        f"two leaders: {round_.old_identity} led until {old_end},"
        f" {round_.new_identity} became leader at {became[0]}"
    )
    # Nothing reconciled by the old process after the new one led (kopf's per-object logs).
    late = [t for t in log_times(round_.old_log, "kopf.objects") if t > became[0]]
    assert not late, f"{round_.old_pod} still reconciled after {became[0]}: {late}"


def _process_log(text: str, identity: str) -> str:
    """The lines of the process with this identity (a restarted container's log holds only
    the current process, but the identity line makes sure)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if identity in line), 0)
    return "\n".join(lines[max(start - 1, 0) :])


def daemonsets_per_deployment(cluster: LocalCluster) -> dict[str, list[str]]:
    """Every ModelDeployment's DaemonSets (by owner reference), "ns/name" -> DaemonSet uids."""
    mds = json.loads(cluster.kubectl("get", "modeldeployments", "-A", "-o", "json").stdout)
    owned: dict[str, list[str]] = {
        f"{m['metadata']['namespace']}/{m['metadata']['name']}": [] for m in mds["items"]
    }
    by_uid = {m["metadata"]["uid"]: k for m, k in zip(mds["items"], owned, strict=True)}
    dss = json.loads(cluster.kubectl("get", "daemonsets", "-A", "-o", "json").stdout)
    for ds in dss["items"]:
        for ref in ds["metadata"].get("ownerReferences") or []:
            if ref.get("uid") in by_uid:
                owned[by_uid[ref["uid"]]].append(ds["metadata"]["uid"])
    return owned
