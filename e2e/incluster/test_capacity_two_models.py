"""Two models that fit one at a time, not together, and DiskPressure, on a real node
(containerd 2.2.9 + kubelet 1.35) whose image filesystem is a 1 GiB loop-mounted ext4;
the operator runs in-cluster as the chart installs it (capacity check on). The kwok
version with a fake kubelet is e2e/operator_tests/test_capacity.py.

1. Each model costs ~0.65x the room left below the limit (80% = min(imageGC high 85%,
   100% - eviction 15%) - headroom 5%): the first is admitted and turns Ready; the
   second waits with InsufficientStorage and the numbers, and nothing is evicted or
   collected. The first ModelDeployment is deleted: its holder goes, its image stays on
   disk (the second still waits: the kubelet counts it); the image is removed through
   containerd, as the kubelet's image GC would (which only runs every 5 minutes and
   above 85%), and the second is admitted and turns Ready.
2. DiskPressure set by the kubelet itself: everything deleted, the filesystem filled
   below the node's eviction threshold (imagefs.available 1% on test nodes) -> the kubelet
   reports DiskPressure (and reclaims the unused images). The filler is removed, the
   kubelet keeps the condition for its pressure transition period (5 min): a third model
   that fits easily is not admitted, reason DiskPressure.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.nodes import RealNodes
from e2e.cluster.project_image import ProjectImage
from e2e.cluster.registries import Registries
from e2e.incluster.helm import Helm
from e2e.incluster.smallnode import (
    evicted,
    fresh_namespace,
    model_deployment,
    node_conditions,
    node_prefetch_keys,
    settled_used,
    small_node,
    summary_fs,
    warm_up,
)
from e2e.models import make_model_dir, push_model
from e2e.operator_tests.helpers import apply, get_md, wait_for, wait_ready
from e2e.realnode.helpers import RealNodeEnv, make_big_model

MiB = 1024 * 1024
IMAGE_FS_BYTES = 1024 * MiB
LIMIT_PERCENT = 80  # the chart's defaults: min(85, 100 - 15) - 5
STATS_TTL_SECONDS = 15  # the chart's capacity.statsTTLSeconds
HOLDER = "app.kubernetes.io/component=prefetch-holder"

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def small(
    incluster_nodes: RealNodes,
    installed: Helm,
    pod_registry: str,
    registries: Registries,
    project_image: ProjectImage,
) -> Iterator[RealNodeEnv]:
    with small_node(
        incluster_nodes, pod_registry, registries, project_image, IMAGE_FS_BYTES
    ) as env:
        yield env


@pytest.fixture
def cap_namespace(small: RealNodeEnv) -> Iterator[str]:
    with fresh_namespace(small) as name:
        yield name


def _waiting(env: RealNodeEnv, namespace: str, name: str) -> dict[str, Any] | None:
    status = get_md(env.cluster, namespace, name).get("status") or {}
    entries = [w for w in status.get("storageWaitingNodes") or [] if w["name"] == env.node.name]
    return entries[0] if entries else None


def _holders(env: RealNodeEnv, namespace: str, name: str) -> list[str]:
    selector = f"{HOLDER},modelprefetch.io/modeldeployment={name}"
    out = env.cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "name")
    return out.stdout.split()


def _image_of(env: RealNodeEnv, namespace: str, name: str) -> str:
    return str(get_md(env.cluster, namespace, name)["status"]["resolved"]["mounts"][0]["reference"])


def _remove_image(env: RealNodeEnv, image: str) -> None:
    """What the kubelet's image GC does to an unused image: CRI RemoveImage, then
    containerd's garbage collection of its blobs and snapshots (synchronous here)."""
    digest = image.rsplit("@", 1)[-1]
    refs = [r for r in env.node.image_refs() if digest in r]
    assert refs, f"{image} is not on {env.node.name}"
    for ref in refs:
        env.node.ctr("images", "rm", "--sync", ref)


