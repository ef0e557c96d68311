"""Fixtures for tests against a real Kubernetes.

With `--kubeconfig PATH` (or $KUBECONFIG) the suite uses that cluster, e.g. kind on a
laptop: it must run kwok managing nodes annotated `kwok.x-k8s.io/node=fake` for the fake
node tests. Otherwise a local cluster (etcd, apiserver, controller-manager, scheduler,
kwok) is started for the session from the binaries built by e2e/cluster/build.sh, and
stopped at the end. Local OCI registries always run on loopback.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.project_image import ProjectImage, build_and_push
from e2e.cluster.registries import Registries, start_registries
from e2e.cluster.tools import REPO_ROOT
from e2e.operator_process import OperatorProcess
from e2e.secret_leaks import SessionAudit


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kubeconfig", default=None, help="use this cluster instead of a local one")


# Tests that start real nodes (containerd/CRI-O + kubelet in network namespaces on this
# host) share host resources: under pytest-xdist they form one scope, so one worker runs
# them one after the other, while kwok-only modules run on the other workers. The scope
# is decided from the node id by our own scheduler: pytest 9.2 no longer lets pytest-xdist
# 3.8's `xdist_group` marker rename node ids, so that marker groups nothing.
REAL_NODE_SCOPE = "realnode"
REAL_NODE_PATHS = ("e2e/realnode/", "e2e/incluster/", "e2e/test_demo.py")


def xdist_scope(nodeid: str) -> str:
    """Every real-node test in one scope, each other e2e module in its own (its module
    fixtures are set up once), each unit test alone."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(REAL_NODE_PATHS):
        return REAL_NODE_SCOPE
    return path if path.startswith("e2e/") else nodeid


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: `-p no:xdist` runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class RealNodeScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return RealNodeScopeScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The real-node scope, the longest, is handed out first; a test marked realnode must
    live where the scheduler looks for real-node tests."""
    misplaced = [
        item.nodeid
        for item in items
        if item.get_closest_marker("realnode") is not None
        and xdist_scope(item.nodeid) != REAL_NODE_SCOPE
    ]
    if misplaced:
        raise pytest.UsageError(f"realnode tests outside {REAL_NODE_PATHS}: {misplaced}")
    items.sort(key=lambda item: xdist_scope(item.nodeid) != REAL_NODE_SCOPE)


@pytest.fixture(scope="session")
def e2e_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder for the session's cluster state; logs go to .tmp/e2e-logs for CI.

    Handed out as a short symlink (/tmp/mp-<hex>) to pytest's own temporary folder: a real
    node's Unix sockets live under it and a socket path may not exceed 104 bytes, which the
    pytest-xdist folders (.../pytest-N/popen-gwK/e2e0/...) would. pytest still owns and
    prunes the folder itself; only the link is removed here."""
    folder = tmp_path_factory.mktemp("e2e")
    link = Path(tempfile.gettempdir()) / f"mp-{uuid.uuid4().hex[:8]}"
    link.symlink_to(folder, target_is_directory=True)
    try:
        yield link
    finally:
        link.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def e2e_logdir() -> Path:
    """One log folder per test session (components, registries, the operator), kept after
    the run for debugging: .tmp/e2e-logs/<time>-<pid>, or $MODELPREFETCH_E2E_LOGS."""
    base = Path(os.environ.get("MODELPREFETCH_E2E_LOGS", REPO_ROOT / ".tmp" / "e2e-logs"))
    logdir = base / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    logdir.mkdir(parents=True, exist_ok=True)
    return logdir


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, e2e_workdir: Path, e2e_logdir: Path
) -> Iterator[LocalCluster]:
    """An admin handle on the cluster under test (local unless a kubeconfig is given)."""
    external = request.config.getoption("--kubeconfig") or os.environ.get("KUBECONFIG")
    if external:
        handle = LocalCluster(workdir=e2e_workdir / "external", logdir=e2e_logdir)
        handle.workdir.mkdir(parents=True, exist_ok=True)
        handle.kubeconfig.write_text(Path(external).read_text())
        yield handle
        return
    local = LocalCluster(workdir=e2e_workdir / "cluster", logdir=e2e_logdir)
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def registries(e2e_workdir: Path, e2e_logdir: Path) -> Iterator[Registries]:
    """distribution (plain and basic-auth; no referrers API) and crane (referrers API)."""
    regs = start_registries(e2e_workdir / "registries", e2e_logdir)
    try:
        yield regs
    finally:
        regs.stop()


@pytest.fixture(scope="session", autouse=True)
def secret_leak_audit(
    cluster: LocalCluster, registries: Registries, e2e_logdir: Path
) -> Iterator[SessionAudit]:
    """No secret value of the tests reaches anything this session made the operator and the
    cluster write: its log folder (the operator's logs, each component's and registry's),
    all Events, every ModelDeployment's status, and the operator's /metrics (captured by
    the `operator` fixture before it stops). Checked when the session ends, so it sees
    every test; each xdist worker checks its own session. The needles are the basic-auth
    registry's credential in each form a pull secret carries it (e2e/secret_leaks.py;
    tests/test_secret_leaks.py proves the grep fails on a hit)."""
    auth = registries.distribution_auth
    assert auth.username and auth.password
    audit = SessionAudit.for_credential(auth.host, auth.username, auth.password)
    yield audit

    def kubectl_json(*what: str) -> str:
        return cluster.kubectl("get", *what, "-A", "-o", "json", check=False).stdout

    live = {
        "events": kubectl_json("events"),
        "events.k8s.io": kubectl_json("events.events.k8s.io"),
        "modeldeployments": kubectl_json("modeldeployments"),
    }
    leaks = audit.leaks(e2e_logdir, live)
    assert leaks == [], "secret values written by the e2e run:\n" + "\n".join(map(str, leaks))


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def unique() -> str:
    """A short random suffix for cluster-scoped names."""
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="session")
def project_image(registries: Registries, e2e_logdir: Path) -> ProjectImage:
    """The project's Dockerfile built by `make image`'s script (hack/image.sh: cached, rebuilt
    only when a file that goes into the image changed) and pushed to the crane registry."""
    return build_and_push(registries.crane.host, log=e2e_logdir / "image-build.log")


@pytest.fixture(scope="session")
def operator(
    cluster: LocalCluster,
    registries: Registries,
    project_image: ProjectImage,
    e2e_logdir: Path,
    secret_leak_audit: SessionAudit,
) -> Iterator[OperatorProcess]:
    """The real operator with its webhooks, running against the session's cluster under the
    chart's own ServiceAccount. The session fails if the API server ever refused it
    anything: that proves the chart's RBAC is enough for everything the tests did."""
    # Holder pods run the project's image, pinned by digest (fake nodes never pull it).
    holder = {"MODELPREFETCH_HOLDER_IMAGE": project_image.reference}
    proc = OperatorProcess(
        cluster=cluster, registries=registries, logdir=e2e_logdir, extra_env=holder
    )
    proc.log.unlink(missing_ok=True)
    proc.install()
    proc.start()
    secret_leak_audit.require_file(proc.log)
    try:
        yield proc
        secret_leak_audit.capture("/metrics", proc.metrics())
    finally:
        proc.stop()
    refused = proc.forbidden_lines()
    assert not refused, "the operator was refused by RBAC:\n" + "\n".join(refused[:20])
