"""ModelIndex: watch events in, pre-digested entries out."""

from __future__ import annotations

from typing import Any

from modelprefetch.api.v1alpha1 import Scheduling
from modelprefetch.webhook.index import ModelIndex, build_entry
from modelprefetch.webhook.types import LabelMatcher, Readiness

from .helpers import DIGEST, md


def test_entry_carries_pinned_reference_and_warm_label() -> None:
    """The mounted reference, digest, warm label and format come from status."""
    e = build_entry(md())
    assert e.reference == f"registry.local/models/llama@{DIGEST}"
    assert e.warm_label == "warm.x/llama"
    assert (e.model_name, e.model_format, e.readiness) == ("llama-model", "gguf", Readiness.WARM)


def test_entry_applies_spec_defaults() -> None:
    """Mount path defaults to /models/<name>, scheduling to Preferred."""
    e = build_entry(md())
    assert e.mount_path == "/models/llama"
    assert e.scheduling is Scheduling.PREFERRED


def test_entry_reads_mount_and_pull_secrets() -> None:
    """spec.mount and spec.model.pullSecrets are copied."""
    spec = {
        "model": {"reference": "r.local/m:v1", "pullSecrets": [{"name": "regcred"}]},
        "mount": {"path": "/m", "subPath": "w", "containers": ["app"], "scheduling": "Required"},
    }
    e = build_entry(md(spec=spec))
    assert (e.mount_path, e.sub_path, e.containers) == ("/m", "w", ("app",))
    assert e.pull_secrets == ("regcred",)
    assert e.scheduling is Scheduling.REQUIRED


def test_no_ready_node_is_cold() -> None:
    """A pinned model with no ready node is Cold."""
    assert build_entry(md(ready_nodes=0)).readiness is Readiness.COLD


def test_unresolved_keeps_condition_message() -> None:
    """Without status.resolved the entry is Unresolved with the Resolved condition message."""
    e = build_entry(md(resolved=False))
    assert e.readiness is Readiness.UNRESOLVED
    assert e.message == "tag v1 not found"


def test_no_mounted_reference_is_not_mountable() -> None:
    """Resolved but without a mounted reference is NotMountable."""
    assert build_entry(md(mountable=False)).readiness is Readiness.NOT_MOUNTABLE


def test_invalid_spec_names_the_field() -> None:
    """A spec that does not parse gives an Invalid entry naming the field."""
    e = build_entry(
        md(spec={"model": {"reference": "r.local/m:v1"}, "prefetch": {"timeout": "1s"}})
    )
    assert e.readiness is Readiness.INVALID
    assert "spec.prefetch.timeout" in e.message


def test_warm_label_falls_back_to_function() -> None:
    """Without a nodeLabel in status, the injected warm_label_key names the label."""
    obj = md()
    obj["status"]["resolved"]["mounts"] = []
    e = build_entry(obj, lambda ns, name, digest: f"{ns}.{name}.{digest[7:10]}")
    assert e.warm_label == "team.llama.aba"


def test_apply_and_delete() -> None:
    """ADDED makes an entry visible, DELETED removes it."""
    index = ModelIndex()
    index.apply("ADDED", md())
    assert index.get("team", "llama") is not None
    index.apply("DELETED", md())
    assert index.get("team", "llama") is None


def test_replace_all_marks_synced_and_drops_stale() -> None:
    """replace_all replaces everything and marks the index synced."""
    index = ModelIndex()
    index.apply("ADDED", md("old"))
    index.replace_all([md("new")])
    assert index.synced
    assert index.get("team", "old") is None and len(index) == 1


def test_selected_matches_pod_selector_in_namespace_only() -> None:
    """podSelector matches pods of the ModelDeployment's namespace only."""
    spec = {
        "model": {"reference": "r.local/m:v1"},
        "mount": {"podSelector": {"matchLabels": {"app": "web"}}},
    }
    index = ModelIndex()
    index.replace_all([md("a", spec=spec), md("b")])
    assert [e.name for e in index.selected("team", {"app": "web"})] == ["a"]
    assert index.selected("other", {"app": "web"}) == []
    assert index.selector_opt_ins() == [("team", LabelMatcher((("app", "web"),), ()))]


def test_label_matcher_expressions() -> None:
    """In, NotIn, Exists and DoesNotExist behave as in Kubernetes."""
    m = LabelMatcher.from_selector(
        {
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "skip", "operator": "DoesNotExist"},
            ]
        }
    )
    assert m is not None
    assert m.matches({"tier": "a", "team": "x"})
    assert not m.matches({"tier": "a", "team": "x", "env": "prod"})
    assert not m.matches({"tier": "c", "team": "x"})
    assert not m.matches({"tier": "a", "team": "x", "skip": ""})


