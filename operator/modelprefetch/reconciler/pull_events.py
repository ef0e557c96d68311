"""The kubelet's Pulling / Pulled Events of holder pods, watched instead of listed.

Progress (`status.progress`, the pull metrics) reads when each holder's pull started and
how long it took from these Events. Listing them on every reconcile cost a namespace's
whole history of pull Events per pass and per ModelDeployment: 20 models over 1,000 nodes
in one namespace are 40,000 Events, re-sent each pass. Two watches (one per reason; a
field selector cannot say "Pulling or Pulled") feed one fold per holder pod instead:

- only Events about pods whose name is a holder's (`<name>-prefetch-<hash>-<5>`) are kept,
  and of each only the fold `core.pulls.PodPulls` (two times, the pull's figures, a uid):
  memory grows with holder pods, not with Events or with the cluster's other pods;
- an Event's deletion (its TTL, 1 h by default) or its pod's deletion drops the pod's fold;
- a reconcile reads the folds of its holder pods from memory: no API call.

Best effort, as before: the loops never wait for these watches, and progress without
Events still follows the holder pods.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from modelprefetch.core.pulls import PULLED, PULLING, PodPulls, fold_pull_event, merge_pulls

# A DaemonSet pod is named generateName "<daemonset>-" + 5 characters; holder DaemonSets
# are "<name>-prefetch-<12 hex>" (core.builders.holder_daemonset_name).
HOLDER_POD_NAME = re.compile(r"-prefetch-[0-9a-f]{12}-[0-9a-z]{5}$")
PodKey = tuple[str, str]  # (namespace, pod name)


def field_selector(reason: str) -> str:
    """What the API server sends the watch of one reason: pod Events of that reason."""
    return f"involvedObject.kind=Pod,reason={reason}"


def _pod_key(event: Mapping[str, Any]) -> PodKey | None:
    involved = event.get("involvedObject")
    if not isinstance(involved, Mapping):
        return None
    name, namespace = involved.get("name"), involved.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        return None
    if not HOLDER_POD_NAME.search(name):
        return None
    return namespace, name


class ReasonFolds:
    """The folds of one reason's Events per holder pod: one watch's sink."""

    def __init__(self) -> None:
        self.folds: dict[PodKey, PodPulls] = {}

    def replace_all(self, objs: Iterable[Mapping[str, Any]], /) -> None:
        self.folds = {}
        for obj in objs:
            self.apply("ADDED", obj)

    def apply(self, event_type: str, obj: Mapping[str, Any], /) -> None:
        key = _pod_key(obj)
        if key is None:
            return
        if event_type == "DELETED":
            self.folds.pop(key, None)
            return
        folded = fold_pull_event(self.folds.get(key), obj)
        if folded is not None:
            self.folds[key] = folded


class PullEvents:
    """The two reasons' folds together; what a reconcile asks of them."""

    def __init__(self) -> None:
        self.pulling = ReasonFolds()
        self.pulled = ReasonFolds()

    def sinks(self) -> tuple[tuple[str, ReasonFolds], ...]:
        return ((PULLING, self.pulling), (PULLED, self.pulled))

    def of(self, namespace: str, pods: Collection[str]) -> dict[str, PodPulls]:
        """Pod name -> what its Events say, for the named pods of a namespace that have any."""
        found: dict[str, PodPulls] = {}
        for pod in pods:
            key = (namespace, pod)
            merged = merge_pulls(self.pulling.folds.get(key), self.pulled.folds.get(key))
            if merged is not None:
                found[pod] = merged
        return found

    def forget(self, namespace: str, pod: str) -> None:
        """A holder pod is gone: its Events matter no more."""
        self.pulling.folds.pop((namespace, pod), None)
        self.pulled.folds.pop((namespace, pod), None)

    def __len__(self) -> int:
        return len(set(self.pulling.folds) | set(self.pulled.folds))
