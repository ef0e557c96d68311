"""Progress metrics: nodes by phase, pull duration and bytes; never a node label."""

from __future__ import annotations

from prometheus_client import generate_latest

from modelprefetch import metrics

NS, MODEL = "progress-ns", "llm"


def _text() -> str:
    return generate_latest(metrics.REGISTRY).decode()


def _value(name: str, **labels: str) -> float:
    found = metrics.REGISTRY.get_sample_value(name, {"namespace": NS, "model": MODEL, **labels})
    assert found is not None, f"{name} {labels} not exposed"
    return found


def test_phases_and_pulls_are_labelled_by_model_only() -> None:
    """Each finished pull is observed once, however often a reconcile reports it."""
    try:
        metrics.record_phases(NS, MODEL, {"pulling": 3, "ready": 2})
        pulls = {"holder-a": ("uid-a", 90.0, 8 << 30), "holder-b": ("uid-b", 30.0, None)}
        for _ in range(3):
            metrics.observe_pulls(NS, MODEL, pulls, {"holder-a", "holder-b"})
        assert _value("modelprefetch_model_nodes_by_phase", phase="pulling") == 3
        assert _value("modelprefetch_model_nodes_by_phase", phase="verifying") == 0
        assert _value("modelprefetch_pull_duration_seconds_count") == 2
        assert _value("modelprefetch_pull_duration_seconds_sum") == 120
        assert _value("modelprefetch_pull_bytes_count") == 1
        # A replacement pod's new Pulled event is a new pull.
        metrics.observe_pulls(NS, MODEL, {"holder-a": ("uid-c", 10.0, 1)}, {"holder-a"})
        assert _value("modelprefetch_pull_duration_seconds_count") == 3
        progress_lines = [
            line
            for line in _text().splitlines()
            if line.startswith(("modelprefetch_model_nodes_by_phase", "modelprefetch_pull_"))
        ]
        assert progress_lines and not [line for line in progress_lines if "node=" in line]
    finally:
        metrics.forget_model(NS, MODEL)
    assert f'namespace="{NS}"' not in _text()
