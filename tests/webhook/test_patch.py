"""Pod mutation: what the patch adds, what it leaves alone, and what it refuses."""

from __future__ import annotations

import pytest

from modelprefetch.webhook.patch import PodConflictError, escape, mutate_pod
from modelprefetch.webhook.types import Readiness, Scheduling

from .helpers import DIGEST, apply_patch, entry, pod


def mutated(p: dict, *models) -> dict:
    return apply_patch(p, mutate_pod(p, list(models)))


def test_adds_image_volume_with_pinned_reference() -> None:
    """The volume is an image volume with the digest-pinned reference and IfNotPresent."""
    out = mutated(pod(), entry())
    assert out["spec"]["volumes"] == [
        {
            "name": "model-llama",
            "image": {
                "reference": f"registry.local/models/llama@{DIGEST}",
                "pullPolicy": "IfNotPresent",
            },
        }
    ]


def test_mounts_read_only_with_sub_path() -> None:
    """The mount is read-only at spec.mount.path with the subPath."""
    out = mutated(pod(), entry(mount_path="/data/m", sub_path="weights"))
    assert out["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "model-llama", "mountPath": "/data/m", "readOnly": True, "subPath": "weights"}
    ]


def test_mounts_every_container_but_not_init_containers_by_default() -> None:
    """With no container names, every regular container gets the mount, init containers not."""
    p = pod({"name": "a"}, {"name": "b"}, initContainers=[{"name": "init"}])
    out = mutated(p, entry())
    assert [len(c.get("volumeMounts", [])) for c in out["spec"]["containers"]] == [1, 1]
    assert "volumeMounts" not in out["spec"]["initContainers"][0]


def test_named_init_container_gets_the_mount() -> None:
    """An init container named in spec.mount.containers gets the mount, others do not."""
    p = pod({"name": "a"}, initContainers=[{"name": "warmup"}])
    out = mutated(p, entry(containers=("warmup",)))
    assert "volumeMounts" in out["spec"]["initContainers"][0]
    assert "volumeMounts" not in out["spec"]["containers"][0]


def test_env_tells_where_and_what_the_model_is() -> None:
    """The primary model gets plain and suffixed MODEL_* variables."""
    out = mutated(pod(), entry(name="llama-3.1"))
    env = {e["name"]: e["value"] for e in out["spec"]["containers"][0]["env"]}
    assert env["MODEL_PATH"] == env["MODEL_PATH_LLAMA_3_1"] == "/models/llama-3.1"
    assert env["MODEL_NAME"] == "llama-3.1"
    assert env["MODEL_FORMAT"] == "safetensors"
    assert env["MODEL_DIGEST"] == DIGEST
    assert env["MODEL_REFERENCE"].endswith(DIGEST)


def test_second_model_gets_only_suffixed_env() -> None:
    """A non-primary model's variables are suffixed only, so the plain ones stay the first's."""
    out = mutated(pod(), entry("a"), entry("b"))
    env = {e["name"]: e["value"] for e in out["spec"]["containers"][0]["env"]}
    assert env["MODEL_PATH"] == "/models/a"
    assert env["MODEL_PATH_B"] == "/models/b"


def test_user_env_wins() -> None:
    """A variable the container already sets is not overridden."""
    p = pod({"name": "app", "env": [{"name": "MODEL_PATH", "value": "/mine"}]})
    env = mutated(p, entry())["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env if e["name"] == "MODEL_PATH"] == ["/mine"]


def test_pull_secrets_merged_without_duplicates() -> None:
    """Pull secrets are added once, keeping the pod's own."""
    p = pod(imagePullSecrets=[{"name": "regcred"}, {"name": "other"}])
    out = mutated(p, entry(pull_secrets=("regcred", "extra")), entry("b", pull_secrets=("extra",)))
    assert out["spec"]["imagePullSecrets"] == [
        {"name": "regcred"},
        {"name": "other"},
        {"name": "extra"},
    ]


def test_required_is_merged_into_every_term() -> None:
    """Required scheduling adds the warm label to every existing nodeSelectorTerm."""
    terms = [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, {"matchFields": []}]
    p = pod(
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    )
    out = mutated(p, entry(scheduling=Scheduling.REQUIRED, warm_label="w/x"))
    new_terms = out["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert all({"key": "w/x", "operator": "Exists"} in t["matchExpressions"] for t in new_terms)
    assert {"key": "gpu", "operator": "Exists"} in new_terms[0]["matchExpressions"]


def test_preferred_adds_weight_100_term() -> None:
    """Preferred scheduling adds one weight-100 preferred term."""
    out = mutated(pod(), entry(warm_label="w"))
    assert out["spec"]["affinity"]["nodeAffinity"] == {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "preference": {"matchExpressions": [{"key": "w", "operator": "Exists"}]},
            }
        ]
    }


