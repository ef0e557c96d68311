"""Exponential back-off, the one formula every retry in the project uses.

    delay(attempt) = min(base * 2 ** (attempt - 1), cap)      attempt counts from 1

Registry requests (oci.transport), registry resolves of a ModelDeployment
(reconciler.resolver) and failed nodes' next admission (core.waves) all call it.
Pure: no clock, no sleeping; callers decide what to do with the delay.
"""

from __future__ import annotations


def exponential_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base, 2*base, ..."""
    if attempt <= 1:
        return float(min(base, cap))
    # 2 ** 1024 overflows a float: past 64 doublings every sane cap has been reached.
    return float(min(base * 2 ** min(attempt - 1, 64), cap))
