"""Does a model fit on a node's image filesystem? The arithmetic, without I/O.

A node joins a wave only if, after the pull, its image filesystem stays below BOTH

* the kubelet's image-GC high threshold (`imageGCHighThresholdPercent`, default 85):
  above it the kubelet deletes unused images, i.e. other models that will be pulled
  again, and
* its imagefs eviction threshold (`evictionHard: imagefs.available`, default 15%):
  below that much free space the node gets DiskPressure and evicts running pods,

minus a headroom (a share of the capacity kept free for logs, other pulls, rounding).
Used bytes are `capacity - available`, as both the kubelet's image GC
(`image_gc_manager.go`: usagePercent = 100 - available*100/capacity) and its eviction
manager count them. What this operator has admitted on the node but not finished
pulling is not in the used bytes yet and is added in full (`in_flight_bytes`).

A model costs more than its download: on containerd an image layer is kept as the
content-store blob AND unpacked into a snapshot. `STORAGE_FACTORS` holds the factor
per runtime and layer format, measured on a real node (see the table's comment).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from modelprefetch.oci.artifact import LayerFormat, ResolvedArtifact
from modelprefetch.oci.mount import parse_runtime

INSUFFICIENT_STORAGE = "InsufficientStorage"
DISK_PRESSURE = "DiskPressure"
STORAGE_UNKNOWN = "StorageUnknown"

# The kubelet's documented defaults (KubeletConfiguration v1beta1): imageGCHighThreshold
# Percent 85, evictionHard imagefs.available "15%". The headroom is ours.
DEFAULT_IMAGE_GC_HIGH_PERCENT = 85
DEFAULT_EVICTION_IMAGEFS_AVAILABLE_PERCENT = 15
DEFAULT_HEADROOM_PERCENT = 5

# Bytes on the image filesystem per byte of layer download, by runtime and by the media
# type of the layers the node pulls. containerd 2.2.9 is measured on a real node by
# e2e/incluster/test_capacity_incluster.py (growth of the loop-mounted filesystem that
# holds containerd's root - content store + snapshots - per model byte; the test fails
# if the node disagrees with this table):
#   uncompressed tar layers (our derived image, OCI images): 2x - blob AND snapshot
#     (measured 2.008 on 2026-11-30: 48 MiB model, 101.1 MB of filesystem growth)
#   raw ModelPack layers: 1x - kept as blobs only, never unpacked (they mount empty,
#   which is why the operator mounts the derived image on containerd) (measured 1.005)
# gzip/zstd layers: the blob is the compressed size and the snapshot the uncompressed
# one; model weights barely compress, so 2x is the honest budget (not measured).
# CRI-O keeps an artifact's layers once in its artifact store (not measured here).
STORAGE_FACTORS: Mapping[str, Mapping[LayerFormat, float]] = {
    "containerd": {
        LayerFormat.RAW: 1.0,
        LayerFormat.TAR: 2.0,
        LayerFormat.TAR_GZIP: 2.0,
        LayerFormat.TAR_ZSTD: 2.0,
        LayerFormat.MIXED: 2.0,
    },
    "cri-o": {
        LayerFormat.RAW: 1.0,
        LayerFormat.TAR: 1.0,
        LayerFormat.TAR_GZIP: 2.0,
        LayerFormat.TAR_ZSTD: 2.0,
        LayerFormat.MIXED: 2.0,
    },
}
UNKNOWN_RUNTIME_FACTOR = 2.0  # no measurement: assume blob + unpacked copy


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    """Thresholds a pull must stay below, as percentages of the image filesystem."""

    image_gc_high_percent: int = DEFAULT_IMAGE_GC_HIGH_PERCENT
    eviction_imagefs_available_percent: int = DEFAULT_EVICTION_IMAGEFS_AVAILABLE_PERCENT
    headroom_percent: int = DEFAULT_HEADROOM_PERCENT

    def limit_bytes(self, capacity: int) -> int:
        """The most bytes the filesystem may hold after a pull."""
        ceiling = min(self.image_gc_high_percent, 100 - self.eviction_imagefs_available_percent)
        return max(0, capacity * (ceiling - self.headroom_percent) // 100)


@dataclass(frozen=True, slots=True)
class FsStats:
    """A filesystem as the kubelet's Summary API reports it."""

    capacity_bytes: int
    available_bytes: int

    @property
    def used_bytes(self) -> int:
        return max(0, self.capacity_bytes - self.available_bytes)


