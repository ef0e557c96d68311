"""The one back-off formula: doubling from base, capped."""

from __future__ import annotations

from modelprefetch.backoff import exponential_delay


def test_delay_doubles_from_base() -> None:
    """Attempts 1, 2, 3, 4 wait base, 2*base, 4*base, 8*base."""
    assert [exponential_delay(n, 0.5, 100) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


def test_delay_stops_at_the_cap() -> None:
    """No delay exceeds the cap, not even after very many attempts."""
    assert [exponential_delay(n, 5, 300) for n in (7, 8, 10_000)] == [300, 300, 300]


def test_attempt_zero_waits_the_base() -> None:
    """A caller counting from 0 still gets the base delay, never less."""
    assert exponential_delay(0, 2, 60) == 2
