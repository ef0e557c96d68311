"""A kwok stage that makes pods with an image volume wait for a simulated pull.

kwok's stock `pod-ready` stage readies every started pod within a second. For the scale
benchmark a node should take as long as a model pull: pods that mount an image volume
(prefetch holders, and the benchmark's bare DaemonSet) get their own copy of the stage
with a delay drawn uniformly from [low, high) ms, and the stock stage leaves them alone
(kwok picks at random among stages that match, so the two must not overlap).

Like a kubelet, the stage posts a `Pulled` Event on the pod when its pull is done (kwok
stages can send one Event): the operator follows these for status.progress, so the
benchmark pays for them as a real cluster would (one Event per holder pod, thousands per
namespace with many models).
"""

from __future__ import annotations

import copy
from typing import Any

# A gojq query kwok runs on the pod; it yields nothing when the pod has no volumes.
IMAGE_VOLUME_QUERY = ".spec.volumes.[].image.reference"
# What a kubelet >= 1.30 says after an image (volume) pull (core.pulls parses it).
PULLED_EVENT = {
    "type": "Normal",
    "reason": "Pulled",
    "message": 'Successfully pulled image "model" in 5s (5.5s including waiting).'
    " Image size: 1073741824 bytes.",
}


def split_pod_ready(pod_ready: dict[str, Any], delay_ms: tuple[int, int]) -> dict[str, Any]:
    """Narrow `pod_ready` (in place) to pods without an image volume; return the stage for
    pods with one."""
    low, high = delay_ms
    if not 0 <= low <= high:
        raise ValueError(f"pull delay must be 0 <= low <= high ms, got {delay_ms}")
    pulled = copy.deepcopy(pod_ready)
    pulled["metadata"]["name"] = "pod-ready-after-pull"
    pulled["spec"]["selector"]["matchExpressions"].append(
        {"key": IMAGE_VOLUME_QUERY, "operator": "Exists"}
    )
    pulled["spec"]["delay"] = {"durationMilliseconds": low, "jitterDurationMilliseconds": high}
    pulled["spec"].setdefault("next", {})["event"] = dict(PULLED_EVENT)
    pod_ready["spec"]["selector"]["matchExpressions"].append(
        {"key": IMAGE_VOLUME_QUERY, "operator": "DoesNotExist"}
    )
    return pulled
