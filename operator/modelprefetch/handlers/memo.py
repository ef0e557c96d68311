"""The services reach every handler through kopf's `memo` (kopf docs/memos.rst).

kopf shallow-copies the operator's memo for each object, so all handlers share the one
`Services` instance put in at start; there is no module-level global to install.
"""

from __future__ import annotations

import kopf

from modelprefetch.reconciler.services import Services

MEMO_KEY = "services"


def memo_for(services: Services) -> kopf.Memo:
    """The memo to start kopf with: `kopf.operator(memo=memo_for(services))`."""
    return kopf.Memo({MEMO_KEY: services})


def services_of(memo: kopf.Memo) -> Services:
    """The services in a handler's `memo`; a clear error when kopf was started without."""
    services = memo.get(MEMO_KEY)
    if not isinstance(services, Services):
        raise RuntimeError(
            "kopf's memo carries no modelprefetch Services: start kopf with "
            "kopf.operator(memo=modelprefetch.handlers.memo.memo_for(services))"
        )
    return services
