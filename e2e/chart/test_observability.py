"""A real Prometheus (Debian's) scrapes the real operator; every dashboard panel has data.

The chart is installed with `webhook.url` pointing at an operator process started here on
127.0.0.1 (the local cluster has no kube-proxy), authenticated as the chart's
ServiceAccount, so the chart's RBAC is what it runs with. A tiny ModelPack is pushed to the local
registry, two fake nodes are targeted, a labelled pod goes through the mutating webhook,
and Prometheus scrapes the operator's /metrics every second.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from e2e.chart.helpers import CHART, helm
from e2e.chart.observability import (
    empty_panel_queries,
    empty_variables,
    query,
    run_prometheus,
    unhealthy_rules,
    wait_for_scrapes,
)
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.cluster.tools import REPO_ROOT, free_port
from modelprefetch import __version__
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed
from modelprefetch.oci.reference import parse_reference

MODEL = "tiny"


@dataclass(frozen=True)
class Scenario:
    operator_namespace: str
    namespace: str
    metrics_url: str
    metrics_target: str


def _wait(what: str, check, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _scrape(url: str) -> dict[str, float]:
    """The operator's samples as {'name{label="v",...}': value}; empty if it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
    except OSError:
        return {}
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


async def _push_model(host: str, workdir: Path) -> str:
    model = workdir / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"architectures": ["TinyForCausalLM"]}))
    (model / "model.safetensors").write_bytes(b"\0" * 65536)
    ref = parse_reference(f"{host}/models/{MODEL}:v1")
    packed = await pack_directory(model, PackOptions(name=MODEL, format="safetensors"))
    client = RegistryClient(plain_http=True)
    async with client:
        await push_packed(client, ref, packed)
    return f"{host}/models/{MODEL}:v1"


def _operator_env(
    release: str, namespace: str, ports: dict[str, int], registry: str
) -> dict[str, str]:
    return {
        **os.environ,
        "MODELPREFETCH_NAMESPACE": namespace,
        "MODELPREFETCH_POD_NAME": f"{release}-local",
        "MODELPREFETCH_BIND_ADDRESS": "127.0.0.1",
        "MODELPREFETCH_METRICS_PORT": str(ports["metrics"]),
        "MODELPREFETCH_HEALTH_PORT": str(ports["health"]),
        "MODELPREFETCH_WEBHOOK_PORT": str(ports["webhook"]),
        "MODELPREFETCH_WEBHOOK_URL": f"https://127.0.0.1:{ports['webhook']}",
        "MODELPREFETCH_WEBHOOK_SERVICE": f"{release}-webhook",
        "MODELPREFETCH_WEBHOOK_CERT_SECRET": f"{release}-webhook-tls",
        "MODELPREFETCH_MUTATING_WEBHOOK_NAME": f"{release}-pods",
        "MODELPREFETCH_VALIDATING_WEBHOOK_NAME": f"{release}-modeldeployments",
        "MODELPREFETCH_LEASE_NAME": f"{release}-leader",
        "MODELPREFETCH_INSECURE_REGISTRIES": json.dumps([registry]),
        "MODELPREFETCH_LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="module")
def scenario(
    cluster: LocalCluster,
    registries: Registries,
    e2e_logdir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scenario]:
    """The chart and a local operator, one model reconciled onto two fake nodes."""
    suffix = uuid.uuid4().hex[:6]
    release, operator_ns, workload_ns = f"modelprefetch-{suffix}", f"mp-{suffix}", f"obs-{suffix}"
    registry = registries.crane.host
    reference = asyncio.run(_push_model(registry, tmp_path_factory.mktemp("model")))
    ports = {"metrics": free_port(), "health": free_port(), "webhook": free_port()}
    for ns in (operator_ns, workload_ns):
        cluster.kubectl("create", "namespace", ns)
    helm(cluster, "install", release, str(CHART), "--namespace", operator_ns,
         "--set", f"webhook.url=https://127.0.0.1:{ports['webhook']}",
         "--set", "replicaCount=1")  # fmt: skip
    nodes = [f"obs-{suffix}-{i}" for i in range(2)]
    for node in nodes:
        cluster.add_fake_node(node, runtime="containerd://2.2.1", labels={"obs": suffix})
    kubeconfig = service_account_kubeconfig(
        cluster, operator_ns, release, tmp_path_factory.mktemp("sa") / "kubeconfig"
    )
    log = (e2e_logdir / f"operator-observability-{suffix}.log").open("w")
    operator = subprocess.Popen(
        [sys.executable, "-m", "modelprefetch", "run", "--kubeconfig", str(kubeconfig)],
        env=_operator_env(release, operator_ns, ports, registry), cwd=REPO_ROOT,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    metrics_url = f"http://127.0.0.1:{ports['metrics']}/metrics"
    try:
        _wait("operator readiness", lambda: _scrape(metrics_url))
        _wait("webhook caBundle", lambda: get_ca_bundle(cluster, f"{release}-pods"))
        md = {
            "apiVersion": "modelprefetch.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": MODEL, "namespace": workload_ns},
            "spec": {"model": {"reference": reference}, "nodes": {"nodeSelector": {"obs": suffix}}},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(md))
        ready = (
            f'modelprefetch_model_nodes{{model="{MODEL}",namespace="{workload_ns}",state="ready"}}'
        )
        _wait("both nodes ready", lambda: _scrape(metrics_url).get(ready) == 2, timeout=180)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "server", "namespace": workload_ns,
                         "labels": {"modelprefetch.io/model": MODEL}},
            "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]},
        }  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
        yield Scenario(operator_ns, workload_ns, metrics_url, f"127.0.0.1:{ports['metrics']}")
    finally:
        operator.terminate()
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            operator.kill()
        log.close()
        cluster.kubectl("delete", "namespace", workload_ns, "--wait=false", check=False)
        helm(cluster, "uninstall", release, "--namespace", operator_ns, check=False)
        cluster.kubectl("delete", "namespace", operator_ns, "--wait=false", check=False)
        for node in nodes:
            cluster.kubectl("delete", "node", node, "--wait=false", check=False)


