"""Real-node tests on more than one container runtime in one session.

A module parametrises a module-scoped fixture with `runtime_params(...)` and gets, per
runtime, a `RealNodeEnv` whose node runs it (`node_env`): the session's first node
(`real_node`) for SESSION, else one more node of that build joined for the module and
removed after it. Pods pinned to `env.node.name` then run on that runtime.

The extra runtimes come from MODELPREFETCH_TABLE_RUNTIMES (space-separated builds, e.g.
CI_RUNTIMES: the floor we claim and CRI-O, which `make test` builds and sets); unset, only
SESSION runs. With MODELPREFETCH_NODE_RUNTIME set (`make matrix`) the session node already
is the runtime under test and only SESSION runs.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import replace

from e2e.cluster.nodes import RealNodes
from e2e.cluster.tools import default_node_runtime
from e2e.realnode.helpers import RealNodeEnv

SESSION = "session"  # the session's real node, whatever MODELPREFETCH_NODE_RUNTIME says
TABLE_RUNTIMES_ENV = "MODELPREFETCH_TABLE_RUNTIMES"
# The floor we claim and CRI-O: what `make binaries` builds besides the default (Makefile
# CI_RUNTIMES), which `make test` runs the table on (each has an observed row).
CI_RUNTIMES = ("containerd-v2.1.9", "crio-v1.35.2")


def runtime_params() -> dict[str, list[str]]:
    """`params` and `ids` for a module-scoped fixture: SESSION, plus the builds in
    TABLE_RUNTIMES_ENV unless MODELPREFETCH_NODE_RUNTIME already picks the session's
    runtime (`make matrix`)."""
    extra = os.environ.get(TABLE_RUNTIMES_ENV, "").split()
    params = [SESSION] if default_node_runtime() else [SESSION, *extra]
    session_id = default_node_runtime() or "containerd-default"
    return {"params": params, "ids": [session_id if p == SESSION else p for p in params]}


@contextlib.contextmanager
def node_env(real_node: RealNodeEnv, real_nodes: RealNodes, runtime: str) -> Iterator[RealNodeEnv]:
    """`real_node`, or a node of `runtime` joined for the caller and removed after it."""
    if runtime == SESSION:
        yield real_node
        return
    name = "rt-" + re.sub(r"[^a-z0-9]+", "-", runtime.lower()).strip("-")
    node = real_nodes.add(name, runtime=runtime)
    print(f"\nreal node {name} ({runtime}): join {node.join_seconds:.1f}s")
    try:
        yield replace(real_node, node=node)
    finally:
        real_nodes.remove(node)
