"""Play the kubelet of a fake node: post the Pulling / Pulled Events a real kubelet posts
on a pod while it pulls the pod's images (image volumes included).

kwok's stages change pod status only and post no Events; the operator reads these to
tell Pulling from Verifying and to measure pull time and size (modelprefetch.core.pulls).
The messages are the kubelet's own (pkg/kubelet/images/image_manager.go, 1.30+).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from e2e.cluster.controlplane import LocalCluster


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _post(
    cluster: LocalCluster, pod: dict[str, object], reason: str, message: str, at: datetime
) -> None:
    meta = pod["metadata"]
    spec = pod["spec"]
    assert isinstance(meta, dict) and isinstance(spec, dict)
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:12]}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message,
        "type": "Normal",
        "source": {"component": "kubelet", "host": spec.get("nodeName", "")},
        "reportingComponent": "kubelet",
        "reportingInstance": spec.get("nodeName", ""),
        "firstTimestamp": _stamp(at),
        "lastTimestamp": _stamp(at),
        "count": 1,
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(event))


def post_pulling(cluster: LocalCluster, pod: dict[str, object], image: str, at: datetime) -> None:
    """`Pulling image "<image>"` at `at`."""
    _post(cluster, pod, "Pulling", f'Pulling image "{image}"', at)


def post_pulled(
    cluster: LocalCluster,
    pod: dict[str, object],
    image: str,
    at: datetime,
    *,
    seconds: float,
    size_bytes: int,
) -> None:
    """`Successfully pulled image ... in <seconds>s (... including waiting). Image size: N
    bytes.` at `at`."""
    message = (
        f'Successfully pulled image "{image}" in {seconds:g}s ({seconds + 0.5:g}s including'
        f" waiting). Image size: {size_bytes} bytes."
    )
    _post(cluster, pod, "Pulled", message, at)
