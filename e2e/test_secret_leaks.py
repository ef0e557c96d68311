"""No secret value of the tests reaches anything the e2e run wrote.

Collected last in the session (e2e/conftest.py moves it), so it sees what every earlier
test made the operator and the cluster write: the log folder of the session (the
operator's logs, the restricted operator's, each component's and registry's), all
Events, every ModelDeployment's status, and the operator's /metrics. The needles are the
basic-auth registry's credential in each form a pull secret carries it
(e2e/secret_leaks.py; tests/test_secret_leaks.py proves the grep fails on a hit).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.operator_process import OperatorProcess
from e2e.secret_leaks import Leak, leaks_in_text, leaks_in_tree, scanned_files, secret_needles


@pytest.mark.runs_last
def test_no_secret_value_in_logs_events_statuses_or_metrics(
    cluster: LocalCluster, registries: Registries, operator: OperatorProcess, e2e_logdir: Path
) -> None:
    auth = registries.distribution_auth
    assert auth.username and auth.password
    needles = secret_needles(auth.host, auth.username, auth.password)
    leaks: list[Leak] = leaks_in_tree(e2e_logdir, needles)

    def kubectl_json(*what: str) -> str:
        return cluster.kubectl("get", *what, "-A", "-o", "json").stdout

    sources = {
        "events": kubectl_json("events"),
        "events.k8s.io": kubectl_json("events.events.k8s.io"),
        "modeldeployments": kubectl_json("modeldeployments"),
        "/metrics": operator.metrics(),
    }
    for where, text in sources.items():
        leaks += leaks_in_text(where, text.encode(), needles)
    files = scanned_files(e2e_logdir)
    assert operator.log in files, "the operator's log must be among what is searched"
    assert leaks == [], "secret values written by the e2e run:\n" + "\n".join(map(str, leaks))
