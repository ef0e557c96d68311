"""Property tests: the pydantic models and the generated CRD schema agree on validity."""

from __future__ import annotations

import string
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from modelprefetch.api.crd import openapi_schema
from modelprefetch.api.v1alpha1 import parse_spec

VALIDATOR = jsonschema.Draft4Validator(openapi_schema()["properties"]["spec"])
TEXT = st.text(alphabet=string.ascii_letters + string.digits + "%.:-_ ", max_size=8)
INT_OR_TEXT = st.one_of(st.integers(min_value=-5, max_value=500), TEXT)


def pydantic_accepts(spec: dict[str, Any]) -> bool:
    try:
        parse_spec(spec)
    except ValidationError:
        return False
    return True


def spec_with(prefetch: dict[str, Any]) -> dict[str, Any]:
    return {"model": {"reference": "registry.example.com/m:1"}, "prefetch": prefetch}


@settings(max_examples=300)
@given(INT_OR_TEXT)
def test_max_concurrent_nodes_agree(value: int | str) -> None:
    """maxConcurrentNodes: the CRD accepts exactly what the model accepts."""
    spec = spec_with({"maxConcurrentNodes": value})
    assert VALIDATOR.is_valid(spec) == pydantic_accepts(spec)


@settings(max_examples=300)
@given(st.from_regex(r"\A([0-9]{1,3}(\.[0-9])?(ms|h|m|s)){1,3}\Z") | TEXT)
def test_duration_syntax_agrees(value: str) -> None:
    """A duration string is well-formed for the CRD iff the model can parse its syntax."""
    spec = spec_with({"timeout": value})
    crd_ok = VALIDATOR.is_valid(spec)
    # The model also enforces a 10s minimum the schema cannot express: only compare syntax.
    model_ok = pydantic_accepts(spec) or "at least 10s" in _errors(spec)
    assert crd_ok == model_ok


@given(st.text(alphabet=string.ascii_lowercase + string.digits + "./:-_@", max_size=40))
def test_reference_pattern_agrees(reference: str) -> None:
    """The CRD's reference pattern and the model's reference check agree."""
    spec = {"model": {"reference": reference}}
    assert VALIDATOR.is_valid(spec) == pydantic_accepts(spec)


def _errors(spec: dict[str, Any]) -> str:
    try:
        parse_spec(spec)
    except ValidationError as exc:
        return str(exc)
    return ""
