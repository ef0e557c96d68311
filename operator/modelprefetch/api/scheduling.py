"""The Kubernetes shapes the ModelDeployment spec borrows, trimmed to what we use.

Field names and semantics follow core/v1 so users can paste from their Pod specs.
"""

from __future__ import annotations

import enum
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from modelprefetch.api.base import ApiModel
from modelprefetch.api.types import DNS_SUBDOMAIN_PATTERN, Quantity

LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=317)]
ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class NodeSelectorOperator(enum.StrEnum):
    """How a node selector requirement compares a node's label or field."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class NodeSelectorRequirement(ApiModel):
    """A label (or field) key, an operator and values, as in core/v1."""

    key: LabelKey
    """The label key (or, in matchFields, the field: only `metadata.name`)."""
    operator: NodeSelectorOperator
    """In, NotIn, Exists, DoesNotExist, Gt or Lt."""
    values: list[str] = Field(default_factory=list, max_length=256)
    """Values for In/NotIn (at least one), Gt/Lt (exactly one integer); empty otherwise."""

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        op = self.operator
        if op in (NodeSelectorOperator.IN, NodeSelectorOperator.NOT_IN) and not self.values:
            raise ValueError(f"operator {op} needs at least one value")
        no_values = (NodeSelectorOperator.EXISTS, NodeSelectorOperator.DOES_NOT_EXIST)
        if op in no_values and self.values:
            raise ValueError(f"operator {op} takes no values")
        one_integer = len(self.values) == 1 and self.values[0].lstrip("-").isdigit()
        if op in (NodeSelectorOperator.GT, NodeSelectorOperator.LT) and not one_integer:
            raise ValueError(f"operator {op} needs exactly one integer value")
        return self


class NodeSelectorTerm(ApiModel):
    """Requirements that must all hold (terms of a NodeSelector are ORed)."""

    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    """Requirements on node labels."""
    match_fields: list[NodeSelectorRequirement] = Field(default_factory=list)
    """Requirements on node fields; only `metadata.name` is supported, as in core/v1."""

    @model_validator(mode="after")
    def _only_metadata_name_fields(self) -> Self:
        for requirement in self.match_fields:
            if requirement.key != "metadata.name":
                raise ValueError(f"matchFields supports only metadata.name, not {requirement.key}")
        return self


class NodeSelector(ApiModel):
    """A node matches when it matches at least one term."""

    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)
    """The terms, ORed."""


class NodeAffinity(ApiModel):
    """Required node affinity, as in core/v1 (preferences do not apply to prefetching)."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    """Nodes must match this selector to be prefetched."""


class Affinity(ApiModel):
    """The node part of a core/v1 Affinity."""

    node_affinity: NodeAffinity | None = None
    """Node affinity; only the required terms are used."""


class TolerationOperator(enum.StrEnum):
    """How a toleration compares its value with a taint's."""

    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(enum.StrEnum):
    """The effect of a taint a toleration matches; empty matches all effects."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"
    ALL = ""


class Toleration(ApiModel):
    """Lets prefetch pods run on nodes with a matching taint, as in core/v1."""

    key: str = ""
    """Taint key to match; empty with operator Exists matches every taint."""
    operator: TolerationOperator = TolerationOperator.EQUAL
    """Equal (key and value match) or Exists (key matches, any value)."""
    value: str = ""
    """Taint value for operator Equal; must be empty for Exists."""
    effect: TaintEffect = TaintEffect.ALL
    """NoSchedule, PreferNoSchedule, NoExecute, or empty for all effects."""
    toleration_seconds: Annotated[int, Field(ge=0)] | None = None
    """How long a NoExecute taint is tolerated; unset means forever."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.operator is TolerationOperator.EXISTS and self.value:
            raise ValueError("operator Exists takes no value")
        if not self.key and self.operator is not TolerationOperator.EXISTS:
            raise ValueError("an empty key needs operator Exists")
        return self


class ResourceRequirements(ApiModel):
    """Compute resources of the prefetch holder container, as in core/v1."""

    requests: dict[ResourceName, Quantity] = Field(default_factory=dict)
    """Minimum resources, e.g. {cpu: 5m, memory: 32Mi}."""
    limits: dict[ResourceName, Quantity] = Field(default_factory=dict)
    """Maximum resources, e.g. {memory: 64Mi}."""


class LocalObjectReference(ApiModel):
    """Names an object in the ModelDeployment's namespace."""

    name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
    """Name of the object."""


class LabelSelectorOperator(enum.StrEnum):
    """How a label selector requirement compares a label."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(ApiModel):
    """A label key, an operator and values, as in meta/v1."""

    key: LabelKey
    """The label key."""
    operator: LabelSelectorOperator
    """In, NotIn, Exists or DoesNotExist."""
    values: list[str] = Field(default_factory=list)
    """Values for In/NotIn (at least one); empty for Exists/DoesNotExist."""

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        needs_values = self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if not needs_values and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(ApiModel):
    """Selects pods by labels, as in meta/v1; an empty selector selects nothing here."""

    match_labels: dict[LabelKey, str] = Field(default_factory=dict)
    """Labels a pod must carry with exactly these values."""
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)
    """Further requirements, ANDed with matchLabels."""

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions
