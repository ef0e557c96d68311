"""Unit-test settings shared by every module."""

from __future__ import annotations

from hypothesis import settings

# No per-example deadline anywhere: `make test` runs these beside real nodes on 2 cores,
# where a 200 ms deadline fails on load, not on the code (timing is for e2e/bench/).
settings.register_profile("modelprefetch", deadline=None)
settings.load_profile("modelprefetch")
