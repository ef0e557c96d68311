"""Property tests: any valid pod shape + any models -> a valid pod, and a second pass is a no-op."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelprefetch.webhook.patch import PodConflictError, mutate_pod
from modelprefetch.webhook.types import Readiness, Scheduling

from .helpers import apply_patch, entry

NAMES = ["a", "b", "llama-3.1", "x.y"]
PATHS = ["/models/a", "/models/b", "/data", "/models/x.y", "/models/llama-3.1", "/cache"]
WEIRD_KEYS = st.sampled_from(["app", "a/b", "x~y", "~1", "/", "example.com/role", "~0/~1"])


def _mounts() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.sampled_from(PATHS), unique=True, max_size=3).flatmap(
        lambda paths: st.lists(
            st.sampled_from(["cache", "model-a", "data", "model-b"]),
            min_size=len(paths),
            max_size=len(paths),
        ).map(lambda vols: [{"name": v, "mountPath": p} for v, p in zip(vols, paths, strict=True)])
    )


def _container(name: str) -> st.SearchStrategy[dict[str, Any]]:
    env = st.lists(st.sampled_from(["MODEL_PATH", "FOO", "MODEL_NAME_A"]), unique=True).map(
        lambda names: [{"name": n, "value": "v"} for n in names]
    )
    return st.fixed_dictionaries(
        {"name": st.just(name), "image": st.just("busybox")},
        optional={
            "env": st.one_of(st.none(), env),
            "volumeMounts": st.one_of(st.none(), _mounts()),
        },
    )


def _containers(prefix: str, min_size: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.integers(min_size, 6).flatmap(
        lambda n: st.tuples(*[_container(f"{prefix}{i}") for i in range(n)]).map(list)
    )


_term = st.fixed_dictionaries(
    {},
    optional={
        "matchExpressions": st.lists(
            st.builds(lambda k: {"key": k, "operator": "Exists"}, WEIRD_KEYS), max_size=2
        ),
        "matchFields": st.just([{"key": "metadata.name", "operator": "In", "values": ["n"]}]),
    },
)
_affinity = st.one_of(
    st.none(),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "nodeAffinity": st.fixed_dictionaries(
                {},
                optional={
                    "requiredDuringSchedulingIgnoredDuringExecution": st.builds(
                        lambda t: {"nodeSelectorTerms": t}, st.lists(_term, min_size=1, max_size=3)
                    ),
                    "preferredDuringSchedulingIgnoredDuringExecution": st.lists(
                        st.builds(lambda t: {"weight": 5, "preference": t}, _term), max_size=2
                    ),
                },
            ),
            "podAntiAffinity": st.just({}),
        },
    ),
)

pods = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "labels": st.dictionaries(WEIRD_KEYS, st.just("v")),
                "annotations": st.one_of(st.none(), st.dictionaries(WEIRD_KEYS, st.just("v"))),
            },
        ),
        "spec": st.fixed_dictionaries(
            {"containers": _containers("c", 1)},
            optional={
                "initContainers": st.one_of(st.none(), _containers("i", 0)),
                "volumes": st.one_of(
                    st.none(),
                    st.lists(
                        st.sampled_from(["cache", "data", "model-b", "model-a"]), unique=True
                    ).map(lambda ns: [{"name": n, "emptyDir": {}} for n in ns]),
                ),
                "imagePullSecrets": st.one_of(
                    st.none(),
                    st.lists(st.sampled_from(["regcred", "mine"]), unique=True).map(
                        lambda ns: [{"name": n} for n in ns]
                    ),
                ),
                "affinity": _affinity,
            },
        ),
    }
)

models = st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=3).flatmap(
    lambda names: st.tuples(
        *[
            st.builds(
                entry,
                st.just(n),
                readiness=st.sampled_from([Readiness.WARM, Readiness.COLD]),
                sub_path=st.sampled_from([None, "weights"]),
                containers=st.sampled_from([(), ("c0",), ("i0",), ("c1", "i1")]),
                scheduling=st.sampled_from(list(Scheduling)),
                pull_secrets=st.sampled_from([(), ("regcred",), ("regcred", "other")]),
                warm_label=st.sampled_from([f"warm/{n}", f"w~{n}"]),
            )
            for n in names
        ]
    ).map(list)
)


def _check_valid(p: dict[str, Any]) -> None:
    spec = p["spec"]
    volumes = [v["name"] for v in spec.get("volumes") or []]
    assert len(volumes) == len(set(volumes))
    for c in [*spec["containers"], *(spec.get("initContainers") or [])]:
        mounts = c.get("volumeMounts") or []
        assert len({m["mountPath"].rstrip("/") for m in mounts}) == len(mounts)
        names = Counter(e["name"] for e in c.get("env") or [])
        assert all(n == 1 for n in names.values()), names
    secrets = [s["name"] for s in spec.get("imagePullSecrets") or []]
    assert len(secrets) == len(set(secrets))


@settings(max_examples=400, deadline=None)
@given(pods, models)
def test_patch_applies_and_gives_a_valid_pod(p: dict[str, Any], ms: list[Any]) -> None:
    """Every successful patch applies strictly and yields unique volumes, mounts, env, secrets."""
    try:
        ops = mutate_pod(p, ms)
    except PodConflictError:
        return
    out = apply_patch(p, ops)
    _check_valid(out)
    volumes = {v["name"] for v in out["spec"]["volumes"]}
    assert {m.volume for m in ms} <= volumes


@settings(max_examples=400, deadline=None)
@given(pods, models)
def test_mutating_twice_equals_once(p: dict[str, Any], ms: list[Any]) -> None:
    """Reinvocation: the second pass over the patched pod changes nothing."""
    try:
        once = apply_patch(p, mutate_pod(p, ms))
    except PodConflictError:
        return
    assert mutate_pod(once, ms) == []


@settings(max_examples=300, deadline=None)
@given(pods, models)
def test_required_warm_label_in_every_term(p: dict[str, Any], ms: list[Any]) -> None:
    """A warm Required model's label is in every required nodeSelectorTerm."""
    try:
        out = apply_patch(p, mutate_pod(p, ms))
    except PodConflictError:
        return
    required = [
        m.warm_label
        for m in ms
        if m.scheduling is Scheduling.REQUIRED and m.readiness is Readiness.WARM
    ]
    if not required:
        return
    terms = out["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    for term in terms:
        keys = {e["key"] for e in term["matchExpressions"] if e["operator"] == "Exists"}
        assert set(required) <= keys


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["app", "Exists", "/m", "c0"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "key", "operator", "mountPath", "env", "matchExpressions"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=12,
)
_SPEC_LISTS = ("containers", "initContainers", "volumes", "imagePullSecrets")
_garbage_pods = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.one_of(_json, st.fixed_dictionaries({"annotations": _json})),
        "spec": st.one_of(
            _json,
            st.fixed_dictionaries(
                {},
                optional=dict.fromkeys(_SPEC_LISTS, _json)
                | {
                    "affinity": st.one_of(
                        _json,
                        st.builds(
                            lambda r, p: {
                                "nodeAffinity": {
                                    "requiredDuringSchedulingIgnoredDuringExecution": r,
                                    "preferredDuringSchedulingIgnoredDuringExecution": p,
                                }
                            },
                            st.one_of(_json, st.builds(lambda t: {"nodeSelectorTerms": t}, _json)),
                            _json,
                        ),
                    )
                },
            ),
        ),
    },
)


@settings(max_examples=500, deadline=None)
@given(_garbage_pods, models)
def test_garbage_shapes_raise_only_conflicts(p: dict[str, Any], ms: list[Any]) -> None:
    """Arbitrary JSON where pod fields belong gives a patch or a PodConflictError, nothing else."""
    with contextlib.suppress(PodConflictError):
        mutate_pod(p, ms)
