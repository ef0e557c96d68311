"""The webhooks of the real operator, called by the real kube-apiserver of the test cluster.

Everything comes from `python -m modelprefetch run` (the session `operator` fixture):
ModelDeployments reach Ready on fake nodes through the operator, the webhook reads
their real status from its own watch, the caBundle and the podSelector entries are
written by the operator into the configurations the chart would install.
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    get_md,
    make_pool,
    model_deployment,
    node_labels,
    wait_for,
    wait_ready,
)
from e2e.webhook.conftest import PULL_SECRET, Served
from e2e.webhook.workloads import (
    MODEL_LABEL,
    create,
    delete_models,
    dry_run,
    finish_pulls,
    mounted,
    pod,
    selector_entries,
    volume_names,
    wait_mountable,
)


def test_deployment_pods_mount_the_digest_pinned_model(served: Served) -> None:
    """Pods of a Deployment labelled for a Ready model get its image volume, pinned by digest."""
    reference = served.md["status"]["resolved"]["mountedReference"]
    assert "@sha256:" in reference
    for p in served.pods:
        volume = next(v for v in p["spec"]["volumes"] if v["name"] == f"model-{served.name}")
        assert volume["image"] == {"reference": reference, "pullPolicy": "IfNotPresent"}


def test_deployment_pods_mount_read_only_with_sub_path(served: Served) -> None:
    """The model is mounted read-only at spec.mount.path with spec.mount.subPath."""
    for p in served.pods:
        assert {
            "name": f"model-{served.name}",
            "mountPath": f"/models/{served.name}",
            "readOnly": True,
            "subPath": "extra",
        } in p["spec"]["containers"][0]["volumeMounts"]


def test_deployment_pods_get_the_model_env(served: Served) -> None:
    """MODEL_PATH, MODEL_DIGEST and MODEL_REFERENCE come from the real status."""
    resolved = served.md["status"]["resolved"]
    for p in served.pods:
        env = {e["name"]: e.get("value") for e in p["spec"]["containers"][0]["env"]}
        assert env["MODEL_PATH"] == f"/models/{served.name}"
        assert env["MODEL_DIGEST"] == resolved["digest"]
        assert env["MODEL_REFERENCE"] == resolved["mountedReference"]


def test_deployment_pods_get_the_pull_secret(served: Served, registries: Registries) -> None:
    """The ModelDeployment's pull secret (basic-auth registry) is added to the pods."""
    assert served.md["status"]["resolved"]["mountedReference"].startswith(
        registries.distribution_auth.host + "/"
    )
    for p in served.pods:
        assert {"name": PULL_SECRET} in p["spec"]["imagePullSecrets"]


def test_deployment_pods_land_on_warm_nodes(cluster: LocalCluster, served: Served) -> None:
    """Required scheduling: the warm node label is required and the pods run on warm nodes."""
    warm = mounted(served.md)["nodeLabel"]
    assert warm.startswith("warm.modelprefetch.io/")
    for p in served.pods:
        required = p["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert {"key": warm, "operator": "Exists"} in required["nodeSelectorTerms"][0][
            "matchExpressions"
        ]
        assert p["spec"]["nodeName"] in served.nodes
        assert node_labels(cluster, p["spec"]["nodeName"]).get(warm) == "true"


def test_bad_modeldeployment_is_denied_with_field_path(
    cluster: LocalCluster, webhook: OperatorProcess, namespace: str
) -> None:
    """kubectl apply of a spec the CRD accepts but the API model rejects prints our denial."""
    bad = model_deployment(
        "bad", namespace, "registry.local/m:v1", "none", prefetch={"timeout": "5s"}
    )
    result = cluster.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert 'admission webhook "modeldeployments.modelprefetch.io" denied the request' in (
        result.stderr
    )
    assert "spec.prefetch.timeout: must be at least 10s" in result.stderr


