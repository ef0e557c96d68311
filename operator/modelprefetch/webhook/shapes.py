"""Defensive readers of pod JSON: wrong shapes become PodConflictError, never TypeError."""

from __future__ import annotations

from typing import Any


class PodConflictError(Exception):
    """The pod cannot take the model as it is; `field` is the pod field to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def escape(token: str) -> str:
    """One JSON-pointer reference token (RFC 6901): `~` -> `~0`, `/` -> `~1`."""
    return token.replace("~", "~0").replace("/", "~1")


def as_dict(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PodConflictError(field, "must be an object")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PodConflictError(field, "must be a list")
    return value


def named(items: list[Any], field: str) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name", ""), str):
            raise PodConflictError(f"{field}[{i}]", "must be an object with a string name")
        out.append(item)
    return out
