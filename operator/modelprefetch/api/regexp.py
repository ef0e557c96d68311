"""Regular expressions written by users (keyless identity/issuer), matched in linear time.

RE2, the engine behind cosign's Go `regexp`: the same syntax cosign's
--certificate-identity-regexp takes, and no backtracking, so a pattern with nested
quantifiers cannot stall the operator on a crafted certificate identity (Python's `re`
could, for minutes). RE2 has no backreferences or lookarounds; such a pattern is refused
when the ModelDeployment is admitted.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error reaches the user in our message, not on stderr


class PatternError(ValueError):
    """The pattern is not valid RE2 syntax."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        raise PatternError(f"{detail} (RE2 syntax, as cosign's regexp)") from None


def check_pattern(pattern: str) -> None:
    """Raise PatternError unless `pattern` compiles."""
    _compiled(pattern)


def full_match(pattern: str, value: str) -> bool:
    """Whether the WHOLE `value` matches `pattern` (in time linear in its length)."""
    return _compiled(pattern).fullmatch(value) is not None
