"""Credentials from an exec plugin and from a KUBECONFIG split over two files, against the
real API server: our client, kubectl for comparison, and the operator process itself.

The plugin is a small script written here. It hands out a ServiceAccount token made with
`kubectl create token` (the API server's own issuer accepts it) in an ExecCredential whose
expirationTimestamp the test chooses, and counts how often it ran.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cluster.tools import free_port, tool_path
from e2e.models import make_model_dir, push_model
from e2e.operator_process import NAMESPACE, RELEASE, OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    delete_nodes,
    make_pool,
    model_deployment,
    wait_for,
    wait_ready,
)
from modelprefetch.k8s.auth import ExecAuth
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.config import load_config
from modelprefetch.k8s.resources import Resource

CONFIGMAPS = Resource("", "v1", "configmaps", namespaced=True)

# Run 1 may answer with a token the API server refuses (BAD_FIRST); every answer expires
# LIFETIME seconds after the run. $RUNS counts the runs.
PLUGIN = """#!{python}
import datetime, json, os, pathlib
runs_file = pathlib.Path(os.environ["RUNS"])
runs = int(runs_file.read_text()) + 1 if runs_file.exists() else 1
runs_file.write_text(str(runs))
token = pathlib.Path(os.environ["TOKEN_FILE"]).read_text().strip()
if runs == 1 and os.environ.get("BAD_FIRST"):
    token = "not-a-token-this-cluster-issued"
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
    seconds=float(os.environ["LIFETIME"]))
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": {{
    "token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}}}))
