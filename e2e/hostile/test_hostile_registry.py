"""A hostile registry against the running operator: every case ends in a clear Resolved
condition in bounded time and memory, while a good ModelDeployment still reconciles.

All cases run at once in one operator session (the wall time is the slowest case: the
trickle, cut at the 30 s body deadline). The session operator is restarted once with the
hostile registry among its plain-HTTP registries, and restored afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.registries import Registries
from e2e.hostile.measure import RssSampler, documented_outcomes, rss_mib, write_results
from e2e.hostile.registry import HostileRegistry, ServedRegistry
from e2e.models import make_model_dir, push_model
from e2e.operator_process import OperatorProcess
from e2e.operator_tests.helpers import (
    apply,
    condition,
    delete_nodes,
    make_pool,
    model_deployment,
    wait_for,
    wait_ready,
)

# case -> (Resolved reason, a fragment the message must hold)
EXPECTED = {
    "baseline": ("Resolved", ""),
    "oversized-manifest": ("RegistryProtocolError", "more than the 4194304 allowed"),
    "oversized-config": ("RegistryProtocolError", "more than the 8388608 allowed"),
    "endless-manifest": ("RegistryProtocolError", "more than the 4194304 bytes allowed"),
    "trickle-manifest": ("RegistryUnavailable", "not received within 30s"),
    "redirect-loop": ("RegistryUnavailable", "TooManyRedirects"),
    "wrong-manifest-digest": ("RegistryProtocolError", "does not match Docker-Content-Digest"),
    "wrong-config-digest": ("RegistryProtocolError", "does not match its digest"),
    "html-content-type": ("RegistryProtocolError", "is not valid JSON"),
    "path-traversal": ("UnsupportedArtifact", "leaves the model tree"),
    "absolute-path": ("UnsupportedArtifact", "is absolute"),
    "symlink": ("UnsupportedArtifact", "(symlink)"),
    "duplicate-paths": ("UnsupportedArtifact", "is also the path of layers[0]"),
    "layers-100k": ("RegistryProtocolError", "more than the 4194304 allowed"),
    "layers-20k": ("UnsupportedArtifact", "20000 layers, more than the 1000 allowed"),
}
CASE_DEADLINE = 75.0  # seconds from apply to the condition, per case (trickle: 30 s + retry)
RSS_BOUND_MIB = 400.0  # the operator's peak RSS over the whole run
SLOW_CASE = "trickle-manifest"


@pytest.fixture
def hostile_operator(
    operator: OperatorProcess, registries: Registries
) -> Iterator[tuple[OperatorProcess, HostileRegistry]]:
    """The session operator restarted with the hostile registry as a plain-HTTP host."""
    with ServedRegistry() as hostile:
        hosts = [r.host for r in registries.all()] + [hostile.host]
        saved = dict(operator.extra_env)
        operator.stop()
        operator.extra_env = {**saved, "MODELPREFETCH_INSECURE_REGISTRIES": json.dumps(hosts)}
        try:
            operator.start()
            yield operator, hostile
        finally:
            operator.stop()
            operator.extra_env = saved
            operator.start()


def test_hostile_registry_cases_end_in_clear_conditions(
    cluster: LocalCluster,
    registries: Registries,
    hostile_operator: tuple[OperatorProcess, HostileRegistry],
    namespace: str,
    unique: str,
    tmp_path: Path,
) -> None:
    operator, hostile = hostile_operator
    assert operator.proc is not None
    pid = operator.proc.pid
    good_ref = f"{registries.distribution.host}/models/hostile-good-{unique}:v1"
    push_model(make_model_dir(tmp_path / "good", seed=unique), good_ref)
    good_pool, nodes = f"hgood-{unique}", [f"hgood-{unique}-0"]
    make_pool(cluster, nodes, good_pool)
    idle = rss_mib(pid)
    try:
        with RssSampler(pid) as rss:
            applied: dict[str, float] = {}
            settled: dict[str, tuple[dict[str, Any], float]] = {}

            def start(case: str) -> None:
                ref = hostile.reference(case)
                apply(cluster, model_deployment(case, namespace, ref, f"none-{unique}"))
                applied[case] = time.monotonic()

            # The trickle waits out its deadline while the others run one at a time, so
            # each of those windows holds one case (plus the idle trickle) for its RSS peak.
            start(SLOW_CASE)
            apply(cluster, model_deployment("good", namespace, good_ref, good_pool))
            for case in EXPECTED:
                if case != SLOW_CASE:
                    start(case)
                    settled.update(_wait_settled(cluster, namespace, applied, settled, {case}))
            settled.update(_wait_settled(cluster, namespace, applied, settled, set(applied)))
            wait_ready(cluster, namespace, "good", "1/1")  # other work still reconciles
            end = time.monotonic()
        assert operator.proc is not None and operator.proc.poll() is None, "operator died"
        assert operator._ready(), "operator not ready after the hostile cases"
    finally:
        delete_nodes(cluster, nodes)
    rows = []
    for case, (reason, fragment) in EXPECTED.items():
        cond, at = settled[case]
        assert cond["reason"] == reason, (case, cond)
        assert fragment in cond["message"], (case, cond)
        assert cond["status"] == ("True" if case == "baseline" else "False"), (case, cond)
        rows.append(
            {
                "case": case,
                "outcome": f"Resolved={cond['status']} {cond['reason']}",
                "message": cond["message"],
                "seconds": round(at - applied[case], 1),
                "peak_rss_mib": rss.peak(applied[case], at),
            }
        )
    peak = rss.peak()
    write_results(
        "operator",
        rows,
        idle_rss_mib=round(idle, 1),
        peak_rss_mib=peak,
        wall_seconds=round(end - min(applied.values()), 1),
    )
    assert peak < RSS_BOUND_MIB, f"operator RSS peaked at {peak} MiB"
    documented = documented_outcomes("operator")
    assert {r["case"]: r["outcome"] for r in rows} == (
        documented or {r["case"]: r["outcome"] for r in rows}
    ), "outcomes differ from docs/security/hostile-inputs.json: run python -m e2e.hostile.report"


def _wait_settled(
    cluster: LocalCluster,
    namespace: str,
    applied: dict[str, float],
    settled: dict[str, tuple[dict[str, Any], float]],
    wanted: set[str],
) -> dict[str, tuple[dict[str, Any], float]]:
    """Poll the namespace's ModelDeployments until each of `wanted` has a True or False
    Resolved condition; record when it was first seen. Fails a case past CASE_DEADLINE."""
    found = {case: settled[case] for case in wanted if case in settled}

    def check() -> bool:
        out = cluster.kubectl("get", "modeldeployments", "-n", namespace, "-o", "json").stdout
        now = time.monotonic()
        for md in json.loads(out)["items"]:
            name = md["metadata"]["name"]
            cond = condition(md, "Resolved")
            if name in wanted and name not in found and cond.get("status") in ("True", "False"):
                found[name] = (cond, now)
        late = [c for c in wanted if c not in found and now - applied[c] > CASE_DEADLINE]
        assert not late, f"no Resolved condition within {CASE_DEADLINE}s: {late}"
        return len(found) == len(wanted)

    wait_for(f"Resolved on {sorted(wanted)}", check, timeout=CASE_DEADLINE + 30, interval=0.3)
    return found