def test_unreadable_object_is_skipped() -> None:
    """An object whose status cannot be read does not break the index."""
    index = ModelIndex()
    bad = md()
    bad["status"]["resolved"]["mounts"][0]["ready"] = "many"
    index.replace_all([bad, md("ok")])
    assert index.get("team", "ok") is not None and index.get("team", "llama") is None


def test_default_warm_label_is_the_planners() -> None:
    """Without nodeLabel in status, the planner's warm_label_key of the mount digest is used."""
    from modelprefetch.core.labels import warm_label_key

    obj = md()
    obj["status"]["resolved"]["mounts"][0]["nodeLabel"] = ""
    obj["status"]["resolved"]["mounts"][0]["digest"] = "sha256:" + "11" * 32
    assert build_entry(obj).warm_label == warm_label_key("team", "llama", "sha256:" + "11" * 32)


OLD_DIGEST = "sha256:" + "99" * 32
OLD_REFERENCE = f"registry.local/models/llama@{OLD_DIGEST}"


def rollout(new_ready: int, old_ready: int, mounted: str = OLD_REFERENCE) -> dict[str, Any]:
    """A ModelDeployment in the middle of a rollout: the new digest and the previous one."""
    obj = md(ready_nodes=new_ready)
    obj["status"]["nodes"]["ready"] = new_ready
    obj["status"]["resolved"]["mountedReference"] = mounted
    obj["status"]["resolved"]["mounts"].append(
        {
            "reference": OLD_REFERENCE,
            "digest": OLD_DIGEST,
            "ready": old_ready,
            "nodeLabel": "warm.x/llama-old",
            "current": False,
        }
    )
    return obj


def test_previous_digest_still_mounted_is_warm_on_its_own_nodes() -> None:
    """Mounting the previous digest, Ready on 2 nodes while the new one is on none: Warm."""
    e = build_entry(rollout(new_ready=0, old_ready=2))
    assert e.readiness is Readiness.WARM
    assert (e.reference, e.warm_label) == (OLD_REFERENCE, "warm.x/llama-old")


def test_previous_digest_names_its_own_digest() -> None:
    """While the previous digest is mounted, the entry's digest is that mount's digest."""
    assert build_entry(rollout(new_ready=0, old_ready=2)).digest == OLD_DIGEST


def test_new_digest_mounted_before_any_node_is_ready_is_cold() -> None:
    """The chosen mount has ready 0: Cold even if status.nodes.ready counts other nodes."""
    obj = md(ready_nodes=0)
    obj["status"]["nodes"]["ready"] = 3
    assert build_entry(obj).readiness is Readiness.COLD


def test_new_digest_mounted_uses_its_own_label() -> None:
    """Once the new digest is mounted, its nodeLabel and the resolved digest are used."""
    e = build_entry(
        rollout(new_ready=2, old_ready=1, mounted=f"registry.local/models/llama@{DIGEST}")
    )
    assert (e.readiness, e.warm_label, e.digest) == (Readiness.WARM, "warm.x/llama", DIGEST)


def test_missing_ready_count_is_cold() -> None:
    """A mount without a ready count (older status) is Cold, not an error."""
    obj = md()
    del obj["status"]["resolved"]["mounts"][0]["ready"]
    assert build_entry(obj).readiness is Readiness.COLD


def test_unverified_entry_carries_the_fix_for_its_policy_and_reason() -> None:
    """The fix is computed once per watch event, from spec.model.verify and the reason."""
    obj = md()
    obj["spec"]["model"]["verify"] = {
        "keyless": [
            {"trustedRoot": {"secretName": "root"}, "identity": "ci@x.io", "issuer": "https://i"}
        ]
    }
    obj["status"]["conditions"].append(
        {"type": "Verified", "status": "False", "reason": "UntrustedSigner", "message": "m"}
    )
    e = build_entry(obj)
    assert e.readiness is Readiness.UNVERIFIED and e.message == "UntrustedSigner: m"
    assert e.fix.startswith("sign the model's digest again keylessly with a certificate")
    assert "identity 'ci@x.io' issuer 'https://i' (Secret root[trusted_root.json])" in e.fix
    obj["status"]["conditions"][-1].update(status="True", reason="Verified")
    verified = build_entry(obj)
    assert verified.readiness is Readiness.WARM and verified.fix == ""
