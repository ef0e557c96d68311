"""Progress: node counts in the status while one long pass patches node labels.

The full status is written once a pass has applied everything (see `apply`). A pass
that labels a thousand nodes takes seconds, and users should see N/M grow meanwhile,
so this writes only `status.nodes`, counting as Ready the nodes whose warm label is
already set, at most once every `interval` seconds. Best effort: a failed progress
write is logged and never fails the pass; the full status replaces it at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from modelprefetch.api.status import NodeCounts
from modelprefetch.core.labels import WARM_LABEL_PREFIX, WARM_VALUE
from modelprefetch.errors import ModelPrefetchError
from modelprefetch.k8s.client import KubeClient
from modelprefetch.k8s.resources import MODELDEPLOYMENTS

log = logging.getLogger(__name__)
Logger = logging.Logger | logging.LoggerAdapter[Any]
PROGRESS_INTERVAL_SECONDS = 5.0  # at most one progress write per ModelDeployment this often


def warming_nodes(changes: Mapping[str, Mapping[str, str | None]]) -> set[str]:
    """Nodes that this plan marks warm (counted Ready only once the patch landed)."""
    return {
        node
        for node, labels in changes.items()
        if any(k.startswith(WARM_LABEL_PREFIX) and v == WARM_VALUE for k, v in labels.items())
    }


class Progress:
    """Counts label patches as they land; writes `status.nodes` when `interval` passed."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        counts: NodeCounts,
        changes: Mapping[str, Mapping[str, str | None]],
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        logger: Logger = log,
    ) -> None:
        self._kube, self._namespace, self._name = kube, namespace, name
        self._counts = counts
        self._pending = warming_nodes(changes)
        self._interval, self._clock, self._logger = interval, clock, logger
        self._last = clock()  # a short pass writes nothing but its final status
        self._writing = False
        self.writes = 0

    def counts(self) -> NodeCounts:
        """The plan's counts, with nodes whose warm label is not set yet not Ready."""
        ready = max(0, self._counts.ready - len(self._pending))
        return self._counts.model_copy(
            update={"ready": ready, "summary": f"{ready}/{self._counts.desired}"}
        )

    async def patched(self, node: str) -> None:
        """Called after each node's label patch (or skip); writes progress when due."""
        self._pending.discard(node)
        if self._writing or self._clock() - self._last < self._interval:
            return
        self._writing = True
        try:
            await self._kube.merge_patch(
                MODELDEPLOYMENTS,
                self._name,
                {"status": {"nodes": self.counts().to_dict()}},
                namespace=self._namespace,
                subresource="status",
            )
            self.writes += 1
        except ModelPrefetchError as exc:
            self._logger.debug("Progress write failed (the final status follows): %s", exc)
        finally:
            self._last = self._clock()
            self._writing = False
