"""kubelet image GC on the real node: the unused image goes, the held model stays.

The kubelet collects images at start and every 5 minutes (ImageGCPeriod, not
configurable). The test restarts the kubelet with aggressive thresholds (collect
whenever the image filesystem is over 1% used, no minimum age), which makes the first
collection run at once; running pods survive a kubelet restart. The kubelet counts an
image as in use when a running container mounts it as an image volume
(`handleImageVolumes` in kubelet 1.35's image GC manager): the holder's model image
must survive while an image no pod uses is deleted. The thresholds are restored after.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.cluster import images
from e2e.cluster.realnode import ImageGC
from e2e.models import make_model_dir, push_model
from e2e.operator_tests.helpers import apply, get_md, wait_for, wait_ready
from e2e.realnode.helpers import RealNodeEnv, mount_pod, wait_terminated
from e2e.realnode.test_model_mount import holder_pods, model_deployment

# The first collection after a restart can fail while stats initialise; the next one
# comes ImageGCPeriod (5 min) later.
GC_TIMEOUT = 420

pytestmark = pytest.mark.realnode


@pytest.fixture
def gc_namespace(real_node: RealNodeEnv) -> Iterator[str]:
    name = f"rn-gc-{uuid.uuid4().hex[:6]}"
    real_node.cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        real_node.cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _unused_image(env: RealNodeEnv, namespace: str, tag: str) -> str:
    """Pull a one-off image onto the node through a pod, then delete the pod."""
    entries = [images.Entry("bin/busybox", source=images.BUSYBOX, mode=0o755)]
    entries += [images.Entry("bin/sh", link="busybox"), images.Entry("unique", data=tag.encode())]
    built = images.build(f"unused-{tag}", entries, cmd=["/bin/sh", "-c", "true"])
    reference = f"{env.registries.crane.host}/e2e/unused:{tag}"
    try:
        images.push(built, reference)
    finally:
        shutil.rmtree(built.layout, ignore_errors=True)
    pod = mount_pod(
        env, namespace, "puller", env.busybox, image=reference, command=["sh", "-c", "true"]
    )
    env.cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    wait_terminated(env, namespace, "puller")
    env.cluster.kubectl("delete", "pod", "puller", "-n", namespace, "--wait=true")
    return reference


def test_gc_evicts_unused_image_but_keeps_the_held_model(
    real_node: RealNodeEnv, gc_namespace: str, tmp_path: Path
) -> None:
    """Aggressive image GC deletes an unused image; the model the holder mounts survives."""
    env, namespace = real_node, gc_namespace
    model = make_model_dir(tmp_path / "m", seed=namespace, weight_bytes=4 * 1024 * 1024)
    push_model(model, f"{env.registries.crane.host}/models/gc-{namespace}:v1")
    apply(
        env.cluster,
        model_deployment("gc", namespace, f"{env.registries.crane.host}/models/gc-{namespace}:v1"),
    )
    wait_ready(env.cluster, namespace, "gc", "1/1", timeout=300)
    model_image = get_md(env.cluster, namespace, "gc")["status"]["resolved"]["mounts"][0][
        "reference"
    ]
    unused = _unused_image(env, namespace, namespace)
    assert {unused, model_image} <= env.node.image_refs()
    try:
        env.node.restart_kubelet(ImageGC.aggressive())
        wait_for(
            "unused image collected", lambda: unused not in env.node.image_refs(), GC_TIMEOUT, 2
        )
        assert model_image in env.node.image_refs()
        holder = holder_pods(env, namespace)[0]
        ready = {c["type"]: c["status"] for c in holder["status"]["conditions"]}["Ready"]
        assert ready == "True"
    finally:
        env.node.restart_kubelet(ImageGC())
