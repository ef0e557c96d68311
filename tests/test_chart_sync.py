"""The chart's copies (CRDs) and deploy/ (its render) match their sources."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from e2e.chart.render import helm_binary

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "modelprefetch"
DEPLOY = REPO / "deploy"
RENDER = REPO / "hack" / "render-deploy.sh"


def test_chart_crds_are_identical_to_crds_dir() -> None:
    """charts/modelprefetch/crds holds exactly the files of crds/, byte for byte."""
    source = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    copy = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert source
    assert copy.keys() == source.keys(), "run: hack/render-deploy.sh"
    for name in source:
        assert copy[name] == source[name], f"{name} differs: run hack/render-deploy.sh"


def test_deploy_dashboards_are_the_chart_dashboards() -> None:
    """deploy/dashboards holds exactly the chart's dashboard files."""
    source = {p.name: p.read_bytes() for p in (CHART / "files" / "dashboards").glob("*.json")}
    copy = {p.name: p.read_bytes() for p in (DEPLOY / "dashboards").glob("*.json")}
    assert source
    assert copy == source, "run: hack/render-deploy.sh"


def test_deploy_rules_are_the_chart_rules() -> None:
    """deploy/prometheus/rules.yaml is the chart's PrometheusRule content."""
    source = (CHART / "files" / "prometheus-rules.yaml").read_bytes()
    assert (DEPLOY / "prometheus" / "rules.yaml").read_bytes() == source


def test_deploy_manifest_is_the_current_render() -> None:
    """deploy/ equals what hack/render-deploy.sh renders from the chart now."""
    result = subprocess.run(
        ["bash", str(RENDER), "--check"],
        env={**os.environ, "HELM": str(helm_binary())},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, "run hack/render-deploy.sh\n" + result.stdout + result.stderr
