"""Capacity before pulling on a real node (containerd 2.2.9 + kubelet 1.35) whose image
filesystem is small: containerd's root on a loop-mounted ext4 of IMAGE_FS_BYTES.

In the in-cluster suite: the operator runs as the chart installs it (capacity check on
by default, RBAC `nodes/stats` only) in pods on the real nodes, and reads each kubelet's
Summary API on the kubelet port of the node's address (the host has no route to the
nodes, the pods have: this is the production path). The kubelets run with
authentication webhook and authorization mode Webhook (e2e/cluster/nodeconfig.py).

The test measures the storage factor per layer kind as the filesystem's own growth
(statvfs of the mount, what the kubelet reports): the derived OCI image (uncompressed
tar layers, pulled by the holder) and a raw ModelPack pulled as an image volume. A model
that fits is pulled; one that does not is refused with the numbers, and nothing is
evicted or garbage-collected. The figures go to stdout and to capacity-realnode.json in
the session's log folder.
"""

from __future__ import annotations

import json
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
    node_prefetch_keys,
    settled_used,
    small_node,
    summary_fs,
    warm_up,
)
from e2e.models import push_model
from e2e.operator_tests.helpers import apply, get_md, wait_for, wait_ready
from e2e.realnode.helpers import RealNodeEnv, make_big_model, mount_pod, wait_terminated

MiB = 1024 * 1024
IMAGE_FS_BYTES = 1024 * MiB
FIT_MODEL_BYTES = 48 * MiB  # three 16 MiB shards of random bytes

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def small(
    incluster_nodes: RealNodes,
    installed: Helm,
    pod_registry: str,
    registries: Registries,
    project_image: ProjectImage,
) -> Iterator[RealNodeEnv]:
    """A third real node with a 1 GiB image filesystem, labelled for this module only."""
    with small_node(
        incluster_nodes, pod_registry, registries, project_image, IMAGE_FS_BYTES
    ) as env:
        yield env


@pytest.fixture
def cap_namespace(small: RealNodeEnv) -> Iterator[str]:
    with fresh_namespace(small) as name:
        yield name


def test_fits_is_pulled_too_big_is_refused_nothing_evicted(
    small: RealNodeEnv,
    pod_registry: str,
    cap_namespace: str,
    tmp_path: Path,
    e2e_logdir: Path,
) -> None:
    """Storage factors measured; the model that fits is Ready; the one that does not fit
    beside it (though it would alone) is refused with InsufficientStorage and the
    numbers, and waits; no image or pod is lost."""
    env, namespace, host = small, cap_namespace, small.registries.crane.host
    # The operator pods resolve models at the same registry through the LAN relay.
    pod_host = pod_registry
    figures: dict[str, Any] = {"imageFsBytes": IMAGE_FS_BYTES}
    warm_up(env, namespace)
    images_before = env.node.image_refs()

    # 1. A model that fits: admitted, pulled (derived OCI image, tar layers), Ready.
    fit_ref = f"{host}/models/cap-fit-{namespace}:v1"
    push_model(make_big_model(tmp_path / "fit", FIT_MODEL_BYTES), fit_ref)
    used0 = settled_used(env)
    apply(
        env.cluster, model_deployment("fit", namespace, fit_ref.replace(host, pod_host), env.node)
    )
    md = wait_ready(env.cluster, namespace, "fit", "1/1", timeout=300)
    size = int(md["status"]["resolved"]["sizeBytes"])
    used1 = settled_used(env)
    figures["fit"] = {"sizeBytes": size, "usedBefore": used0, "usedAfter": used1}
    figures["factorTar"] = round((used1 - used0) / size, 3)
    assert not md["status"].get("storageWaitingNodes"), md["status"]

    # 2. The raw layer kind: a raw ModelPack pulled by containerd as an image volume
    # (downloads every blob, mounts an empty directory).
    raw_ref = f"{host}/models/cap-raw-{namespace}:v1"
    push_model(make_big_model(tmp_path / "raw", FIT_MODEL_BYTES), raw_ref, raw=True)
    env.cluster.kubectl(
        "create", "-f", "-", input=json.dumps(mount_pod(env, namespace, "raw", raw_ref))
    )
    wait_terminated(env, namespace, "raw", 300)
    used2 = settled_used(env)
    figures["factorRaw"] = round((used2 - used1) / FIT_MODEL_BYTES, 3)

    # 3. A model that does not fit: more than the room left below 80% (85% GC high,
    # 15% eviction, 5% headroom) at 2x, though its download alone would fit.
    fs = summary_fs(env)
    room = fs["capacity"] * 80 // 100 - (fs["capacity"] - fs["available"])
    big = room // 2 + 16 * MiB
    assert room > 0 and big < fs["available"], (fs, room)
    # It fits one at a time: without the two models above (their bytes, used2 - used0,
    # back in the room) its 2x would be below the limit. So this is also the case "two
    # models that fit one at a time but not together: the second waits".
    room_alone = room + (used2 - used0)
    assert 2 * big <= room_alone, (big, room, room_alone)
    figures["beforeTooBig"] = {
        **fs, "roomBelowLimit": room, "modelBytes": big, "roomWithoutTheOthers": room_alone
    }  # fmt: skip
    big_ref = f"{host}/models/cap-big-{namespace}:v1"
    push_model(make_big_model(tmp_path / "big", big), big_ref)
    apply(
        env.cluster,
        model_deployment("toobig", namespace, big_ref.replace(host, pod_host), env.node),
    )

    def refused() -> dict[str, Any] | None:
        status = get_md(env.cluster, namespace, "toobig").get("status") or {}
        waiting = status.get("storageWaitingNodes") or []
        return waiting[0] if waiting and waiting[0]["reason"] == "InsufficientStorage" else None

    waiting = wait_for("the big model refused", refused, 120)
    figures["decision"] = waiting
    message = waiting["message"]
    assert waiting["name"] == env.node.name
    assert "Model needs" in message and "capacity" in message and "over the limit" in message
    events = env.cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=InsufficientStorage",
        "-o", "json",
    ).stdout  # fmt: skip
    assert json.loads(events)["items"], "no InsufficientStorage Event"
    time.sleep(20)  # more passes (poll 15s): still refused, nothing pulled
    assert refused() is not None
    assert len(node_prefetch_keys(env)) == 1, node_prefetch_keys(env)
    used3 = settled_used(env)
    figures["usedAfterRefusal"] = used3
    assert used3 - used2 < 8 * MiB, (used2, used3)
    assert not evicted(env)
    assert images_before <= env.node.image_refs()  # no image collected
    assert get_md(env.cluster, namespace, "fit")["status"]["nodes"]["ready"] == 1
    conditions = json.loads(env.cluster.kubectl("get", "node", env.node.name, "-o", "json").stdout)[
        "status"
    ]["conditions"]
    assert {c["type"]: c["status"] for c in conditions}["DiskPressure"] == "False"

    print("\ncapacity on the real node:", json.dumps(figures, indent=1))
    (e2e_logdir / "capacity-realnode.json").write_text(json.dumps(figures, indent=1))
    # The factors the operator uses (core.capacity.STORAGE_FACTORS) match the node.
    assert 1.9 <= figures["factorTar"] <= 2.2, figures
    assert 0.9 <= figures["factorRaw"] <= 1.2, figures