@dataclass(frozen=True, slots=True)
class NodeStorage:
    """What the reconciler learnt about one candidate node's image filesystem."""

    stats: FsStats | None = None
    error: str | None = None  # why `stats` is missing
    in_flight_bytes: int = 0  # admitted by this operator on the node, not pulled yet
    in_flight_unknown: int = 0  # such pulls whose size is not known (yet)


@dataclass(frozen=True, slots=True)
class Fit:
    """The admission verdict for one node; `reason` is None when it fits."""

    reason: str | None
    message: str = ""

    @property
    def fits(self) -> bool:
        return self.reason is None


def storage_factor(runtime_version: str, layer_format: LayerFormat) -> float:
    """Filesystem bytes per downloaded byte for this runtime (see STORAGE_FACTORS)."""
    factors = STORAGE_FACTORS.get(parse_runtime(runtime_version).name)
    if factors is None:
        return UNKNOWN_RUNTIME_FACTOR
    return factors.get(layer_format, UNKNOWN_RUNTIME_FACTOR)


def pulled_format(artifact: ResolvedArtifact, mounted_digest: str) -> LayerFormat:
    """The layer format a node pulls: the derived image's layers are uncompressed tar."""
    if mounted_digest != artifact.digest:
        return LayerFormat.TAR
    return artifact.layer_format


def model_cost(artifact: ResolvedArtifact, mounted_digest: str, runtime_version: str) -> int:
    """Bytes the model will take on a node's image filesystem."""
    factor = storage_factor(runtime_version, pulled_format(artifact, mounted_digest))
    return math.ceil(artifact.size_bytes * factor)


def judge(storage: NodeStorage, cost: int, policy: StoragePolicy) -> Fit:
    """Whether a pull of `cost` bytes keeps the node below both kubelet thresholds."""
    if storage.stats is None:
        return Fit(STORAGE_UNKNOWN, f"Image filesystem unknown: {storage.error or 'no stats'}")
    if storage.in_flight_unknown:
        message = (
            f"{storage.in_flight_unknown} other pull(s) admitted on the node are of unknown "
            "size; waiting for their ModelDeployments to be reconciled"
        )
        return Fit(STORAGE_UNKNOWN, message)
    stats = storage.stats
    limit = policy.limit_bytes(stats.capacity_bytes)
    after = stats.used_bytes + storage.in_flight_bytes + cost
    if after <= limit:
        return Fit(None)
    pending = f", other admitted pulls {gib(storage.in_flight_bytes)}" * bool(
        storage.in_flight_bytes
    )
    message = (
        f"Model needs {gib(cost)} on the image filesystem; capacity {gib(stats.capacity_bytes)}, "
        f"available {gib(stats.available_bytes)}{pending}; after the pull "
        f"{gib(after)} would be used, over the limit {gib(limit)} "
        f"(min(imageGC high {policy.image_gc_high_percent}%, "
        f"100% - eviction imagefs.available {policy.eviction_imagefs_available_percent}%) "
        f"- headroom {policy.headroom_percent}%)"
    )
    return Fit(INSUFFICIENT_STORAGE, message)


def gib(value: int) -> str:
    """Bytes as GiB with 2 decimals (MiB below 1 GiB, so small filesystems read well)."""
    if abs(value) < 2**30:
        return f"{value / 2**20:.1f}MiB"
    return f"{value / 2**30:.2f}GiB"
