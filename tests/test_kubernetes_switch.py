"""MODELPREFETCH_KUBERNETES_VERSION: which build the Kubernetes binaries come from."""

from __future__ import annotations

import pytest
from e2e.cluster import tools


def test_default_is_build_sh_default_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset: kubectl and etcd both come from build.sh's default folder."""
    monkeypatch.delenv(tools.KUBERNETES_VERSION_ENV, raising=False)
    assert tools.kubernetes_version() == ""
    assert tools.bin_dir().name.startswith("k8s-")


def test_version_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tools.KUBERNETES_VERSION_ENV, " 1.36.3 ")
    assert tools.kubernetes_version() == "v1.36.3"


def test_kubernetes_binaries_come_from_their_own_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release that is not built is an error naming the build command, never a silent
    fall-back to the default release; the other tools stay the default set's."""
    monkeypatch.setenv(tools.KUBERNETES_VERSION_ENV, "v1.99.0")
    assert tools.kubernetes_bin_dir("v1.99.0").name == "kubernetes-v1.99.0"
    with pytest.raises(FileNotFoundError, match=r"build\.sh --kubernetes v1\.99\.0"):
        tools.tool_path("kubelet")
    assert tools.kubernetes_bin_dir("v1.99.0") not in tools.tool_path("etcd").parents


def test_a_malformed_version_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tools.KUBERNETES_VERSION_ENV, "1.36")
    with pytest.raises(ValueError, match=r"MODELPREFETCH_KUBERNETES_VERSION=v1\.36:"):
        tools.tool_path("kube-apiserver")