def test_second_model_waits_until_the_first_is_gone(
    small: RealNodeEnv, pod_registry: str, cap_namespace: str, tmp_path: Path, e2e_logdir: Path
) -> None:
    env, namespace, host = small, cap_namespace, small.registries.crane.host
    started = time.monotonic()
    warm_up(env, namespace)
    fs = summary_fs(env)
    room = fs["capacity"] * LIMIT_PERCENT // 100 - (fs["capacity"] - fs["available"])
    size = int(room * 0.65) // 2  # a tar-layer model costs 2x on containerd
    figures: dict[str, Any] = {"beforeFirst": {**fs, "roomBelowLimit": room}, "modelBytes": size}
    assert size > 32 * MiB, figures  # the node has room for a real model at all
    refs = {}
    for name in ("first", "second"):
        refs[name] = f"{host}/models/two-{name}-{namespace}:v1"
        push_model(make_big_model(tmp_path / name, size), refs[name])
    md = {
        name: model_deployment(name, namespace, ref.replace(host, pod_registry), env.node)
        for name, ref in refs.items()
    }

    apply(env.cluster, md["first"])
    wait_ready(env.cluster, namespace, "first", "1/1", timeout=300)
    images_before = env.node.image_refs()
    # At once: the operator re-reads the node's stats when a pull finished on it (its
    # cached stats may predate the first model's bytes, no longer counted in flight).
    apply(env.cluster, md["second"])
    waiting = wait_for("the second model waiting", lambda: _waiting(env, namespace, "second"), 120)
    assert waiting["reason"] == "InsufficientStorage", waiting
    message = waiting["message"]
    assert "Model needs" in message and "over the limit" in message, message
    figures["secondRefused"] = {**summary_fs(env), "message": message}
    time.sleep(STATS_TTL_SECONDS + 2)  # more passes: still waiting, nothing pulled or lost
    assert (_waiting(env, namespace, "second") or {}).get("reason") == "InsufficientStorage"
    assert len(node_prefetch_keys(env)) == 1, node_prefetch_keys(env)
    assert not _holders(env, namespace, "second")
    assert get_md(env.cluster, namespace, "first")["status"]["nodes"]["ready"] == 1
    assert not evicted(env)
    assert images_before <= env.node.image_refs()  # no image collected

    # The first goes: its holder and label go, its image stays until something removes it.
    first_image = _image_of(env, namespace, "first")
    env.cluster.kubectl("delete", "modeldeployment", "first", "-n", namespace)
    wait_for("the first holder gone", lambda: not _holders(env, namespace, "first"), 120)
    wait_for("one label less", lambda: not node_prefetch_keys(env), 60)
    time.sleep(STATS_TTL_SECONDS + 2)
    assert (_waiting(env, namespace, "second") or {}).get("reason") == "InsufficientStorage"
    used = settled_used(env)
    _remove_image(env, first_image)
    # Its blobs and snapshots go once nothing references them (the kubelet removes the
    # holder's dead container within its container GC minute).
    wait_for(
        "the first model's bytes freed",
        lambda: used - settled_used(env) > int(1.8 * size),  # blob + snapshot: ~2x
        150,
        interval=5,
    )
    figures["freedByImageRemoval"] = used - settled_used(env)
    wait_ready(env.cluster, namespace, "second", "1/1", timeout=300)
    assert _waiting(env, namespace, "second") is None
    assert not evicted(env)
    figures["twoModelsSeconds"] = round(time.monotonic() - started, 1)
    print("\ntwo models on the small real node:", json.dumps(figures, indent=1))
    (e2e_logdir / "capacity-two-models.json").write_text(json.dumps(figures, indent=1))


def test_disk_pressure_from_the_kubelet_stops_admissions(
    small: RealNodeEnv, pod_registry: str, cap_namespace: str, tmp_path: Path
) -> None:
    env, namespace, host = small, cap_namespace, small.registries.crane.host
    started = time.monotonic()
    # Nothing of the previous test runs on the node any more (namespaces deleted).
    wait_for("no holder pods on the node", lambda: not _pods_on_node(env), 180)
    assert node_conditions(env)["DiskPressure"] == "False"
    filler = env.node.containerd_root / "filler"
    stat = os.statvfs(env.node.containerd_root)
    available = stat.f_bavail * stat.f_frsize
    with filler.open("wb") as out:
        os.posix_fallocate(out.fileno(), 0, max(available - 4 * MiB, 0))
    try:
        wait_for(
            "the kubelet reports DiskPressure",
            lambda: node_conditions(env)["DiskPressure"] == "True",
            120,
        )
    finally:
        filler.unlink()
    fs = summary_fs(env)
    reference = f"{host}/models/dp-{namespace}:v1"
    push_model(make_model_dir(tmp_path / "dp", seed=namespace), reference)
    dp = model_deployment("dp", namespace, reference.replace(host, pod_registry), env.node)
    apply(env.cluster, dp)
    waiting = wait_for("DiskPressure refusal", lambda: _waiting(env, namespace, "dp"), 120)
    assert waiting["reason"] == "DiskPressure", waiting
    time.sleep(STATS_TTL_SECONDS + 2)  # more passes while the kubelet keeps the condition
    assert node_conditions(env)["DiskPressure"] == "True"
    assert (_waiting(env, namespace, "dp") or {}).get("reason") == "DiskPressure"
    assert not node_prefetch_keys(env)
    assert not _holders(env, namespace, "dp")
    print(
        f"\nDiskPressure on {env.node.name} (kubelet-set; the filesystem has"
        f" {fs['available'] / MiB:.0f} MiB free again): {waiting['message']}"
        f" ({time.monotonic() - started:.1f}s)"
    )


def _pods_on_node(env: RealNodeEnv) -> list[str]:
    out = env.cluster.kubectl(
        "get", "pods", "-A", "--field-selector", f"spec.nodeName={env.node.name}", "-o", "name"
    )
    return out.stdout.split()