def test_scheduling_none_leaves_affinity_alone() -> None:
    """Scheduling None adds no affinity."""
    out = mutated(pod(), entry(scheduling=Scheduling.NONE))
    assert "affinity" not in out["spec"]


def test_cold_model_downgrades_required_to_preferred() -> None:
    """A model warm nowhere gets Preferred affinity even when Required was asked."""
    out = mutated(pod(), entry(scheduling=Scheduling.REQUIRED, readiness=Readiness.COLD))
    node_affinity = out["spec"]["affinity"]["nodeAffinity"]
    assert list(node_affinity) == ["preferredDuringSchedulingIgnoredDuringExecution"]


def test_annotation_key_is_escaped() -> None:
    """The injected annotation is added through an escaped JSON pointer."""
    p = pod()
    p["metadata"]["annotations"] = {"a~b/c": "1"}
    ops = mutate_pod(p, [entry()])
    assert ops[0]["path"] == "/metadata/annotations/modelprefetch.io~1injected"
    assert apply_patch(p, ops)["metadata"]["annotations"]["a~b/c"] == "1"


def test_escape_follows_rfc6901() -> None:
    """`~` becomes `~0` before `/` becomes `~1`."""
    assert escape("a/~1") == "a~1~01"


def test_second_pass_is_empty() -> None:
    """Mutating an already mutated pod produces no operation."""
    models = [entry("a", scheduling=Scheduling.REQUIRED), entry("b")]
    once = mutated(pod(initContainers=[{"name": "i"}]), *models)
    assert mutate_pod(once, models) == []


def test_foreign_volume_with_our_name_is_a_conflict() -> None:
    """A volume named like ours that we did not add is denied, naming the field."""
    p = pod(volumes=[{"name": "model-llama", "emptyDir": {}}])
    with pytest.raises(PodConflictError) as err:
        mutate_pod(p, [entry()])
    assert err.value.field == "spec.volumes[0].name"


def test_taken_mount_path_is_a_conflict() -> None:
    """A mount path used by another volume is denied, naming the container mount."""
    p = pod({"name": "app", "volumeMounts": [{"name": "cache", "mountPath": "/models/llama/"}]})
    with pytest.raises(PodConflictError) as err:
        mutate_pod(p, [entry()])
    assert err.value.field == "spec.containers[0].volumeMounts[0].mountPath"
    assert "spec.mount.path" in err.value.message


def test_missing_named_container_is_a_conflict() -> None:
    """Naming containers the pod lacks is denied with the fix."""
    with pytest.raises(PodConflictError) as err:
        mutate_pod(pod(), [entry(containers=("server",))])
    assert "spec.mount.containers" in err.value.message


def test_two_models_on_one_path_is_a_conflict() -> None:
    """Two models with the same mount path cannot share a pod."""
    with pytest.raises(PodConflictError):
        mutate_pod(pod(), [entry("a", mount_path="/m"), entry("b", mount_path="/m")])


def test_wrong_shapes_are_conflicts_not_crashes() -> None:
    """A spec field of the wrong type is reported, not raised as TypeError."""
    with pytest.raises(PodConflictError) as err:
        mutate_pod({"metadata": {}, "spec": {"containers": {"x": 1}}}, [entry()])
    assert err.value.field == "spec.containers"


def test_input_pod_is_not_modified() -> None:
    """mutate_pod leaves its input untouched."""
    p = pod({"name": "a"}, {"name": "b", "env": []})
    before = repr(p)
    mutate_pod(p, [entry("a"), entry("b")])
    assert repr(p) == before


def test_unhashable_expression_key_is_tolerated() -> None:
    """A matchExpressions entry with a non-string key does not crash the merge."""
    terms = [{"matchExpressions": [{"key": ["x"], "operator": "Exists"}]}]
    p = pod(
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    )
    ops = mutate_pod(p, [entry(scheduling=Scheduling.REQUIRED)])
    assert ops[-1]["path"] == "/spec/affinity/nodeAffinity"
