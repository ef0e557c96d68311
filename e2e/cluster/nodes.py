"""As many real nodes as a test asks for, on one pod network per cluster.

`RealNodes.create(...)` makes the cluster's LAN namespace (netns.PodNetwork) with the
API server relay and the egress proxy; `add(name)` starts one more node in its own
namespace; `remove(node)` stops one; `stop()` stops them all and deletes the network.
A cluster has at most one such network: its API server has one egress socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.cluster import images, procs, project_image
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.netns import PodNetwork
from e2e.cluster.realnode import ImageGC, RealNode


@dataclass
class RealNodes:
    cluster: LocalCluster
    network: PodNetwork
    registry_hosts: list[str]  # every local registry (127.0.0.1:PORT)
    pause_registry: str
    workdir: Path
    logdir: Path
    nodes: list[RealNode] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        cluster: LocalCluster,
        registry_hosts: list[str],
        pause_registry: str,
        workdir: Path,
        logdir: Path,
    ) -> RealNodes:
        """The cluster's pod network, without nodes yet."""
        if cluster.egress_socket.exists():
            raise RuntimeError(
                f"{cluster.egress_socket} exists: this cluster already has a real-node network"
            )
        network = PodNetwork(
            workdir=workdir / "net",
            logdir=logdir / "net",
            apiserver_port=cluster.apiserver_port,
            egress_socket=cluster.egress_socket,
        )
        network.create()
        return cls(cluster, network, registry_hosts, pause_registry, workdir, logdir)

    def add(
        self,
        name: str,
        *,
        label_value: str = "true",
        runtime: str | None = None,
        image_fs_bytes: int | None = None,
        image_gc: ImageGC | None = None,
    ) -> RealNode:
        """One more node, joined and Ready, with kube-proxy programming Services;
        `runtime` ("containerd-vX.Y.Z") overrides the session's (realnode.RealNode.runtime);
        `image_fs_bytes`: the runtime's root on a filesystem that big (default: the
        session's, tools.default_image_fs_bytes)."""
        if any(n.name == name for n in self.nodes):
            raise ValueError(f"real node {name} already exists")
        node = RealNode(
            cluster=self.cluster,
            network=self.network,
            registry_hosts=list(self.registry_hosts),
            pause_registry=self.pause_registry,
            workdir=self.workdir / name,
            logdir=self.logdir / name,
            name=name,
            label_value=label_value,
            **({"image_fs_bytes": image_fs_bytes} if image_fs_bytes is not None else {}),
            **({"image_gc": image_gc} if image_gc is not None else {}),
        )
        if runtime is not None:
            node.runtime = runtime
        self.nodes.append(node)
        try:
            node.start()
        except BaseException:
            self.remove(node)
            raise
        return node

    def ensure(self, count: int, *, prefix: str = "realnode") -> list[RealNode]:
        """At least `count` nodes (named prefix-1..N when new); returns the first `count`."""
        while len(self.nodes) < count:
            self.add(f"{prefix}-{len(self.nodes) + 1}")
        return self.nodes[:count]

    def remove(self, node: RealNode) -> None:
        node.stop()
        node.wipe()
        if node in self.nodes:
            self.nodes.remove(node)

    def stop(self) -> None:
        """Every node (pods, mounts, cgroups, processes), then the LAN and the relays."""
        for node in list(self.nodes):
            self.remove(node)
        self.network.delete()

    def trust_registries(self, hosts: list[str]) -> None:
        self.registry_hosts = [*self.registry_hosts, *hosts]
        for node in self.nodes:
            node.trust_registries(hosts)

    # State, for `python -m e2e.cluster up --real-nodes N` ----------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "network": self.network.to_state(),
            "registryHosts": self.registry_hosts,
            "pauseRegistry": self.pause_registry,
            "workdir": str(self.workdir),
            "logdir": str(self.logdir),
            "realNodes": [n.to_state() for n in self.nodes],
        }

    @classmethod
    def attach(
        cls, cluster: LocalCluster, state: dict[str, Any], state_file: Path | None = None
    ) -> RealNodes:
        """A handle on the nodes and network another process started (see `to_state`)."""
        network = PodNetwork.from_state(state["network"])
        group = cls(
            cluster,
            network,
            list(state["registryHosts"]),
            state["pauseRegistry"],
            Path(state["workdir"]),
            Path(state["logdir"]),
        )
        group.nodes = [attach_node(cluster, network, n, state_file) for n in state["realNodes"]]
        return group


def attach_node(
    cluster: LocalCluster,
    network: PodNetwork,
    state: dict[str, Any],
    state_file: Path | None = None,
) -> RealNode:
    """A handle on a node another process started (see `to_state`)."""
    node = RealNode(
        cluster=cluster,
        network=network,
        registry_hosts=[],
        pause_registry="",
        workdir=Path(state["workdir"]),
        logdir=Path(state["logdir"]),
        name=state["name"],
        label_value=state["labelValue"],
        index=state["index"],
        suffix=state["suffix"],
        pause_reference=state["pauseReference"],
        state_file=state_file,
        runtime=state.get("runtime", ""),
    )
    node._serving = (Path(state["serving"][0]), Path(state["serving"][1]))
    node._client_ca = Path(state["clientCA"])
    for attr, key in (("containerd",) * 2, ("kubelet",) * 2, ("kube_proxy", "kubeProxy")):
        if d := state.get(key):
            setattr(node, attr, procs.Proc(d["name"], d["argv"], Path(d["log"]), d["pid"]))
    return node


def push_test_images(registry_host: str, *, log: Path | None = None) -> tuple[str, str]:
    """busybox and the holder image (the project's own, built from the Dockerfile by
    hack/image.sh), pushed to `registry_host`: (busybox, holder pinned by digest)."""
    busybox = f"{registry_host}/e2e/busybox:latest"
    images.push(images.busybox_image(), busybox)
    return busybox, project_image.build_and_push(registry_host, log=log).reference
