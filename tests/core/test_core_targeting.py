"""Targeting (selectors, affinity, taints) and grouping nodes by what their runtime mounts."""

from __future__ import annotations

from typing import Any

from modelprefetch.api.v1alpha1 import NodeTargeting
from modelprefetch.core.targeting import group_by_mount, matching_nodes, node_matches
from modelprefetch.core.world import Taint
from modelprefetch.oci.artifact import ArtifactKind, LayerFormat, LayerInfo

from .helpers import CONTAINERD, CRIO, DIGEST, OLD_CONTAINERD, REPO, artifact, node


def targeting(**fields: Any) -> NodeTargeting:
    return NodeTargeting.model_validate(fields)


def required(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> Any:
    term: dict[str, Any] = {"matchExpressions": list(expressions)}
    if fields:
        term["matchFields"] = fields
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


def test_empty_targeting_matches_every_node() -> None:
    """No selector, affinity or tolerations: every untainted node is targeted."""
    assert node_matches(targeting(), node("n1"))


def test_node_selector_requires_exact_labels() -> None:
    """nodeSelector keeps only nodes carrying every label with its value."""
    nodes = [node("gpu", labels={"gpu": "true"}), node("cpu", labels={"gpu": "false"})]
    assert [n.name for n in matching_nodes(targeting(nodeSelector={"gpu": "true"}), nodes)] == [
        "gpu"
    ]


def test_affinity_in_and_not_in() -> None:
    """In and NotIn compare the label value with the listed values."""
    rule = targeting(
        affinity=required(
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
            {"key": "pool", "operator": "NotIn", "values": ["spot"]},
        )
    )
    nodes = [
        node("ok", labels={"zone": "a", "pool": "main"}),
        node("spot", labels={"zone": "a", "pool": "spot"}),
        node("far", labels={"zone": "c"}),
    ]
    assert [n.name for n in matching_nodes(rule, nodes)] == ["ok"]


def test_affinity_gt_compares_integers() -> None:
    """Gt compares the label as an integer."""
    rule = targeting(affinity=required({"key": "gpus", "operator": "Gt", "values": ["2"]}))
    nodes = [node("big", labels={"gpus": "8"}), node("small", labels={"gpus": "1"})]
    assert [n.name for n in matching_nodes(rule, nodes)] == ["big"]


def test_match_fields_selects_by_name() -> None:
    """matchFields on metadata.name selects nodes by name."""
    rule = targeting(
        affinity=required(fields=[{"key": "metadata.name", "operator": "In", "values": ["n2"]}])
    )
    assert [n.name for n in matching_nodes(rule, [node("n1"), node("n2")])] == ["n2"]


def test_untolerated_no_schedule_taint_excludes() -> None:
    """A NoSchedule taint without a toleration excludes the node."""
    tainted = node("n1", taints=(Taint("dedicated", "NoSchedule", "gpu"),))
    assert not node_matches(targeting(), tainted)


def test_toleration_admits_tainted_node() -> None:
    """An Exists toleration for the key admits the tainted node."""
    tainted = node("n1", taints=(Taint("dedicated", "NoExecute", "gpu"),))
    rule = targeting(tolerations=[{"key": "dedicated", "operator": "Exists"}])
    assert node_matches(rule, tainted)


def test_toleration_with_other_effect_does_not_match() -> None:
    """A toleration for NoSchedule does not tolerate a NoExecute taint."""
    tainted = node("n1", taints=(Taint("dedicated", "NoExecute", "gpu"),))
    rule = targeting(tolerations=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    assert not node_matches(rule, tainted)


def test_prefer_no_schedule_and_daemonset_taints_are_ignored() -> None:
    """PreferNoSchedule and the taints DaemonSets tolerate do not exclude a node."""
    taints = (
        Taint("soft", "PreferNoSchedule"),
        Taint("node.kubernetes.io/unschedulable", "NoSchedule"),
        Taint("node.kubernetes.io/not-ready", "NoExecute"),
    )
    assert node_matches(targeting(), node("n1", taints=taints))


def test_oci_image_forms_one_group_across_runtimes() -> None:
    """An OCI image mounts as itself on containerd and CRI-O: one group, sorted nodes."""
    targets = group_by_mount(
        artifact(), [node("b", CRIO), node("a", CONTAINERD)], allow_derivation=True
    )
    assert [(g.reference, [n.name for n in g.nodes]) for g in targets.groups] == [
        (f"{REPO}@{DIGEST}", ["a", "b"])
    ]


def test_runtime_without_image_volumes_is_unmountable() -> None:
    """containerd 1.7 cannot mount image volumes: reported by name and reason."""
    targets = group_by_mount(artifact(), [node("old", OLD_CONTAINERD)], allow_derivation=True)
    assert [(u.name, u.reason) for u in targets.unmountable] == [("old", "RuntimeTooOld")]


def modelpack(**changes: Any) -> Any:
    layer = LayerInfo(
        digest="sha256:" + "c" * 64,
        size=4096,
        media_type="application/vnd.cncf.model.weight.v1.raw",
        kind="weight",
        layer_format=LayerFormat.RAW,
        path="model.safetensors",
        path_annotation="org.cncf.model.filepath",
        name_annotations=(("org.cncf.model.filepath", "model.safetensors"),),
    )
    return artifact(
        kind=ArtifactKind.MODELPACK, layer_format=LayerFormat.RAW, layers=(layer,), **changes
    )


def test_native_modelpack_on_containerd_awaits_derivation() -> None:
    """A raw ModelPack on containerd waits for a derived image when derivation is allowed."""
    targets = group_by_mount(modelpack(), [node("c", CONTAINERD)], allow_derivation=True)
    assert ([n.name for n in targets.awaiting_derivation], targets.groups) == (["c"], ())


def test_derived_image_splits_runtimes_into_two_groups() -> None:
    """CRI-O 1.35 mounts the ModelPack itself, containerd its derived image."""
    derived = f"{REPO}@sha256:" + "d" * 64
    targets = group_by_mount(
        modelpack(derived_image=derived),
        [node("c", CONTAINERD), node("o", "cri-o://1.35.2")],
        allow_derivation=True,
    )
    assert {g.reference: [n.name for n in g.nodes] for g in targets.groups} == {
        derived: ["c"],
        f"{REPO}@{DIGEST}": ["o"],
    }


def test_derivation_disabled_reports_empty_mount() -> None:
    """With derivation disabled, containerd nodes are unmountable and say why."""
    targets = group_by_mount(modelpack(), [node("c", CONTAINERD)], allow_derivation=False)
    assert [u.reason for u in targets.unmountable] == ["EmptyMountOnContainerd"]


def test_sub_path_excludes_runtimes_that_ignore_it() -> None:
    """With a subPath, containerd 2.1 (which ignores it) is unmountable; 2.2 is fine."""
    targets = group_by_mount(
        artifact(),
        [node("old", "containerd://2.1.4"), node("new", CONTAINERD)],
        allow_derivation=True,
        needs_subpath=True,
    )
    assert (
        [u.reason for u in targets.unmountable],
        [n.name for g in targets.groups for n in g.nodes],
    ) == (["SubPathUnsupported"], ["new"])
