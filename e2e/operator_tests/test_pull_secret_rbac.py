"""The chart's default RBAC with rbac.secretNamespaces, against the real authorizer: a pull
secret in a listed namespace works, one elsewhere is PullSecretForbidden with what to set,
and listing the namespace (the advice of that message) heals it.

The session's operator runs with the cluster-wide opt-in (its tests use fresh namespaces),
so this test stops it and runs its own process under the same ServiceAccount with the
chart's RBAC rendered for one listed namespace. That process logs to its own file: the
refusal it meets on purpose stays out of the session operator's never-refused check, and
it is checked here instead to be only about Secrets.
"""

from __future__ import annotations

from dataclasses import replace
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
    wait_ready,
    wait_reason,
)
from e2e.secret_leaks import dockerconfigjson, pull_secret

SECRET = "regcred"


def test_pull_secrets_only_in_listed_namespaces(
    cluster: LocalCluster,
    registries: Registries,
    operator: OperatorProcess,
    unique: str,
    tmp_path: Path,
) -> None:
    auth = registries.distribution_auth
    assert auth.username and auth.password
    reference = f"{auth.host}/models/rbac-{unique}:v1"
    push_model(
        make_model_dir(tmp_path / "m", seed=unique),
        reference,
        username=auth.username,
        password=auth.password,
    )
    listed, unlisted = f"ps-listed-{unique}", f"ps-unlisted-{unique}"
    config = dockerconfigjson(auth.host, auth.username, auth.password)
    for namespace in (listed, unlisted):
        cluster.kubectl("create", "namespace", namespace)
        apply(cluster, pull_secret(SECRET, namespace, config))
    pool = f"rbac-{unique}"
    nodes = [f"rbac-{unique}-0"]
    make_pool(cluster, nodes, pool)
    logdir = operator.logdir / f"operator-rbac-{unique}"
    logdir.mkdir()
    restricted = replace(
        operator,
        logdir=logdir,
        proc=None,
        chart_sets=(f"rbac.secretNamespaces={{{listed}}}",),
        extra_env={**operator.extra_env, "MODELPREFETCH_POD_NAME": "e2e-rbac"},
    )
    operator.stop()  # SIGTERM releases the Lease: the restricted process leads at once
    try:
        restricted.install()  # the chart's default RBAC + one listed namespace
        restricted.start()
        for namespace in (listed, unlisted):
            model = {"pullSecrets": [{"name": SECRET}]}
            apply(cluster, model_deployment("private", namespace, reference, pool, model=model))

        wait_ready(cluster, listed, "private", "1/1")
        cond = wait_reason(cluster, unlisted, "private", "Resolved", "PullSecretForbidden")
        assert cond["status"] == "False"
        for needed in (f"{unlisted}/{SECRET}", "rbac.secretNamespaces"):
            assert needed in cond["message"], cond
        assert condition(get_md(cluster, unlisted, "private"), "Ready")["status"] == "False"

        # The message's advice: list the namespace, and the same ModelDeployment heals.
        restricted.chart_sets = (f"rbac.secretNamespaces={{{listed},{unlisted}}}",)
        restricted.install()
        wait_ready(cluster, unlisted, "private", "1/1", timeout=180)
        refused = restricted.forbidden_lines()
        off_topic = [line for line in refused if 'resource "secrets"' not in line]
        assert off_topic == [], "refused something besides Secrets:\n" + "\n".join(off_topic)
    finally:
        restricted.stop()
        operator.install()  # back to the session's RBAC (the cluster-wide opt-in)
        operator.start()
        delete_nodes(cluster, nodes)
        for namespace in (listed, unlisted):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
