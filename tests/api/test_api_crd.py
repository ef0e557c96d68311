"""The generated CRD: in sync with crds/, structural, and accepting the sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from modelprefetch import constants
from modelprefetch.api.crd import build_crd, openapi_schema, render_crd_yaml
from modelprefetch.cli import main

ROOT = Path(__file__).parents[2]
CRD_FILE = ROOT / "crds" / "modelprefetch.io_modeldeployments.yaml"
SAMPLE = ROOT / "deploy" / "samples" / "modeldeployment.yaml"


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        nodes += walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}{{}}")
    return nodes


def test_committed_crd_is_regenerated() -> None:
    """crds/ holds exactly what the API models generate (run `modelprefetch crd -o ...`)."""
    assert CRD_FILE.read_text(encoding="utf-8") == render_crd_yaml()


def test_every_schema_node_is_typed() -> None:
    """Structural: every node has a type, or is int-or-string."""
    untyped = [
        path
        for path, node in walk(openapi_schema())
        if "type" not in node and not node.get("x-kubernetes-int-or-string")
    ]
    assert untyped == []


def test_no_json_schema_leftovers() -> None:
    """No $ref, null types, titles or additionalProperties next to properties remain."""
    text = yaml.safe_dump(openapi_schema())
    bad = [word for word in ("$ref", "type: 'null'", "title:", "$defs") if word in text]
    mixed = [
        p for p, n in walk(openapi_schema()) if "properties" in n and "additionalProperties" in n
    ]
    assert (bad, mixed) == ([], [])


def test_anyof_only_for_int_or_string() -> None:
    """anyOf appears only in int-or-string fields (allowed by structural schemas)."""
    offenders = [
        path
        for path, node in walk(openapi_schema())
        if "anyOf" in node and not node.get("x-kubernetes-int-or-string")
    ]
    assert offenders == []


def test_every_field_is_described() -> None:
    """Every spec and status field has a description for kubectl explain."""
    schema = openapi_schema()
    missing = [
        path
        for root in ("spec", "status")
        for path, node in walk(schema["properties"][root], root)
        if not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert missing == []


def test_sample_validates_against_crd_schema() -> None:
    """The sample satisfies the generated OpenAPI schema."""
    document = yaml.safe_load(SAMPLE.read_text())
    jsonschema.validate(document, openapi_schema())


def test_crd_schema_rejects_bad_percentage() -> None:
    """The CRD itself rejects maxConcurrentNodes: 150%."""
    document = yaml.safe_load(SAMPLE.read_text())
    document["spec"]["prefetch"]["maxConcurrentNodes"] = "150%"
    validator = jsonschema.Draft4Validator(openapi_schema())
    assert not validator.is_valid(document)


def test_names_status_and_columns() -> None:
    """Short names, status subresource and the ready column are declared."""
    spec = build_crd()["spec"]
    version = spec["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert (spec["names"]["shortNames"], version["subresources"], columns["Ready"]) == (
        list(constants.SHORT_NAMES),
        {"status": {}},
        ".status.nodes.summary",
    )


def test_conditions_are_a_list_map() -> None:
    """status.conditions is a list-map keyed by type (server-side apply merges by type)."""
    conditions = openapi_schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_cli_prints_the_crd(capsys: Any) -> None:
    """`modelprefetch crd` prints the generated YAML."""
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == render_crd_yaml()
