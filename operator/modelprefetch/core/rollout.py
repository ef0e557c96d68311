"""Retiring DaemonSets of digests that are no longer mounted (a moved tag, an edit).

An old DaemonSet keeps the model on the nodes where its holder is Ready until the new
digest is Ready there too (or the node failed, or it is no longer targeted); then the
DaemonSet is deleted and its labels removed. Nodes where the old holder never became
Ready hold nothing worth keeping: they leave the old wave at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from modelprefetch.core.labels import warm_key_for
from modelprefetch.core.waves import NodeState
from modelprefetch.core.world import ExistingDaemonSet, HolderPod, NodeInfo

# States of the new digest on a node that release the old one.
_SETTLED = frozenset({NodeState.READY, NodeState.FAILED, NodeState.BACKOFF})


@dataclass(frozen=True, slots=True)
class Retirement:
    """What to do with one old DaemonSet now."""

    daemonset: ExistingDaemonSet
    done: bool  # delete the DaemonSet and all its labels
    keep_nodes: tuple[str, ...]  # nodes that keep the old labels meanwhile
    label_removals: Mapping[str, tuple[str, ...]]  # node -> old keys to remove


def retire(
    daemonset: ExistingDaemonSet,
    nodes: tuple[NodeInfo, ...],
    holders: Mapping[tuple[str, str], HolderPod],
    new_states: Mapping[str, NodeState],
    pending_nodes: Set[str],
) -> Retirement:
    """Decide the fate of an old DaemonSet.

    `new_states`: node -> state for the current digest; `pending_nodes`: targeted nodes
    that have no current digest yet (waiting for a derived image).
    """
    keys = (daemonset.label_key, warm_key_for(daemonset.label_key))
    labelled = [n for n in nodes if any(key in n.labels for key in keys)]
    holding = [n.name for n in labelled if _holds(holders, daemonset.name, n.name)]
    done = all(_released(name, new_states, pending_nodes) for name in holding)
    removals = {
        node.name: tuple(key for key in keys if key in node.labels)
        for node in labelled
        if done or node.name not in holding
    }
    keep = () if done else tuple(sorted(holding))
    return Retirement(daemonset, done, keep, removals)


def _holds(holders: Mapping[tuple[str, str], HolderPod], daemonset: str, node: str) -> bool:
    holder = holders.get((daemonset, node))
    return holder is not None and holder.ready


def _released(node: str, new_states: Mapping[str, NodeState], pending: Set[str]) -> bool:
    if node in pending:
        return False
    state = new_states.get(node)
    return state is None or state in _SETTLED
