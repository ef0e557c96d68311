"""The startup taint against the real API server and kube-scheduler (kwok fake nodes).

A node registered with `modelprefetch.io/warming:NoSchedule` takes the model's holder
(it tolerates the taint) but no workload pod until the model is Ready there and the
operator removed the taint; a taint nobody can satisfy goes at the deadline anyway, and
one on a node no model targets goes at once. Another controller's taint always stays.

The session operator runs without the startup taint (the chart's default), so each test
stops it and runs its own process with the taint enabled, under the same ServiceAccount
and chart RBAC; it logs to its own file, checked here for refusals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cluster.tools import free_port
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    get_md,
    mark_ready,
    model_deployment,
    pods,
    wait_for,
)
from e2e.webhook.workloads import MODEL_LABEL, create, delete_models, pod, wait_ca_bundles

WARMING = {"key": "modelprefetch.io/warming", "effect": "NoSchedule"}
OTHER = {"key": "example.com/other-controller", "effect": "PreferNoSchedule"}


@contextmanager
def tainting_operator(
    operator: OperatorProcess, deadline: str, tag: str
) -> Iterator[OperatorProcess]:
    """The session operator swapped for one with the startup taint enabled."""
    logdir = operator.logdir / f"operator-taint-{tag}"
    logdir.mkdir()
    env = {
        **operator.extra_env,
        "MODELPREFETCH_POD_NAME": f"e2e-taint-{tag}",
        "MODELPREFETCH_STARTUP_TAINT_ENABLED": "true",
        "MODELPREFETCH_STARTUP_TAINT_DEADLINE": deadline,
    }
    own = replace(operator, logdir=logdir, proc=None, extra_env=env)
    operator.stop()  # SIGTERM releases the Lease: our process leads at once
    try:
        own.start()
        yield own
    finally:
        own.stop()
        operator.start()
    refused = own.forbidden_lines()
    assert not refused, "the operator was refused by RBAC:\n" + "\n".join(refused[:20])


def seen_by_operator(cluster: LocalCluster, namespace: str, name: str) -> None:
    """The operator wrote a status: its watch has the ModelDeployment (a node created
    before that would rightly count as untargeted)."""
    wait_for(f"{namespace}/{name} observed", lambda: get_md(cluster, namespace, name).get("status"))


def node(cluster: LocalCluster, name: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", "node", name, "-o", "json").stdout))


def taints(cluster: LocalCluster, name: str) -> list[dict[str, Any]]:
    return list(node(cluster, name)["spec"].get("taints") or [])


def tainted(cluster: LocalCluster, name: str) -> bool:
    return any(t["key"] == WARMING["key"] for t in taints(cluster, name))


def node_events(cluster: LocalCluster, name: str, reason: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.kind=Node,involvedObject.name={name},reason={reason}"
    out = cluster.kubectl("get", "events", "-A", "--field-selector", selector, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def event_time(event: dict[str, Any]) -> datetime:
    stamp = event.get("firstTimestamp") or event.get("eventTime") or ""
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


def removals(own: OperatorProcess, reason: str) -> float:
    prefix = f'modelprefetch_startup_taint_removals_total{{reason="{reason}"}} '
    for line in own.metrics().splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    found = [c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == ctype]
    return found[0] if found else {}


def test_workload_lands_only_after_the_model_is_warm_and_the_taint_is_gone(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Tainted -> holder scheduled (tolerates it) while the workload pod stays Pending ->
    model Ready -> taint removed (the other controller's taint kept) -> pod scheduled."""
    reference = f"{registries.distribution.host}/models/taint-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool, name = f"taint-{unique}", f"held-taint-{unique}"  # held-*: pulls end when told
    with tainting_operator(operator, "10m", unique) as own:
        try:
            wait_ca_bundles(cluster)
            apply(cluster, model_deployment("warm", namespace, reference, pool))
            seen_by_operator(cluster, namespace, "warm")
            cluster.add_fake_node(name, labels={"pool": pool}, taints=[OTHER, WARMING])
            workload = pod(namespace, {MODEL_LABEL: "warm"}, nodeSelector={"pool": pool})
            admitted = wait_for(
                "the workload pod admitted",
                lambda: (
                    r if (r := create(cluster, workload, check=False)).returncode == 0 else None
                ),
            )
            assert "model-warm" in [
                v["name"] for v in json.loads(admitted.stdout)["spec"]["volumes"]
            ]
            holder = wait_for(
                "the holder pod started on the tainted node",
                lambda: [
                    p
                    for p in pods(cluster, namespace, "modelprefetch.io/modeldeployment=warm")
                    if p["spec"].get("nodeName") == name
                    and condition(p, "Initialized").get("status") == "True"
                ],
            )[0]
            time.sleep(2)  # the scheduler has had its chance at the workload pod
            assert tainted(cluster, name)
            waiting = json.loads(
                cluster.kubectl(
                    "get", "pod", workload["metadata"]["name"], "-n", namespace, "-o", "json"
                ).stdout
            )
            assert not waiting["spec"].get("nodeName")
            scheduled = condition(waiting, "PodScheduled")
            assert (scheduled.get("status"), scheduled.get("reason")) == ("False", "Unschedulable")
            # kube-scheduler 1.35 names no key; the node's only taint it cannot tolerate
            # is ours (OTHER is PreferNoSchedule)
            assert "untolerated taint" in scheduled.get("message", ""), scheduled

            mark_ready(cluster, namespace, holder["metadata"]["name"])
            wait_for("the startup taint removed", lambda: not tainted(cluster, name), timeout=60)
            assert taints(cluster, name) == [OTHER]
            removed = wait_for(
                "the StartupTaintRemoved Event",
                lambda: node_events(cluster, name, "StartupTaintRemoved"),
            )[0]
            assert removed["type"] == "Normal" and f"{namespace}/warm" in removed["message"]
            bound = wait_for(
                "the workload pod scheduled",
                lambda: (
                    p
                    if (
                        p := json.loads(
                            cluster.kubectl(
                                "get",
                                "pod",
                                workload["metadata"]["name"],
                                "-n",
                                namespace,
                                "-o",
                                "json",
                            ).stdout
                        )
                    )["spec"].get("nodeName")
                    else None
                ),
            )
            assert bound["spec"]["nodeName"] == name
            bound_at = datetime.fromisoformat(
                condition(bound, "PodScheduled")["lastTransitionTime"].replace("Z", "+00:00")
            )
            assert bound_at >= event_time(removed).replace(microsecond=0)
            assert removals(own, "Warm") == 1.0
            assert removals(own, "DeadlineExceeded") == 0.0
        finally:
            delete_models(cluster, namespace)
            delete_nodes(cluster, [name])


