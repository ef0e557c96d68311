"""The chart as an OCI artifact (`helm package` + `helm push` to the local registry) and
`helm upgrade` from `oci://` to a new image tag: pods labelled for the suite's real
ModelDeployment are created every 0.3 s during the whole rollout, and every one is admitted
AND mutated (its image volume injected) by the operator's webhook: the PDB exists, the
Deployment's maxUnavailable is 0, and the ready replicas never drop below 1 (sampled with
each creation). The release ends on the new tag with both replicas Ready. The pods stay
Pending (they tolerate no node's taint) and are deleted at the end."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.project_image import REPOSITORY, ProjectImage
from e2e.cluster.registries import Registries
from e2e.cluster.tools import tool_path
from e2e.incluster.helm import (
    CHART,
    FULLNAME,
    MODEL_LABEL,
    NAMESPACE,
    RELEASE,
    Helm,
    diagnostics,
    is_ready,
    kubectl_json,
    operator_pods,
)
from e2e.incluster.prefetch import MODEL_NAME, Prefetched
from e2e.operator_tests.helpers import wait_for

pytestmark = pytest.mark.realnode

NEW_TAG = "upgrade"
INTERVAL = 0.3  # between pod creations
MOUNT = f"/models/{MODEL_NAME}"  # the ModelDeployment's mount.path (prefetch.py)


def _create_labelled_pod(cluster: LocalCluster, namespace: str, run: str) -> str | None:
    """Create one pod asking for the model; None when it was admitted and mutated, else
    what went wrong (a webhook failure under failurePolicy Fail, or no injection)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "during-upgrade-",
            "namespace": namespace,
            "labels": {MODEL_LABEL: MODEL_NAME, "e2e-upgrade": run},
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }
    out = cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(pod), check=False)
    if out.returncode != 0:
        return out.stderr.strip() or f"kubectl exited {out.returncode}"
    created = json.loads(out.stdout)["spec"]
    volumes = [v for v in created.get("volumes") or [] if "image" in v]
    mounts = [
        m for m in created["containers"][0].get("volumeMounts") or [] if m["mountPath"] == MOUNT
    ]
    return None if volumes and mounts else f"admitted but not mutated: {created}"


def _ready_replicas(cluster: LocalCluster) -> int:
    out = cluster.kubectl("get", "deployment", "-n", NAMESPACE, FULLNAME, "-o", "json", check=False)
    return (
        int(json.loads(out.stdout)["status"].get("readyReplicas") or 0)
        if out.returncode == 0
        else -1
    )


def test_helm_upgrade_from_oci_to_a_new_tag_admits_during_rollout(
    installed: Helm,
    incluster: LocalCluster,
    registries: Registries,
    project_image: ProjectImage,
    prefetched: Prefetched,
) -> None:
    deployment = kubectl_json(incluster, "get", "deployment", "-n", NAMESPACE, FULLNAME)
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, deployment
    pdb = kubectl_json(incluster, "get", "pdb", "-n", NAMESPACE, FULLNAME)
    assert pdb["spec"]["minAvailable"] == 1, pdb["spec"]
    host = registries.crane.host
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    package_dir = incluster.workdir / "chart-package"
    package_dir.mkdir(exist_ok=True)
    installed.run("package", str(CHART), "-d", str(package_dir))
    tgz = package_dir / f"modelprefetch-{version}.tgz"
    assert tgz.is_file(), sorted(package_dir.iterdir())
    pushed = installed.run("push", str(tgz), f"oci://{host}/charts", "--plain-http")
    assert "Digest: sha256:" in pushed.stdout + pushed.stderr, pushed.stdout + pushed.stderr
    shown = installed.run(
        "show", "chart", f"oci://{host}/charts/modelprefetch", "--version", version, "--plain-http"
    )
    assert yaml.safe_load(shown.stdout)["version"] == version

    repository = f"{host}/{REPOSITORY}"
    subprocess.run(
        [
            str(tool_path("crane")),
            "copy",
            "--insecure",
            project_image.reference,
            f"{repository}:{NEW_TAG}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )

    run = uuid.uuid4().hex[:6]
    answers: list[str | None] = []
    ready: list[int] = []
    stop = threading.Event()

    def admit_continuously() -> None:
        while not stop.is_set():
            answers.append(_create_labelled_pod(incluster, prefetched.namespace, run))
            ready.append(_ready_replicas(incluster))
            stop.wait(INTERVAL)

    admitter = threading.Thread(target=admit_continuously, daemon=True)
    admitter.start()
    started = time.monotonic()
    try:
        installed.run(
            "upgrade",
            RELEASE,
            f"oci://{host}/charts/modelprefetch",
            "--version",
            version,
            "--plain-http",
            "-n",
            NAMESPACE,
            "--reuse-values",  # the install's values (image repository, toleration, ...)
            "--set",
            f"image.tag={NEW_TAG}",
            "--set",
            "image.digest=",
        )

        def rolled() -> bool:
            pods = operator_pods(incluster)
            return len(pods) == 2 and all(
                is_ready(p) and p["spec"]["containers"][0]["image"] == f"{repository}:{NEW_TAG}"
                for p in pods
            )

        try:
            wait_for("both replicas Ready on the new tag", rolled, timeout=300, interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnostics(incluster)}") from None
        rollout = time.monotonic() - started
        time.sleep(2)  # a few admissions after the rollout too
    finally:
        stop.set()
        admitter.join(timeout=30)
        incluster.kubectl(
            "delete", "pods", "-n", prefetched.namespace, "-l", f"e2e-upgrade={run}",
            "--wait=false", check=False,
        )  # fmt: skip
    failed = [a for a in answers if a is not None]
    ok = len(answers) - len(failed)
    print(
        f"\nhelm upgrade from oci:// -> new tag rolled out in {rollout:.1f}s; pods created"
        f" during it: {ok}/{len(answers)} admitted and mutated"
        f" ({100 * ok / max(len(answers), 1):.0f}%, {len(answers) / rollout:.1f}/s);"
        f" ready replicas min {min(ready, default=-1)}"
    )
    assert len(answers) >= 10, f"only {len(answers)} pods created during the rollout"
    assert not failed, f"{len(failed)}/{len(answers)} pods not admitted+mutated: {failed[:3]}"
    assert min(ready) >= 1, f"ready replicas dropped to {min(ready)} during the rollout: {ready}"
    status = installed.run("status", RELEASE, "-n", NAMESPACE, "-o", "yaml")
    assert yaml.safe_load(status.stdout)["version"] == 2, "the release is not at revision 2"
