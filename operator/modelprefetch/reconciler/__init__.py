"""The operator's reconcile services: gather -> plan (pure, `core`) -> apply.

    gather.py    one ModelDeployment and what surrounds it -> the frozen `core.World`
    resolver.py  the registry side of gathering: resolve the reference, publish images
    objects.py   Kubernetes objects (plain dicts) -> the World's frozen parts
    apply.py     a `core.Plan` -> API calls, Events, status, metrics
    loop.py      one ModelDeployment's level-based loop, and its deletion
    wakeups.py   events about nodes, pods and DaemonSets wake the loops
    services.py  settings + Kubernetes client + wake-ups, handed to kopf as its memo

No kopf here: `handlers/` adapts kopf to these functions.
"""
