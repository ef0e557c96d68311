"""Durations and int-or-percent values: parsing, formatting and their round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelprefetch.api.types import (
    format_duration,
    parse_duration,
    parse_int_or_percent,
    scale_int_or_percent,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30), ("10m", 600), ("1h30m", 5400), ("0s", 0), ("1.5h", 5400), ("250ms", 0.25)],
)
def test_parse_duration(text: str, expected: float) -> None:
    """Go-style durations parse to the right number of seconds."""
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("text", ["", "10", "1d", "-5m", "m", "10 m"])
def test_parse_duration_rejects(text: str) -> None:
    """Strings that are not Go durations are rejected."""
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**9))
def test_duration_round_trip(millis: int) -> None:
    """Formatting then parsing any millisecond duration gives it back."""
    duration = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(duration)) == duration


def test_format_duration_is_canonical() -> None:
    """90 minutes is written 1h30m."""
    assert format_duration(timedelta(minutes=90)) == "1h30m"


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=10_000))
def test_percentage_never_below_share(percent: int, total: int) -> None:
    """A scaled percentage covers at least that share of the total and at most all of it."""
    scaled = scale_int_or_percent(parse_int_or_percent(f"{percent}%"), total)
    assert scaled * 100 >= percent * total
    assert scaled <= total


@given(st.integers(max_value=-1))
def test_negative_counts_rejected(count: int) -> None:
    """Negative counts are rejected."""
    with pytest.raises(ValueError, match="negative"):
        parse_int_or_percent(count)
