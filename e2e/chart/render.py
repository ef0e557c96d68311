"""`helm template` of the chart, no cluster needed: what the tests install is the chart's render.

The webhook configurations, the ServiceAccount and the RBAC the e2e operator runs under
all come from here, so the tests exercise exactly the objects the chart ships (the
golden renders in tests/golden/chart pin them per values set).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from e2e.cluster.tools import REPO_ROOT, tool_path

CHART = REPO_ROOT / "charts" / "modelprefetch"
RELEASE = "modelprefetch"  # contains the chart name: object names are the release name
NAMESPACE = "modelprefetch-system"
WEBHOOKS_TEMPLATE = "templates/webhooks.yaml"


def helm_binary() -> Path:
    """The helm that e2e/cluster/build.sh builds; $HELM overrides it."""
    if "HELM" in os.environ:
        return Path(os.environ["HELM"])
    return tool_path("helm")


def render_chart(
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    values_files: Sequence[Path] = (),
    sets: Sequence[str] = (),
    show_only: Sequence[str] = (),
) -> str:
    """The chart rendered for a release, as `helm template` prints it (no CRDs)."""
    args = [str(helm_binary()), "template", release, str(CHART), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    for value in sets:
        args += ["--set", value]
    for template in show_only:
        args += ["--show-only", template]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm template failed ({' '.join(args[1:])}):\n{result.stderr}")
    return result.stdout


def external_operator_webhooks(webhook_url: str) -> str:
    """The chart's webhook configurations for an operator outside the cluster at webhook_url.

    The values a user sets for that case: no replica in the cluster, the API server
    calling webhook.url instead of the Service.
    """
    return render_chart(
        sets=["replicaCount=0", f"webhook.url={webhook_url}"], show_only=[WEBHOOKS_TEMPLATE]
    )
