"""The chart as an OCI artifact (`helm package` + `helm push` to the local registry) and
`helm upgrade` from `oci://` to a new image tag: every pod admission tried during the
rollout is answered by the operator's webhook (maxUnavailable 0 + PDB keep a serving
replica behind the Service), and the release ends on the new tag with both replicas
Ready."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
import yaml

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.project_image import REPOSITORY, ProjectImage
from e2e.cluster.registries import Registries
from e2e.cluster.tools import tool_path
from e2e.incluster.helm import (
    CHART,
    DENIED_MISSING,
    NAMESPACE,
    RELEASE,
    Helm,
    admit_labelled_pod,
    diagnostics,
    is_ready,
    operator_pods,
)
from e2e.operator_tests.helpers import wait_for

pytestmark = pytest.mark.realnode

NEW_TAG = "upgrade"


def test_helm_upgrade_from_oci_to_a_new_tag_admits_during_rollout(
    installed: Helm,
    incluster: LocalCluster,
    registries: Registries,
    project_image: ProjectImage,
    workload_namespace: str,
) -> None:
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

    answers: list[str] = []
    stop = threading.Event()

    def admit_continuously() -> None:
        while not stop.is_set():
            answers.append(admit_labelled_pod(incluster, workload_namespace))
            stop.wait(0.2)

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
    answered = [a for a in answers if DENIED_MISSING.search(a)]
    print(
        f"\nhelm upgrade from oci:// -> new tag rolled out in {rollout:.1f}s;"
        f" admission answered by the webhook {len(answered)}/{len(answers)}"
    )
    assert len(answers) >= 10, f"only {len(answers)} admissions tried during the rollout"
    failed = [a for a in answers if not DENIED_MISSING.search(a)]
    assert not failed, f"{len(failed)}/{len(answers)} admissions failed: {failed[:3]}"
    status = installed.run("status", RELEASE, "-n", NAMESPACE, "-o", "yaml")
    assert yaml.safe_load(status.stdout)["version"] == 2, "the release is not at revision 2"
