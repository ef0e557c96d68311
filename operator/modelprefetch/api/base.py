"""The base every API model shares: frozen, camelCase on the wire, documented fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Frozen, camelCase aliases, Python names accepted too, unknown fields rejected.

    Field docstrings become `description`s in the JSON schema and therefore in the CRD,
    so `kubectl explain` shows them.
    """

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    def to_dict(self) -> dict[str, object]:
        """The Kubernetes-shaped dict: camelCase keys, no unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
