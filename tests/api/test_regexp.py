"""Keyless identity/issuer patterns: RE2 (cosign's syntax), whole-value, linear time."""

from __future__ import annotations

import pytest

from modelprefetch.api.regexp import PatternError, check_pattern, full_match
from modelprefetch.api.verification import KeylessSigner


def test_the_whole_value_must_match() -> None:
    assert full_match(r"release@example\.com", "release@example.com")
    assert not full_match(r"release@example\.com", "evil-release@example.com.attacker")
    assert full_match(r"https://github\.com/org/.*", "https://github.com/org/repo/.github/x")


@pytest.mark.timeout(30)
def test_nested_quantifiers_against_a_crafted_identity_do_not_stall() -> None:
    """Python's `re` backtracks exponentially here (minutes for 40 characters): a pattern
    an editor of the ModelDeployment wrote must not stall the operator. Fails by timeout
    if the matcher ever goes back to a backtracking engine."""
    crafted = "a" * 100_000 + "!"
    assert not full_match(r"(a+)+$", crafted)
    assert not full_match(r"(a|aa)*b", crafted)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=release)"])
def test_backtracking_only_syntax_is_refused_with_the_reason(pattern: str) -> None:
    with pytest.raises(PatternError, match="RE2 syntax"):
        check_pattern(pattern)


def test_the_spec_names_the_field_of_a_pattern_re2_refuses() -> None:
    spec = {
        "trustedRoot": {"configMapName": "root"},
        "identityRegExp": r"(release)@\1",
        "issuer": "https://issuer.example.com",
    }
    with pytest.raises(ValueError, match=r"identityRegExp .* does not compile: .*RE2 syntax"):
        KeylessSigner.model_validate(spec)
