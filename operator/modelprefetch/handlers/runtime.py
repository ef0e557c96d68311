"""Process-wide handles the handlers share: settings, the Kubernetes client, registry opts.

`modelprefetch run` fills it once before kopf starts; tests fill it with their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelprefetch.k8s.client import KubeClient
from modelprefetch.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    kube: KubeClient


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("handlers used before modelprefetch.handlers.runtime.install()")
    return _current
