"""Constrained scalar types of the ModelDeployment API.

Each type validates what users write, serialises back to what they wrote (canonical
form) and carries the JSON schema the CRD generator turns into OpenAPI.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# Go-style durations as Kubernetes users write them: "30s", "10m", "1h30m", "0s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|h|m|s))+$"
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"
# Kubernetes resource quantity (apimachinery resource.Quantity), e.g. "5m", "64Mi", "1".
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# RFC 1123 subdomain (Secret and PriorityClass names).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# RFC 1123 label (container names).
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

_INT_OR_STRING_SCHEMA: dict[str, Any] = {
    "x-kubernetes-int-or-string": True,
    "anyOf": [{"type": "integer"}, {"type": "string"}],
}


def parse_duration(value: object) -> timedelta:
    """Parse a Go-style duration ("1h30m") or pass a timedelta through."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"{value!r} is not a duration like 30s, 10m or 1h30m")
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(value)
    )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Canonical Go-style form: "1h30m", "10m", "45s", "0s" (sub-second parts as ms)."""
    millis = round(value.total_seconds() * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    seconds, millis = divmod(millis, 1000)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]


def parse_int_or_percent(value: object) -> int | str:
    """Accept a count >= 0 or a percentage "0%".."100%"."""
    if isinstance(value, bool):
        raise ValueError("must be a number or a percentage such as 25%")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if isinstance(value, str) and re.fullmatch(PERCENT_PATTERN, value):
        return value
    raise ValueError(f"{value!r} is neither a number >= 0 nor a percentage such as 25%")


def scale_int_or_percent(value: int | str, total: int) -> int:
    """Absolute value of a count or percentage of `total`, percentages rounded up."""
    if isinstance(value, int):
        return value
    return math.ceil(total * int(value.rstrip("%")) / 100)


IntOrPercent = Annotated[
    int | str,
    BeforeValidator(parse_int_or_percent),
    WithJsonSchema(
        # The pattern applies to strings, the minimum to integers (as controller-gen
        # does for resource.Quantity).
        {**_INT_OR_STRING_SCHEMA, "pattern": PERCENT_PATTERN, "minimum": 0}
    ),
]


def parse_quantity(value: object) -> str:
    """Accept a Kubernetes quantity as written ("64Mi", "0.5", 1) and keep it a string."""
    if isinstance(value, bool):
        raise ValueError("must be a quantity such as 100m or 64Mi")
    text = str(value) if isinstance(value, int | float) else value
    if not isinstance(text, str) or not re.fullmatch(QUANTITY_PATTERN, text):
        raise ValueError(f"{value!r} is not a quantity such as 100m or 64Mi")
    return text


Quantity = Annotated[
    str,
    BeforeValidator(parse_quantity),
    WithJsonSchema({**_INT_OR_STRING_SCHEMA, "pattern": QUANTITY_PATTERN}),
]