def test_conflicting_pod_is_denied(cluster: LocalCluster, served: Served) -> None:
    """A pod whose mount path is taken is refused with the field and the fix."""
    p = pod(
        served.namespace, {MODEL_LABEL: served.name}, volumes=[{"name": "cache", "emptyDir": {}}]
    )
    p["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "cache", "mountPath": f"/models/{served.name}"}
    ]
    result = create(cluster, p, check=False)
    assert result.returncode != 0
    assert 'admission webhook "pods.modelprefetch.io" denied the request' in result.stderr
    assert "spec.containers[0].volumeMounts[0].mountPath" in result.stderr
    assert "spec.mount.path" in result.stderr


def test_unknown_model_is_denied(
    cluster: LocalCluster, webhook: OperatorProcess, namespace: str
) -> None:
    """A pod naming a ModelDeployment that does not exist is refused, naming the label."""
    result = create(cluster, pod(namespace, {MODEL_LABEL: "nope"}), check=False)
    assert result.returncode != 0
    assert 'ModelDeployment "nope" not found' in result.stderr


def test_cold_model_is_admitted_preferring_warm_nodes(
    cluster: LocalCluster,
    registries: Registries,
    webhook: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Resolved but warm on no node: the pod is created with a warning, Required lowered
    to Preferred toward the warm label."""
    reference = f"{registries.distribution.host}/models/cold-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    nodes = [f"held-cold-{unique}-0"]  # its holder pod never becomes Ready: never warm
    make_pool(cluster, nodes, f"cold-{unique}")
    try:
        apply(
            cluster,
            model_deployment(
                "cold", namespace, reference, f"cold-{unique}", mount={"scheduling": "Required"}
            ),
        )
        md = wait_mountable(cluster, namespace, "cold")
        assert mounted(md)["ready"] == 0
        # the webhook's watch may be a moment behind what kubectl just read
        result = wait_for(
            "the pod admitted",
            lambda: (
                r
                if (
                    r := create(cluster, pod(namespace, {MODEL_LABEL: "cold"}), check=False)
                ).returncode
                == 0
                else None
            ),
        )
        assert "is not warm on any node yet" in result.stderr
        affinity = json.loads(result.stdout)["spec"]["affinity"]["nodeAffinity"]
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity
        assert affinity["preferredDuringSchedulingIgnoredDuringExecution"] == [
            {
                "weight": 100,
                "preference": {
                    "matchExpressions": [{"key": mounted(md)["nodeLabel"], "operator": "Exists"}]
                },
            }
        ]
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)


def test_previous_digest_still_warm_during_rollout_keeps_pods_on_warm_nodes(
    cluster: LocalCluster,
    registries: Registries,
    webhook: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """A moved tag whose new digest is Ready nowhere yet: pods mount the previous digest and
    are still required on its warm nodes, although status.nodes.ready (new digest) is 0."""
    reference = f"{registries.distribution.host}/models/roll-{unique}:stable"
    first = push_model(make_model_dir(tmp_path / "a", seed=f"a{unique}"), reference)
    nodes = [f"held-roll-{unique}-{i}" for i in range(2)]  # pulls finish only when told
    make_pool(cluster, nodes, f"roll-{unique}")
    try:
        apply(
            cluster,
            model_deployment(
                "roll",
                namespace,
                reference,
                f"roll-{unique}",
                model={"refreshInterval": "30s"},
                mount={"scheduling": "Required"},
            ),
        )
        finish_pulls(cluster, namespace, "roll", 2)
        before = wait_ready(cluster, namespace, "roll", "2/2")
        old = mounted(before)
        second = push_model(make_model_dir(tmp_path / "b", seed=f"b{unique}"), reference)
        assert second != first
        md = wait_for(
            "the new digest resolved, the previous one still mounted",
            lambda: (
                md
                if (md := get_md(cluster, namespace, "roll"))["status"]["resolved"]["digest"]
                == second
                and md["status"]["resolved"]["mountedReference"] == old["reference"]
                else None
            ),
            timeout=120,
        )
        assert md["status"]["nodes"]["ready"] == 0
        result = create(cluster, pod(namespace, {MODEL_LABEL: "roll"}))
        assert "not warm" not in result.stderr
        created = json.loads(result.stdout)
        volume = next(v for v in created["spec"]["volumes"] if v["name"] == "model-roll")
        assert volume["image"]["reference"] == old["reference"]
        required = created["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert {"key": old["nodeLabel"], "operator": "Exists"} in required["nodeSelectorTerms"][0][
            "matchExpressions"
        ]
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)


def _selecting_model(
    cluster: LocalCluster,
    registries: Registries,
    namespace: str,
    unique: str,
    tmp_path: Path,
    nodes: list[str],
) -> None:
    """ModelDeployment `sel` selecting pods labelled app=sel, Ready on `nodes`."""
    reference = f"{registries.crane.host}/models/sel-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    make_pool(cluster, nodes, f"sel-{unique}")
    apply(
        cluster,
        model_deployment(
            "sel",
            namespace,
            reference,
            f"sel-{unique}",
            mount={"podSelector": {"matchLabels": {"app": "sel"}}},
        ),
    )
    wait_ready(cluster, namespace, "sel", f"{len(nodes)}/{len(nodes)}")


def test_pod_selector_opt_in_mutates_only_selected_pods(
    cluster: LocalCluster,
    registries: Registries,
    webhook: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Without any model label, pods matching spec.mount.podSelector get the model (the
    operator added their webhook entry); other pods of the namespace do not."""
    nodes = [f"sel-{unique}-0"]
    try:
        _selecting_model(cluster, registries, namespace, unique, tmp_path, nodes)
        wait_for("the podSelector entry", lambda: selector_entries(cluster, namespace))
        # the API server reloads webhook configurations asynchronously
        wait_for(
            "the entry in force",
            lambda: "model-sel" in volume_names(dry_run(cluster, pod(namespace, {"app": "sel"}))),
        )
        selected = json.loads(create(cluster, pod(namespace, {"app": "sel"})).stdout)
        other = json.loads(create(cluster, pod(namespace, {"app": "other"})).stdout)
        assert "model-sel" in volume_names(selected)
        assert not [v for v in volume_names(other) if v.startswith("model-")]
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)


