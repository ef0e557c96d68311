"""ModelDeploymentSpec validation: defaults, accepted shapes and rejected ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from modelprefetch.api.types import scale_int_or_percent
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec, Scheduling, parse_spec
from modelprefetch.api.validation import field_errors

SAMPLE = Path(__file__).parents[2] / "deploy" / "samples" / "modeldeployment.yaml"
REFERENCE = "registry.example.com/models/llama:8b"


def spec(**sections: Any) -> dict[str, Any]:
    return {"model": {"reference": REFERENCE}, **sections}


def error_paths(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_spec(data)
    return [error.path for error in field_errors(caught.value)]


def test_minimal_spec_gets_documented_defaults() -> None:
    """A spec with only a reference gets the documented defaults."""
    parsed = parse_spec(spec())
    assert (
        parsed.model.refresh_interval,
        parsed.prefetch.max_concurrent_nodes,
        parsed.prefetch.timeout,
        parsed.mount.scheduling,
        parsed.mount.effective_path("llama"),
    ) == (
        timedelta(minutes=10),
        "25%",
        timedelta(minutes=30),
        Scheduling.PREFERRED,
        "/models/llama",
    )


def test_sample_parses() -> None:
    """The sample under deploy/samples is a valid spec."""
    document = yaml.safe_load(SAMPLE.read_text())
    parsed = ModelDeploymentSpec.parse(document["spec"])
    assert parsed.prefetch.max_concurrent_nodes == 2


def test_to_dict_round_trips() -> None:
    """Dumping a parsed spec and parsing it again gives the same spec."""
    document = yaml.safe_load(SAMPLE.read_text())
    parsed = parse_spec(document["spec"])
    assert parse_spec(parsed.to_dict()) == parsed


def test_durations_serialise_in_go_style() -> None:
    """Durations are written back as Go durations, not ISO 8601."""
    parsed = parse_spec(spec(prefetch={"timeout": "1h30m"}))
    assert parsed.to_dict()["prefetch"]["timeout"] == "1h30m"  # type: ignore[index]


@pytest.mark.parametrize("reference", ["ghcr.io/a/b@sha256:" + "a" * 64, "localhost:5000/m:v1"])
def test_reference_forms_accepted(reference: str) -> None:
    """Tag and digest references with registries and ports are accepted."""
    assert parse_spec({"model": {"reference": reference}}).model.reference == reference


def test_digest_reference_is_recognised() -> None:
    """A digest reference reports is_digest so refreshing can be skipped."""
    parsed = parse_spec({"model": {"reference": "ghcr.io/a/b@sha256:" + "0" * 64}})
    assert parsed.model.is_digest


def test_bad_reference_names_the_field() -> None:
    """An invalid reference is reported at spec.model.reference."""
    assert error_paths({"model": {"reference": "Not A Reference"}}) == ["spec.model.reference"]


def test_missing_model_is_rejected() -> None:
    """spec.model is required."""
    assert error_paths({}) == ["spec.model"]


@pytest.mark.parametrize("value", [-1, "101%", "25", "abc", True])
def test_bad_max_concurrent_nodes(value: object) -> None:
    """maxConcurrentNodes must be a count >= 0 or a percentage."""
    paths = error_paths(spec(prefetch={"maxConcurrentNodes": value}))
    assert paths == ["spec.prefetch.maxConcurrentNodes"]


def test_percentage_rounds_up() -> None:
    """A percentage of targeted nodes is rounded up."""
    assert scale_int_or_percent("25%", 5) == 2


def test_timeout_too_short_is_rejected() -> None:
    """A per-node timeout below 10s is rejected."""
    assert error_paths(spec(prefetch={"timeout": "5s"})) == ["spec.prefetch.timeout"]


def test_refresh_interval_zero_disables() -> None:
    """refreshInterval 0s is allowed and means never refresh."""
    parsed = parse_spec({"model": {"reference": REFERENCE, "refreshInterval": "0s"}})
    assert parsed.model.refresh_interval == timedelta(0)


def test_refresh_interval_too_often_is_rejected() -> None:
    """refreshInterval between 0s and 30s is rejected."""
    paths = error_paths({"model": {"reference": REFERENCE, "refreshInterval": "5s"}})
    assert paths == ["spec.model.refreshInterval"]


def test_duplicate_pull_secrets_rejected() -> None:
    """A pull secret listed twice is rejected."""
    secrets = [{"name": "a"}, {"name": "a"}]
    paths = error_paths({"model": {"reference": REFERENCE, "pullSecrets": secrets}})
    assert paths == ["spec.model.pullSecrets"]


def test_toleration_exists_with_value_rejected() -> None:
    """A toleration with operator Exists and a value is rejected at its index."""
    nodes = {
        "tolerations": [{"key": "k", "operator": "Exists"}, {"operator": "Exists", "value": "v"}]
    }
    assert error_paths(spec(nodes=nodes)) == ["spec.nodes.tolerations[1]"]


def test_toleration_empty_key_needs_exists() -> None:
    """A toleration with an empty key and operator Equal is rejected."""
    assert error_paths(spec(nodes={"tolerations": [{"value": "v"}]})) == [
        "spec.nodes.tolerations[0]"
    ]


@pytest.mark.parametrize(
    ("operator", "values"), [("In", []), ("Exists", ["a"]), ("Gt", ["x"]), ("Lt", ["1", "2"])]
)
def test_node_selector_requirement_values_fit_operator(operator: str, values: list[str]) -> None:
    """Node selector requirements need values that fit their operator."""
    term = {"matchExpressions": [{"key": "k", "operator": operator, "values": values}]}
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }
    paths = error_paths(spec(nodes={"affinity": affinity}))
    assert paths == [
        "spec.nodes.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0]"
    ]


def test_match_fields_only_metadata_name() -> None:
    """matchFields accepts only metadata.name."""
    term = {"matchFields": [{"key": "spec.unschedulable", "operator": "Exists"}]}
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }
    assert len(error_paths(spec(nodes={"affinity": affinity}))) == 1


@pytest.mark.parametrize("path", ["relative", "/models/../etc", "/", "/proc/x", "/models/"])
def test_bad_mount_path_rejected(path: str) -> None:
    """mount.path must be a normalised absolute path outside reserved directories."""
    assert error_paths(spec(mount={"path": path})) == ["spec.mount.path"]


@pytest.mark.parametrize("sub_path", ["/abs", "a/../b", ""])
def test_bad_sub_path_rejected(sub_path: str) -> None:
    """mount.subPath must be relative and free of .."""
    assert error_paths(spec(mount={"subPath": sub_path})) == ["spec.mount.subPath"]


def test_unknown_field_rejected() -> None:
    """Unknown fields are reported where they are."""
    assert error_paths(spec(prefetch={"maxConcurrentNode": 1})) == [
        "spec.prefetch.maxConcurrentNode"
    ]


def test_bad_quantity_rejected() -> None:
    """Holder resources must be Kubernetes quantities."""
    paths = error_paths(spec(prefetch={"resources": {"requests": {"cpu": "lots"}}}))
    assert paths == ["spec.prefetch.resources.requests.cpu"]


def test_integer_quantity_kept_as_string() -> None:
    """An integer quantity (cpu: 1) is accepted and kept as the string "1"."""
    parsed = parse_spec(spec(prefetch={"resources": {"limits": {"cpu": 1}}}))
    assert parsed.prefetch.resources is not None
    assert parsed.prefetch.resources.limits == {"cpu": "1"}


def test_spec_is_frozen() -> None:
    """Parsed specs are immutable."""
    parsed = parse_spec(spec())
    with pytest.raises(ValidationError):
        parsed.model = parsed.model  # type: ignore[misc]
