"""Holder DaemonSet builder: golden manifests, names, and the properties the design needs.

Regenerate the golden files after an intended change with:
    .venv/bin/python -m tests.core.test_core_builders
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelprefetch import constants
from modelprefetch.api.v1alpha1 import parse_spec
from modelprefetch.core.builders import (
    build_holder_daemonset,
    expected_files_json,
    holder_daemonset_name,
)
from modelprefetch.oci.artifact import ModelFile

from .helpers import DIGEST, FILES, NAME, NS, REPO, SETTINGS, UID, key, spec

GOLDEN = Path(__file__).parents[1] / "golden"
SAMPLE = Path(__file__).parents[2] / "deploy" / "samples" / "modeldeployment.yaml"


def default_daemonset() -> dict[str, Any]:
    return build_holder_daemonset(
        namespace=NS,
        name=NAME,
        uid=UID,
        spec=spec(),
        reference=f"{REPO}@{DIGEST}",
        digest=DIGEST,
        files=FILES,
        settings=SETTINGS,
    )


def sample_daemonset() -> dict[str, Any]:
    document = yaml.safe_load(SAMPLE.read_text())
    return build_holder_daemonset(
        namespace=document["metadata"]["namespace"],
        name=document["metadata"]["name"],
        uid=UID,
        spec=parse_spec(document["spec"]),
        reference=f"{REPO}@{DIGEST}",
        digest=DIGEST,
        files=FILES,
        settings=SETTINGS,
    )


CASES = {
    "holder-daemonset-default.yaml": default_daemonset,
    "holder-daemonset-sample.yaml": sample_daemonset,
}


def render(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False)


def test_default_daemonset_matches_golden() -> None:
    """The DaemonSet for a minimal spec is the golden manifest."""
    expected = (GOLDEN / "holder-daemonset-default.yaml").read_text()
    assert render(default_daemonset()) == expected


def test_sample_daemonset_matches_golden() -> None:
    """The DaemonSet for the sample (tolerations, secrets, resources) is the golden one."""
    expected = (GOLDEN / "holder-daemonset-sample.yaml").read_text()
    assert render(sample_daemonset()) == expected


def test_pods_run_only_on_admitted_nodes() -> None:
    """The pod template requires the wave label, so only admitted nodes run a holder."""
    affinity = default_daemonset()["spec"]["template"]["spec"]["affinity"]
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": key(), "operator": "Exists"}]}
    ]


def test_image_volume_pins_the_digest() -> None:
    """The model volume is an image volume of the digest-pinned reference."""
    volumes = default_daemonset()["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == {
        "name": "model",
        "image": {"reference": f"{REPO}@{DIGEST}", "pullPolicy": "IfNotPresent"},
    }


def test_pod_is_restricted() -> None:
    """The holder runs as non-root with a read-only root, no capabilities, RuntimeDefault."""
    pod = default_daemonset()["spec"]["template"]["spec"]
    container = pod["containers"][0]["securityContext"]
    assert (
        pod["securityContext"]["runAsNonRoot"],
        pod["securityContext"]["seccompProfile"],
        container["readOnlyRootFilesystem"],
        container["allowPrivilegeEscalation"],
        container["capabilities"],
    ) == (True, {"type": "RuntimeDefault"}, True, False, {"drop": ["ALL"]})


def test_owned_by_the_model_deployment() -> None:
    """The DaemonSet is controlled by its ModelDeployment."""
    owner = default_daemonset()["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (constants.KIND, UID, True)


def test_expected_files_are_compact_sorted_json() -> None:
    """The expected file list is compact JSON of [path, size], sorted by path."""
    files = [ModelFile("b", 2), ModelFile("a/c", 1)]
    assert expected_files_json(files) == '[["a/c",1],["b",2]]'


def test_expected_files_reach_the_pod_annotation() -> None:
    """The pod template carries the expected files annotation that hold reads."""
    annotations = default_daemonset()["spec"]["template"]["metadata"]["annotations"]
    assert json.loads(annotations[constants.ANNOTATION_EXPECTED_FILES]) == [
        ["config.json", 512],
        ["model.safetensors", 4096],
    ]


def test_long_names_are_shortened_to_63() -> None:
    """A 253-character ModelDeployment name still gives a name of at most 63 characters."""
    name = holder_daemonset_name("m" * 253, NS, DIGEST)
    assert len(name) == 63 and name == holder_daemonset_name("m" * 253, NS, DIGEST)


def test_names_differ_per_digest() -> None:
    """Two digests of one ModelDeployment get two DaemonSets."""
    other = "sha256:" + "f" * 64
    assert holder_daemonset_name(NAME, NS, DIGEST) != holder_daemonset_name(NAME, NS, other)


def regenerate() -> None:
    for file_name, build in CASES.items():
        (GOLDEN / file_name).write_text(render(build()))


if __name__ == "__main__":
    regenerate()
