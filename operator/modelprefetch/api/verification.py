"""spec.model.verify: which signatures a model must carry before any node pulls it."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from modelprefetch.api.base import ApiModel
from modelprefetch.api.regexp import PatternError, check_pattern
from modelprefetch.api.types import DNS_SUBDOMAIN_PATTERN

MAX_PUBLIC_KEY_SOURCES = 8
MAX_KEYLESS_SIGNERS = 8
DEFAULT_PUBLIC_KEY_ENTRY = "cosign.pub"
DEFAULT_TRUSTED_ROOT_ENTRY = "trusted_root.json"
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


class TrustedRootSource(ApiModel):
    """A sigstore trusted_root.json (the CAs that issue signing certificates and the
    timestamp authorities) in a Secret or a ConfigMap of the ModelDeployment's namespace.
    Set exactly one of secretName and configMapName."""

    secret_name: _ObjectName | None = None
    """Name of a Secret holding the trusted root."""
    config_map_name: _ObjectName | None = None
    """Name of a ConfigMap holding the trusted root."""
    key: _DataKey = DEFAULT_TRUSTED_ROOT_ENTRY
    """The data entry with the JSON; default trusted_root.json."""

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


_Text = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class KeylessSigner(ApiModel):
    """Keyless (certificate) signatures, checked offline: the signing certificate must
    chain to a CA of the trusted root at the time a trusted timestamp authority vouches
    for, and carry this identity (a SubjectAltName: email, URI) and OIDC issuer. Set
    exactly one of identity/identityRegExp and one of issuer/issuerRegExp; a regular
    expression must match the whole value."""

    trusted_root: TrustedRootSource
    """Where the sigstore trusted_root.json is."""
    identity: _Text | None = None
    """The certificate identity, exactly."""
    identity_reg_exp: _Text | None = Field(default=None, alias="identityRegExp")
    """A regular expression (RE2 syntax, as cosign's) the whole identity must match."""
    issuer: _Text | None = None
    """The OIDC issuer in the certificate (extension 1.3.6.1.4.1.57264.1.8), exactly."""
    issuer_reg_exp: _Text | None = Field(default=None, alias="issuerRegExp")
    """A regular expression (RE2 syntax, as cosign's) the whole issuer must match."""

    @model_validator(mode="after")
    def _one_matcher_each(self) -> Self:
        for exact, pattern, name in (
            (self.identity, self.identity_reg_exp, "identity"),
            (self.issuer, self.issuer_reg_exp, "issuer"),
        ):
            if (exact is None) == (pattern is None):
                raise ValueError(f"set exactly one of {name} and {name}RegExp")
            if pattern is not None:
                try:
                    check_pattern(pattern)
                except PatternError as exc:
                    raise ValueError(f"{name}RegExp {pattern!r} does not compile: {exc}") from None
        return self

    def describe(self) -> str:
        """`identity 'x' issuer ~'y.*' (ConfigMap root[trusted_root.json])`, for messages;
        the same words as the verifier's KeylessPolicy.describe()."""
        identity = _matcher(self.identity, self.identity_reg_exp)
        issuer = _matcher(self.issuer, self.issuer_reg_exp)
        return f"identity {identity} issuer {issuer} ({self.trusted_root.describe()})"


def _matcher(exact: str | None, pattern: str | None) -> str:
    return repr(exact) if exact is not None else f"~{pattern!r}"


class VerifyPolicy(ApiModel):
    """Signatures the model's manifest digest must carry. Until one verifies, nothing is
    pulled to any node and the webhook admits no pod for the model; a tag that moves is
    verified again before the new digest rolls out. Set publicKeys, keyless, or both:
    a signature trusted by either verifies the model."""

    public_keys: list[PublicKeySource] = Field(
        default_factory=list, max_length=MAX_PUBLIC_KEY_SOURCES
    )
    """Trusted cosign public keys: a signature made with any of them verifies the model.
    Signatures are read from OCI 1.1 referrers and from cosign's sha256-<hex>.sig tag.
    The same keys verify an OpenSSF model signature (model.sig) in the model."""
    keyless: list[KeylessSigner] = Field(default_factory=list, max_length=MAX_KEYLESS_SIGNERS)
    """Trusted keyless signers (certificate identity + issuer under a trusted root)."""
    model_signature: Literal["IfPresent", "Required"] = "IfPresent"
    """OpenSSF model signing (a model.sig file in the model, key-based): IfPresent checks
    it when the model carries one; Required also rejects a model without it."""

    @model_validator(mode="after")
    def _some_signer(self) -> Self:
        if not self.public_keys and not self.keyless:
            raise ValueError("set publicKeys or keyless (or both)")
        return self
