"""A moved tag rolls out; each kind of failure has its own reason; registry outages heal."""

from __future__ import annotations

import json
from pathlib import Path

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    condition,
    delete_nodes,
    get_md,
    make_pool,
    model_deployment,
    wait_for,
    wait_ready,
    wait_reason,
)


def test_moved_tag_rolls_out_the_new_digest(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Pushing a new model under the same tag: the operator re-resolves, rolls out the new
    digest to every node, then removes the old DaemonSet."""
    reference = f"{registries.distribution.host}/models/moving-{unique}:stable"
    first = push_model(make_model_dir(tmp_path / "a", seed=f"a{unique}"), reference)
    pool = f"moving-{unique}"
    nodes = [f"moving-{unique}-{i}" for i in range(2)]
    make_pool(cluster, nodes, pool)
    try:
        apply(
            cluster,
            model_deployment(
                "moving", namespace, reference, pool, model={"refreshInterval": "30s"}
            ),
        )
        md = wait_ready(cluster, namespace, "moving", "2/2")
        assert md["status"]["resolved"]["digest"] == first
        old_ds = {
            d["metadata"]["name"]
            for d in json.loads(cluster.kubectl("get", "ds", "-n", namespace, "-o", "json").stdout)[
                "items"
            ]
        }
        second = push_model(make_model_dir(tmp_path / "b", seed=f"b{unique}"), reference)
        assert second != first

        def rolled_out() -> dict[str, object] | None:
            md = get_md(cluster, namespace, "moving")
            ok = (
                md["status"].get("resolved", {}).get("digest") == second
                and condition(md, "Ready").get("status") == "True"
                and md["status"]["nodes"]["summary"] == "2/2"
            )
            return md if ok else None

        wait_for("the new digest Ready on 2/2", rolled_out, timeout=150)
        reasons = wait_for(
            "transition events",
            lambda: (
                {"Resolved", "Ready", "DigestChanged"}
                <= (found := _event_reasons(cluster, namespace, "moving"))
                and found
            ),
        )
        assert "DigestChanged" in reasons
        wait_for(
            "the old DaemonSet removed",
            lambda: (
                not old_ds
                & {
                    d["metadata"]["name"]
                    for d in json.loads(
                        cluster.kubectl("get", "ds", "-n", namespace, "-o", "json").stdout
                    )["items"]
                }
            ),
            60,
        )
    finally:
        delete_nodes(cluster, nodes)


def _event_reasons(cluster: LocalCluster, namespace: str, name: str) -> set[str]:
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "-o",
        "json",
        "--field-selector",
        f"involvedObject.kind=ModelDeployment,involvedObject.name={name}",
    )
    return {e.get("reason", "") for e in json.loads(out.stdout)["items"]}


def test_each_failure_has_its_own_reason(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Bad reference, missing secret, wrong password and an unmountable runtime each give
    their own reason, with a message naming the cause."""
    auth = registries.distribution_auth
    good_auth_ref = f"{auth.host}/models/private-{unique}:v1"
    push_model(
        make_model_dir(tmp_path / "p", seed=unique),
        good_auth_ref,
        username=auth.username,
        password=auth.password,
    )
    plain_ref = f"{registries.distribution.host}/models/plain-{unique}:v1"
    push_model(make_model_dir(tmp_path / "q", seed=unique), plain_ref)
    pool = f"fail-{unique}"
    old = f"old-{unique}"
    make_pool(cluster, [f"fail-{unique}-0"], pool)
    make_pool(cluster, [f"old-{unique}-0"], old, runtime="containerd://1.7.27")
    cluster.kubectl(
        "create",
        "secret",
        "docker-registry",
        "wrong",
        "-n",
        namespace,
        "--docker-server",
        auth.host,
        "--docker-username",
        auth.username or "",
        "--docker-password",
        "not-the-password",
    )
    try:
        cases = {
            "missing-repo": (
                f"{registries.distribution.host}/models/nope-{unique}:v1",
                {},
                pool,
                "Resolved",
                "NotFound",
            ),
            "missing-secret": (
                good_auth_ref,
                {"pullSecrets": [{"name": "absent"}]},
                pool,
                "Resolved",
                "PullSecretNotFound",
            ),
            "wrong-password": (
                good_auth_ref,
                {"pullSecrets": [{"name": "wrong"}]},
                pool,
                "Resolved",
                "RegistryUnauthorized",
            ),
            "old-runtime": (plain_ref, {}, old, "Mountable", None),
        }
        for name, (ref, model, node_pool, _, _) in cases.items():
            apply(
                cluster,
                model_deployment(
                    name, namespace, ref, node_pool, model={"reference": ref, **model}
                ),
            )
        reasons = {}
        for name, (_, _, _, ctype, reason) in cases.items():
            if reason is None:
                cond = wait_for(
                    f"{name} {ctype} False",
                    lambda n=name, c=ctype: (
                        condition(get_md(cluster, namespace, n), c)
                        if condition(get_md(cluster, namespace, n), c).get("status") == "False"
                        else None
                    ),
                )
            else:
                cond = wait_reason(cluster, namespace, name, ctype, reason)
            assert cond["status"] == "False", cond
            assert cond["message"], cond
            reasons[name] = cond["reason"]
            ready = condition(get_md(cluster, namespace, name), "Ready")
            assert ready["status"] == "False"
        assert len(set(reasons.values())) == len(reasons), reasons
        old_md = get_md(cluster, namespace, "old-runtime")
        unmountable = old_md["status"].get("unmountableNodes") or []
        assert [n["name"] for n in unmountable] == [f"old-{unique}-0"], unmountable
        assert "containerd" in condition(old_md, "Mountable")["message"]
    finally:
        delete_nodes(cluster, [f"fail-{unique}-0", f"old-{unique}-0"])


def test_registry_outage_recovers(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """With the registry stopped the model is RegistryUnavailable; once it is back the
    operator resolves it and reaches Ready on its own."""
    registry = registries.distribution
    reference = f"{registry.host}/models/outage-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool = f"outage-{unique}"
    nodes = [f"outage-{unique}-0"]
    make_pool(cluster, nodes, pool)
    registry.stop()
    try:
        apply(cluster, model_deployment("outage", namespace, reference, pool))
        cond = wait_reason(cluster, namespace, "outage", "Resolved", "RegistryUnavailable")
        assert registry.host in cond["message"]
    finally:
        registry.start()
    try:
        wait_ready(cluster, namespace, "outage", "1/1", timeout=150)
    finally:
        delete_nodes(cluster, nodes)
