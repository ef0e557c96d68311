"""Turn pydantic validation errors into Kubernetes-style field errors.

The validating webhook denies admission with these, and the operator reports them in
conditions, so both speak of `spec.prefetch.maxConcurrentNodes`, not of Python names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: a dotted path with list indexes, and what is wrong."""

    path: str  # e.g. "spec.nodes.tolerations[0].operator"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def field_path(location: Sequence[int | str], root: str = "spec") -> str:
    """`("prefetch", "maxConcurrentNodes")` -> `spec.prefetch.maxConcurrentNodes`."""
    path = root
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "json-or-python")) or "[" in part:
            continue  # pydantic's internal validator steps, not fields
        else:
            path += f".{part}" if path else part
    return path


def field_errors(error: ValidationError, root: str = "spec") -> list[FieldError]:
    """One FieldError per pydantic error, with the camelCase path under `root`."""
    return [
        FieldError(path=field_path(item["loc"], root), message=_message(item["msg"]))
        for item in error.errors(include_url=False)
    ]


def describe(error: ValidationError, root: str = "spec") -> str:
    """All field errors in one sentence-like string, for admission denials and conditions."""
    return "; ".join(str(item) for item in field_errors(error, root))


def _message(pydantic_message: str) -> str:
    """Drop pydantic's "Value error, " prefix: the user did not write a ValueError."""
    return pydantic_message.removeprefix("Value error, ")