def test_deadline_and_untargeted_nodes_never_stay_tainted(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str, unique: str
) -> None:
    """An unreachable registry: the taint goes at the deadline with a Warning Event and the
    metric; a tainted node no model targets is untainted at once."""
    unreachable = f"127.0.0.1:{free_port()}/models/missing-{unique}:v1"
    pool, stuck, idle = f"dead-{unique}", f"dead-{unique}", f"idle-{unique}"
    deadline = 20
    with tainting_operator(operator, f"{deadline}s", f"d{unique}") as own:
        try:
            apply(cluster, model_deployment("broken", namespace, unreachable, pool))
            seen_by_operator(cluster, namespace, "broken")
            cluster.add_fake_node(stuck, labels={"pool": pool}, taints=[WARMING])
            cluster.add_fake_node(idle, labels={"pool": f"none-{unique}"}, taints=[WARMING])
            wait_for(
                "the untargeted node untainted", lambda: not tainted(cluster, idle), timeout=30
            )
            idle_event = wait_for(
                "its Event", lambda: node_events(cluster, idle, "StartupTaintRemoved")
            )[0]
            assert "No ModelDeployment targets" in idle_event["message"]
            assert tainted(cluster, stuck)  # well before its deadline

            wait_for("the deadline removal", lambda: not tainted(cluster, stuck), timeout=120)
            warning = wait_for(
                "the Warning Event",
                lambda: node_events(cluster, stuck, "StartupTaintDeadlineExceeded"),
            )[0]
            assert warning["type"] == "Warning"
            assert f"{namespace}/broken" in warning["message"]
            created = datetime.fromisoformat(
                node(cluster, stuck)["metadata"]["creationTimestamp"].replace("Z", "+00:00")
            )
            waited = (event_time(warning) - created).total_seconds()
            assert deadline <= waited < deadline + 30, waited
            assert removals(own, "DeadlineExceeded") == 1.0
            assert removals(own, "NotTargeted") == 1.0
            assert removals(own, "Warm") == 0.0
        finally:
            delete_models(cluster, namespace)
            delete_nodes(cluster, [stuck, idle])
