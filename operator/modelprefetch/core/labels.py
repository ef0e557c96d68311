"""Node label keys for waves and warm nodes, and the admission timestamp they carry.

For each (ModelDeployment, mounted digest) pair:

* `prefetch.modelprefetch.io/<hash>` = unix seconds of admission. The holder
  DaemonSet requires this label (node affinity `Exists`), so the operator decides which
  nodes pull, wave by wave. The timestamp keeps the per-node timeout level-based: it
  survives operator restarts.
* `warm.modelprefetch.io/<hash>` = "true" once the holder is Ready there; the webhook
  steers workload pods to these nodes.

<hash> = first 12 hex digits of sha256("<namespace>/<name>/<digest>").
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

from modelprefetch import constants

PREFETCH_LABEL_PREFIX = f"prefetch.{constants.GROUP}/"
WARM_LABEL_PREFIX = f"warm.{constants.GROUP}/"
WARM_VALUE = "true"
HASH_LENGTH = 12


@functools.lru_cache(maxsize=4096)
def mount_hash(namespace: str, name: str, digest: str) -> str:
    """Stable short id of one (ModelDeployment, digest) pair (cached: a plan over N nodes
    names the same few pairs N times)."""
    text = f"{namespace}/{name}/{digest}".encode()
    return hashlib.sha256(text).hexdigest()[:HASH_LENGTH]


def prefetch_label_key(namespace: str, name: str, digest: str) -> str:
    """Node label admitting a node to the prefetch waves of this digest."""
    return PREFETCH_LABEL_PREFIX + mount_hash(namespace, name, digest)


def warm_label_key(namespace: str, name: str, digest: str) -> str:
    """Node label marking a node where this digest is prefetched and verified."""
    return WARM_LABEL_PREFIX + mount_hash(namespace, name, digest)


def warm_key_for(key: str) -> str:
    """The warm label key paired with a prefetch label key; a warm key is returned as is.

    Keys recorded in status.nodeLabelKeys are of both kinds; prefixing a warm key again
    would name a label that never existed (`warm.<group>/warm.<group>/<hash>`).
    """
    if key.startswith(WARM_LABEL_PREFIX):
        return key
    return WARM_LABEL_PREFIX + key.removeprefix(PREFETCH_LABEL_PREFIX)


def admission_value(now: datetime) -> str:
    """The prefetch label value: unix seconds of admission."""
    return str(int(now.timestamp()))


def admitted_at(value: str) -> datetime | None:
    """When a node was admitted, from its label value; None when unreadable."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def label_value(name: str) -> str:
    """A label value naming an object: the name itself, or a stable shortening of it.

    Object names may reach 253 characters, label values only 63.
    """
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:52].rstrip('-.')}-{digest}"
