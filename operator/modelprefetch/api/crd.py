"""Generate the ModelDeployment CustomResourceDefinition from the pydantic models.

Pydantic emits JSON Schema 2020-12; the API server wants a structural OpenAPI v3 subset.
`to_structural` inlines $refs, turns Optional (anyOf with null) into plain optional
fields and drops keywords Kubernetes rejects or does not need.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from modelprefetch import constants
from modelprefetch.api.status import ModelDeploymentStatus
from modelprefetch.api.v1alpha1 import ModelDeploymentSpec

CRD_NAME = f"{constants.PLURAL}.{constants.GROUP}"
CATEGORIES = ("modelprefetch",)

# JSON Schema keywords the structural OpenAPI subset has no use for (or rejects).
_DROPPED_KEYWORDS = frozenset({"title", "$defs", "propertyNames", "examples", "$schema"})

PRINTER_COLUMNS: tuple[dict[str, Any], ...] = (
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.reference"},
    {"name": "Digest", "type": "string", "jsonPath": ".status.resolved.shortDigest"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.nodes.summary"},
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
    },
    {"name": "Format", "type": "string", "jsonPath": ".status.resolved.format", "priority": 1},
    # Progress (-o wide): nodes per phase and the ETA of the last node (status.progress).
    {
        "name": "Pending",
        "type": "integer",
        "jsonPath": ".status.progress.phases.pending",
        "priority": 1,
    },
    {
        "name": "Pulling",
        "type": "integer",
        "jsonPath": ".status.progress.phases.pulling",
        "priority": 1,
    },
    {
        "name": "Verifying",
        "type": "integer",
        "jsonPath": ".status.progress.phases.verifying",
        "priority": 1,
    },
    {
        "name": "Failed",
        "type": "integer",
        "jsonPath": ".status.progress.phases.failed",
        "priority": 1,
    },
    {"name": "ETA", "type": "string", "jsonPath": ".status.progress.eta", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def to_structural(schema: dict[str, Any], *, keep_defaults: bool = True) -> dict[str, Any]:
    """Convert a pydantic JSON schema (with $defs) to a structural OpenAPI v3 schema."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    converted: dict[str, Any] = _convert(schema, definitions, keep_defaults)
    return converted


def _convert(node: Any, definitions: dict[str, Any], keep_defaults: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, definitions, keep_defaults) for item in node]
    if not isinstance(node, dict):
        return node
    node = _inline_ref(_collapse_nullable(_inline_ref(node, definitions)), definitions)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "default" and (value is None or not keep_defaults):
            continue
        if key == "additionalProperties" and value is False:
            continue  # the API server prunes unknown fields; false is not structural
        if key == "description" and isinstance(value, str):
            result[key] = " ".join(value.split())  # docstrings wrap; kubectl explain rewraps
            continue
        if key == "const":
            result["enum"] = [value]
            continue
        if key == "properties":
            result[key] = {
                name: _convert(sub, definitions, keep_defaults) for name, sub in value.items()
            }
            continue
        result[key] = _convert(value, definitions, keep_defaults)
    return result


def _inline_ref(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Replace {"$ref": ...} by the definition, keeping the referring node's keywords."""
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        node = {**copy.deepcopy(definitions[name]), **siblings}
    return node


def _collapse_nullable(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` (pydantic's Optional) becomes X: absence means None."""
    branches = node.get("anyOf")
    if not isinstance(branches, list):
        return node
    non_null = [branch for branch in branches if branch != {"type": "null"}]
    if len(non_null) == len(branches) or len(non_null) != 1:
        return node
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    return {**non_null[0], **merged}


def openapi_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the ModelDeployment version."""
    spec = to_structural(ModelDeploymentSpec.model_json_schema(by_alias=True))
    status = to_structural(
        ModelDeploymentStatus.model_json_schema(by_alias=True), keep_defaults=False
    )
    return {
        "type": "object",
        "description": (
            "ModelDeployment prefetches an AI model (OCI artifact or CNCF ModelPack) onto"
            " nodes and mounts it into selected pods as an image volume."
        ),
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
    }


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest for ModelDeployment."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {
                constants.LABEL_NAME: "modelprefetch",
                constants.LABEL_PART_OF: "modelprefetch",
            },
        },
        "spec": {
            "group": constants.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": constants.KIND,
                "listKind": f"{constants.KIND}List",
                "plural": constants.PLURAL,
                "singular": constants.SINGULAR,
                "shortNames": list(constants.SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    """The CRD as YAML, byte-for-byte what `crds/` holds."""
    header = "# Generated by `modelprefetch crd` from modelprefetch.api; do not edit.\n"
    body = yaml.safe_dump(build_crd(), sort_keys=False, default_flow_style=False, width=100)
    return header + body
