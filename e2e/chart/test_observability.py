"""A real Prometheus (Debian's) scrapes the real operator; every dashboard panel has data.

Uses the session's operator (e2e/conftest.py `operator`: `modelprefetch run` under the
chart's ServiceAccount). A tiny ModelPack is pushed to the local registry and signed
with cosign (spec.model.verify: the verification panels need a verified model), two fake
nodes are targeted, a labelled pod goes through the mutating webhook, and Prometheus
scrapes the operator's /metrics every second with the chart's alert rules loaded.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

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
from e2e.cosign import Cosign
from e2e.kubelet_events import post_pulled
from e2e.operator_process import OperatorProcess
from modelprefetch import __version__
from modelprefetch.oci.client import RegistryClient
from modelprefetch.oci.pack import PackOptions, pack_directory, push_packed
from modelprefetch.oci.reference import parse_reference

MODEL = "tiny"


@dataclass(frozen=True)
class Scenario:
    namespace: str
    metrics_target: str


def _wait(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _samples(operator: OperatorProcess) -> dict[str, float]:
    """The operator's samples as {'name{label="v",...}': value}."""
    samples = {}
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


async def _push_model(host: str, workdir: Path, repository: str) -> tuple[str, str]:
    model = workdir / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"architectures": ["TinyForCausalLM"]}))
    (model / "model.safetensors").write_bytes(b"\0" * 65536)
    reference = f"{host}/{repository}:v1"
    packed = await pack_directory(model, PackOptions(name=MODEL, format="safetensors"))
    client = RegistryClient(plain_http=True)
    async with client:
        pushed = await push_packed(client, parse_reference(reference), packed)
    return reference, pushed.digest


def _signed(workdir: Path, repository: str, digest: str) -> str:
    """cosign signs the model (key made here); the public key's PEM, for spec.model.verify,
    so the verification panels have a verified model to show."""
    cosign = Cosign(workdir)
    keys = cosign.generate_key_pair("signer")
    cosign.sign(keys, f"{repository}@{digest}")
    return keys.public_pem


def _pull_reported(cluster: LocalCluster, operator: OperatorProcess, namespace: str) -> None:
    """kwok posts no Events: play the kubelet's Pulled event on one holder pod (the pull
    panels read it), then touch the pod so the operator looks again."""
    listed = cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
    holder = json.loads(listed)["items"][0]
    image = next(v["image"]["reference"] for v in holder["spec"]["volumes"] if "image" in v)
    post_pulled(cluster, holder, image, datetime.now(UTC), seconds=2.5, size_bytes=66000)
    name = holder["metadata"]["name"]
    cluster.kubectl("annotate", "pod", name, "-n", namespace, "test/pulled=1", "--overwrite")
    pulled = f'modelprefetch_pull_bytes_count{{model="{MODEL}",namespace="{namespace}"}}'
    _wait("the pull in the metrics", lambda: _samples(operator).get(pulled) == 1)


@pytest.fixture(scope="module")
def scenario(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scenario]:
    """One signed model, verified and reconciled by the session operator onto two fake
    nodes, one pod admitted."""
    suffix = uuid.uuid4().hex[:6]
    namespace = f"obs-{suffix}"
    reference, digest = asyncio.run(
        _push_model(registries.crane.host, tmp_path_factory.mktemp("model"), f"obs-{suffix}/tiny")
    )
    public_pem = _signed(tmp_path_factory.mktemp("cosign"), reference.rsplit(":", 1)[0], digest)
    cluster.kubectl("create", "namespace", namespace)
    signers = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "signers", "namespace": namespace},
        "data": {"cosign.pub": public_pem},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(signers))
    nodes = [f"obs-{suffix}-{i}" for i in range(2)]
    for node in nodes:
        cluster.add_fake_node(node, runtime="containerd://2.2.1", labels={"obs": suffix})
    try:
        md = {
            "apiVersion": "modelprefetch.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": MODEL, "namespace": namespace},
            "spec": {
                "model": {
                    "reference": reference,
                    "verify": {"publicKeys": [{"configMapName": "signers"}]},
                },
                "nodes": {"nodeSelector": {"obs": suffix}},
            },
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(md))
        ready = (
            f'modelprefetch_model_nodes{{model="{MODEL}",namespace="{namespace}",state="ready"}}'
        )
        _wait("both nodes ready", lambda: _samples(operator).get(ready) == 2, timeout=180)
        verified = f'modelprefetch_model_verified{{model="{MODEL}",namespace="{namespace}"}}'
        assert _samples(operator).get(verified) == 1  # the verification panels have data
        _pull_reported(cluster, operator, namespace)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "server",
                "namespace": namespace,
                "labels": {"modelprefetch.io/model": MODEL},
            },
            "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
        yield Scenario(namespace, f"127.0.0.1:{operator.metrics_port}")
    finally:
        # The ModelDeployment first, while the operator can still post events there; the
        # pod "server" still uses it, so the deletion guard is overridden on purpose.
        cluster.kubectl("annotate", "modeldeployment", MODEL, "-n", namespace,
                        "modelprefetch.io/allow-delete-in-use=true", check=False)  # fmt: skip
        cluster.kubectl("delete", "modeldeployment", MODEL, "-n", namespace, "--timeout=90s",
                        check=False)  # fmt: skip
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        for node in nodes:
            cluster.kubectl("delete", "node", node, "--wait=false", check=False)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(
    scenario: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """Debian's Prometheus scraping the operator every second, with the alert rules."""
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


@pytest.mark.asyncio(loop_scope="module")
async def test_alert_rules_evaluate_without_errors(prometheus: str) -> None:
    """Prometheus evaluates every alert rule on the operator's data without an error."""
    await asyncio.sleep(2)  # evaluation_interval is 1s: let every group run once
    assert await unhealthy_rules(prometheus) == []
