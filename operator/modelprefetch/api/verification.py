"""spec.model.verify: which signatures a model must carry before any node pulls it."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from modelprefetch.api.base import ApiModel
from modelprefetch.api.types import DNS_SUBDOMAIN_PATTERN

MAX_PUBLIC_KEY_SOURCES = 8
DEFAULT_PUBLIC_KEY_ENTRY = "cosign.pub"
_ObjectName = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
# A Secret/ConfigMap data key: [-._a-zA-Z0-9]+
_DataKey = Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)]


class PublicKeySource(ApiModel):
    """PEM public keys (cosign.pub format; one entry may hold several) in a Secret or a
    ConfigMap of the ModelDeployment's namespace. Set exactly one of secretName and
    configMapName."""

    secret_name: _ObjectName | None = None
    """Name of a Secret holding the key."""
    config_map_name: _ObjectName | None = None
    """Name of a ConfigMap holding the key."""
    key: _DataKey = DEFAULT_PUBLIC_KEY_ENTRY
    """The data entry with the PEM text; default cosign.pub."""

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        if (self.secret_name is None) == (self.config_map_name is None):
            raise ValueError("set exactly one of secretName and configMapName")
        return self

    def describe(self) -> str:
        """`Secret name[key]` or `ConfigMap name[key]`, for messages."""
        if self.secret_name is not None:
            return f"Secret {self.secret_name}[{self.key}]"
        return f"ConfigMap {self.config_map_name}[{self.key}]"


class VerifyPolicy(ApiModel):
    """Signatures the model's manifest digest must carry. Until one verifies, nothing is
    pulled to any node and the webhook admits no pod for the model; a tag that moves is
    verified again before the new digest rolls out."""

    public_keys: list[PublicKeySource] = Field(min_length=1, max_length=MAX_PUBLIC_KEY_SOURCES)
    """Trusted cosign public keys: a signature made with any of them verifies the model.
    Signatures are read from OCI 1.1 referrers and from cosign's sha256-<hex>.sig tag."""