def service_account_kubeconfig(
    cluster: LocalCluster, namespace: str, name: str, path: Path
) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount (its RBAC only)."""
    token = cluster.kubectl("create", "token", name, "-n", namespace, "--duration=2h")
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "user", "user": {"token": token.stdout.strip()}}]
    path.write_text(yaml.safe_dump(config))
    return path


def get_ca_bundle(cluster: LocalCluster, name: str) -> str:
    out = cluster.kubectl("get", "mutatingwebhookconfiguration", name, "-o",
                          "jsonpath={.webhooks[0].clientConfig.caBundle}", check=False)  # fmt: skip
    return out.stdout.strip()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """Debian's Prometheus scraping the operator every second."""
    async with run_prometheus([scenario.metrics_target], tmp_path_factory.mktemp("prom")) as url:
        await wait_for_scrapes(url, 3)
        yield url


@pytest.mark.asyncio(loop_scope="module")
async def test_prometheus_scrapes_the_operator(prometheus: str) -> None:
    """The operator target is up and exposes its build info to Prometheus."""
    async with aiohttp.ClientSession() as session:
        up = await query(session, prometheus, "up")
        info = await query(session, prometheus, "modelprefetch_build_info")
    assert [float(r["value"][1]) for r in up["data"]["result"]] == [1.0]
    assert [r["metric"]["version"] for r in info["data"]["result"]] == [__version__]


@pytest.mark.asyncio(loop_scope="module")
async def test_every_panel_query_returns_a_series(prometheus: str, scenario: Scenario) -> None:
    """Against the scraped operator, every panel query of every dashboard returns data."""
    empty = await empty_panel_queries(prometheus, scenario.namespace, MODEL)
    assert not empty, "panels without data:\n" + "\n".join(empty)


@pytest.mark.asyncio(loop_scope="module")
async def test_template_variables_list_the_model(prometheus: str, scenario: Scenario) -> None:
    """The per-model dashboard's namespace and model variables list the live model."""
    assert await empty_variables(prometheus, scenario.namespace) == []


def test_labelled_pod_went_through_the_chart_webhook(
    cluster: LocalCluster, scenario: Scenario
) -> None:
    """The chart's mutating webhook (caBundle patched by the operator) added the model volume."""
    pod = json.loads(cluster.kubectl("get", "pod", "server", "-n", scenario.namespace,
                                     "-o", "json").stdout)  # fmt: skip
    assert [v for v in pod["spec"].get("volumes", []) if "image" in v]


@pytest.mark.asyncio(loop_scope="module")
async def test_alert_rules_evaluate_without_errors(prometheus: str) -> None:
    """Prometheus evaluates every alert rule on the scraped data without an error."""
    await asyncio.sleep(2)  # evaluation_interval is 1s: let every group run once
    assert await unhealthy_rules(prometheus) == []