"""


def _exec_user(folder: Path, token: str, lifetime: float, *, bad_first: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token)
    script = folder / "plugin.py"
    script.write_text(PLUGIN.format(python=sys.executable))
    script.chmod(0o755)
    env = {"RUNS": folder / "runs", "TOKEN_FILE": folder / "token", "LIFETIME": lifetime}
    if bad_first:
        env["BAD_FIRST"] = "1"
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(script),
            "env": [{"name": k, "value": str(v)} for k, v in env.items()],
            "interactiveMode": "Never",
        }
    }


def _runs(folder: Path) -> int:
    path = folder / "runs"
    return int(path.read_text()) if path.exists() else 0


def _reader_token(cluster: LocalCluster, namespace: str) -> str:
    """A ServiceAccount allowed to read (ClusterRole view) in `namespace`."""
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    account = f"--serviceaccount={namespace}:reader"
    cluster.kubectl(
        "create", "rolebinding", "reader", "--clusterrole=view", account, "-n", namespace
    )
    return cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()


def _kubeconfig(cluster_entry: dict[str, Any], user: dict[str, Any], namespace: str) -> Any:
    context = {"cluster": "local", "user": "plugin", "namespace": namespace}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster_entry}],
        "users": [{"name": "plugin", "user": user}],
        "contexts": [{"name": "e2e", "context": context}],
        "current-context": "e2e",
    }


def _admin_cluster(cluster: LocalCluster) -> dict[str, Any]:
    return dict(yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"])


def test_exec_plugin_token_is_refreshed_on_401_and_on_expiry(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    """Our client with an exec-plugin kubeconfig: the first token is refused (401) -> the
    plugin runs again and the request is repeated; the next token is reused until its
    expirationTimestamp passes, then the plugin runs again."""
    token = _reader_token(cluster, namespace)
    cluster.kubectl("create", "configmap", "hello", "-n", namespace, "--from-literal=a=b")
    plugin = tmp_path / "plugin"
    user = _exec_user(plugin, token, lifetime=4, bad_first=True)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(_kubeconfig(_admin_cluster(cluster), user, namespace)))

    async def scenario() -> list[int]:
        config = await load_config(str(path))
        assert isinstance(config.auth, ExecAuth)
        runs = [_runs(plugin)]  # 1: run at load, a token the cluster never issued
        async with KubeClient(config) as kube:
            listed = await kube.list(CONFIGMAPS, namespace)
            assert "hello" in [i["metadata"]["name"] for i in listed["items"]]
            runs.append(_runs(plugin))  # 2: refused once, re-run, repeated
            await kube.get(CONFIGMAPS, "hello", namespace)
            runs.append(_runs(plugin))  # 2: still valid, reused
            await asyncio.sleep(5)  # past the 4s expirationTimestamp
            assert (await kube.get(CONFIGMAPS, "hello", namespace))["data"] == {"a": "b"}
            runs.append(_runs(plugin))  # 3: expired, re-run before sending
        return runs

    assert asyncio.run(scenario()) == [1, 2, 2, 3]


def test_kubeconfig_split_over_two_paths(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    """KUBECONFIG=users.yaml:clusters.yaml, the CA a path relative to the second file: our
    loader merges them like kubectl does, and both read the same object through them."""
    token = _reader_token(cluster, namespace)
    cluster.kubectl("create", "configmap", "split", "-n", namespace, "--from-literal=x=y")
    whole = _kubeconfig(
        _admin_cluster(cluster),
        _exec_user(tmp_path / "plugin", token, lifetime=3600, bad_first=False),
        namespace,
    )
    (tmp_path / "b").mkdir()
    ca = tmp_path / "b" / "ca.crt"
    ca.write_bytes(Path(whole["clusters"][0]["cluster"].pop("certificate-authority")).read_bytes())
    whole["clusters"][0]["cluster"]["certificate-authority"] = "ca.crt"
    first = tmp_path / "a" / "users.yaml"
    first.parent.mkdir()
    first.write_text(yaml.safe_dump({k: whole[k] for k in ("users", "current-context")}))
    second = tmp_path / "b" / "clusters.yaml"
    second.write_text(yaml.safe_dump({k: whole[k] for k in ("clusters", "contexts")}))
    paths = f"{first}{os.pathsep}{second}"

    async def read() -> dict[str, Any]:
        config = await load_config(environ={"KUBECONFIG": paths}, sa_dir=tmp_path / "no-sa")
        async with KubeClient(config) as kube:
            return await kube.get(CONFIGMAPS, "split", config.namespace)

    assert asyncio.run(read())["data"] == {"x": "y"}
    kubectl = subprocess.run(
        [str(tool_path("kubectl")), "get", "configmap", "split", "-o", "jsonpath={.data.x}"],
        env={**os.environ, "KUBECONFIG": paths},
        capture_output=True,
        text=True,
        check=True,
    )
    assert kubectl.stdout == "y"


def test_operator_runs_on_exec_plugin_credentials(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    """The operator process started with an exec-plugin kubeconfig (the chart's
    ServiceAccount token, 10s credentials): it takes the Lease, kopf logs in through the
    plugin and reconciles a ModelDeployment to Ready; expired credentials are fetched again
    while it runs (our client's and kopf's, which logs in again to remove its finalizer),
    with no request refused."""
    token = cluster.kubectl("create", "token", RELEASE, "-n", NAMESPACE).stdout.strip()
    plugin = tmp_path / "plugin"
    user = _exec_user(plugin, token, lifetime=10, bad_first=False)
    path = tmp_path / "exec.kubeconfig"
    path.write_text(yaml.safe_dump(_kubeconfig(_admin_cluster(cluster), user, NAMESPACE)))
    exec_operator = replace(
        operator,
        kubeconfig=path,
        health_port=free_port(),
        metrics_port=free_port(),
        proc=None,
        extra_env={**operator.extra_env, "MODELPREFETCH_POD_NAME": "e2e-exec"},
    )
    reference = f"{registries.crane.host}/models/exec-{unique}:v1"
    push_model(make_model_dir(tmp_path / "m", seed=unique), reference)
    pool, nodes = f"exec-{unique}", [f"exec-{unique}-0"]
    log_start = exec_operator.log.stat().st_size if exec_operator.log.exists() else 0
    operator.stop()  # SIGTERM: releases the Lease; the exec one leads and serves the webhook
    try:
        exec_operator.start()
        started = time.monotonic()
        make_pool(cluster, nodes, pool)
        apply(cluster, model_deployment("viaexec", namespace, reference, pool))
        wait_ready(cluster, namespace, "viaexec", "1/1")
        time.sleep(max(0.0, 25 - (time.monotonic() - started)))  # > two credential lifetimes
        wait_for("the plugin to have run again", lambda: _runs(plugin) >= 3, timeout=30)
        # kopf's next request (removing its finalizer) finds its credential expired.
        cluster.kubectl("delete", "modeldeployment", "viaexec", "-n", namespace, "--timeout=60s")
    finally:
        exec_operator.stop()
        operator.start()
        delete_nodes(cluster, nodes)
    with exec_operator.log.open("rb") as log:
        log.seek(log_start)
        text = log.read().decode(errors="replace")
    assert "Unauthorized" not in text, text[-4000:]
    assert "Re-authentication has finished" in text, text[-4000:]