def test_deleting_the_selecting_model_removes_its_entry(
    cluster: LocalCluster,
    registries: Registries,
    webhook: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """Once the ModelDeployment with a podSelector is gone, so is its webhook entry."""
    nodes = [f"sel-{unique}-0"]
    try:
        _selecting_model(cluster, registries, namespace, unique, tmp_path, nodes)
        wait_for("the podSelector entry", lambda: selector_entries(cluster, namespace))
        cluster.kubectl("delete", "md", "sel", "-n", namespace, "--timeout=60s")
        wait_for("the entry removed", lambda: not selector_entries(cluster, namespace))
    finally:
        delete_models(cluster, namespace)
        delete_nodes(cluster, nodes)


def test_webhook_down_refuses_opted_in_pods(
    cluster: LocalCluster, served: Served, webhook_down: OperatorProcess
) -> None:
    """With the operator stopped, a labelled pod is refused, naming the webhook and why."""
    result = create(cluster, pod(served.namespace, {MODEL_LABEL: served.name}), check=False)
    assert result.returncode != 0
    assert 'failed calling webhook "pods.modelprefetch.io"' in result.stderr
    assert "connection refused" in result.stderr


def test_webhook_down_creates_unlabelled_pods(
    cluster: LocalCluster, served: Served, webhook_down: OperatorProcess
) -> None:
    """With the operator stopped, a pod that did not opt in is created as usual."""
    created = json.loads(create(cluster, pod(served.namespace, {"app": "plain"})).stdout)
    assert created["metadata"]["uid"]


def test_webhook_down_still_lets_metadata_updates_through(
    cluster: LocalCluster, served: Served, webhook_down: OperatorProcess
) -> None:
    """With the operator stopped, labelling a ModelDeployment works; changing its spec does not."""
    cluster.kubectl("-n", served.namespace, "label", "md", served.name, "released=yes")
    refused = cluster.kubectl(
        "-n",
        served.namespace,
        "patch",
        "md",
        served.name,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"mount": {"path": "/elsewhere"}}}),
        check=False,
    )
    assert refused.returncode != 0
    assert 'failed calling webhook "modeldeployments.modelprefetch.io"' in refused.stderr
