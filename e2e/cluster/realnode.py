"""A real node: containerd (2.2 by default; `runtime` picks another build, or CRI-O:
e2e/cluster/crionode.py) + runc + CNI + kubelet 1.35 + kube-proxy, in its own network
namespace (netns.PodNetwork) with its own address, as a separate machine.

It joins a `LocalCluster` like any kubelet: a client certificate for
`system:node:<name>` (group system:nodes) signed by the cluster CA, registration with a
label and a NoSchedule taint (`TAINT_KEY`) so only pods that ask for it land here. kwok
manages only nodes annotated `kwok.x-k8s.io/node=fake`; this node has no annotation.

containerd, the kubelet and kube-proxy run in the node's network namespace (nsenter,
same mount namespace as the host): the kubelet serves on the node address, which the
API server reaches through its egress proxy on the LAN; kubelet and kube-proxy reach
the API server at netns.CONTROL_PLANE_IP; containerd pulls from 127.0.0.1:PORT, which a
relay in the namespace forwards to the host's registry. Pods get an address from the
node's pod CIDR, their gateway is the node's CNI bridge, and kube-proxy's iptables
rules (in the node namespace) translate Service addresses.

Everything on disk lives under `workdir`, so `stop()` can find and undo all of it: kill
the pods' tasks and the shims of THIS containerd, stop the processes, unmount what is
mounted under `workdir`, remove the pod cgroups, delete the node's namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster import crionode, hostcleanup, images, nodeconfig, noderuntime, procs
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.netns import (
    PodNetwork,
    in_netns,
    kill_tagged,
    node_ip,
    pod_cidr,
    registry_ports,
    run,
)
from e2e.cluster.nodeconfig import ImageGC
from e2e.cluster.nodedisk import NodeDisk
from e2e.cluster.tools import (
    default_image_fs_bytes,
    default_node_runtime,
    runtime_bin_dir,
    runtime_tool_path,
    tool_path,
)

TAINT_KEY = "modelprefetch.io/e2e-real-node"
LABEL_KEY = "modelprefetch.io/e2e-real-node"
TOLERATION = {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
__all__ = ["LABEL_KEY", "TAINT_KEY", "TOLERATION", "ImageGC", "RealNode"]


@dataclass
class RealNode(NodeDisk):
    cluster: LocalCluster
    network: PodNetwork  # the LAN this node joins; `start` adds the node's namespace
    registry_hosts: list[str]  # every local registry (127.0.0.1:PORT), plain HTTP
    pause_registry: str  # host:port the pause image is pushed to
    workdir: Path
    logdir: Path
    name: str = "realnode"
    label_value: str = "true"  # LABEL_KEY's value: tests select their own nodes by it
    image_gc: ImageGC = field(default_factory=ImageGC)
    index: int = 0  # the node's number on the LAN (address, pod CIDR); set by `start`
    containerd: procs.Proc | None = None  # the runtime daemon: containerd, or crio
    kubelet: procs.Proc | None = None
    kube_proxy: procs.Proc | None = None
    pause_reference: str = ""
    join_seconds: float = 0.0
    # Unique per node: several sessions may run real nodes on one machine at once, and a
    # kubelet deletes pod cgroups under its root that it does not know.
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    state_file: Path | None = None  # the cluster-up state.json of an attached node
    # "" = build.sh's default containerd; "containerd-vX.Y.Z" / "crio-vX.Y.Z" = a
    # `build.sh --runtime` build.
    runtime: str = field(default_factory=default_node_runtime)
    # >0: the runtime's root on an ext4 filesystem of its own this big (mount_image_fs);
    # 0: on the host's filesystem.
    image_fs_bytes: int = field(default_factory=default_image_fs_bytes)

    @property
    def netns(self) -> str:
        return self.network.node_netns(self.index)

    @property
    def address(self) -> str:
        return node_ip(self.index)

    @property
    def cgroup_root(self) -> str:
        return f"/mpfe2e-{self.suffix}"

    # Start -----------------------------------------------------------------------------

    def start(self) -> None:
        """Namespace, pause image, containerd, kubelet (until Ready), kube-proxy (until
        it programmed the `kubernetes` Service)."""
        started = time.monotonic()
        noderuntime.require_binaries(self.runtime)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.pause_reference = f"{self.pause_registry}/e2e/pause:3.10"
        images.push(images.pause_image(), self.pause_reference)
        self.index = self.network.add_node()
        self.network.relay_registries(registry_ports(self.registry_hosts))
        if self.image_fs_bytes:
            self.mount_image_fs(self.image_fs_bytes)
        noderuntime.write_runtime_config(
            self.runtime, self.workdir, self.index, self.socket, self.pause_reference
        )
        self._write_hosts(self.registry_hosts)
        self.start_runtime()
        self._write_kubelet_files()
        self.start_kubelet()
        self.cluster.kubectl(
            "patch", "node", self.name, "--type=merge",
            "-p", json.dumps({"spec": {"podCIDR": pod_cidr(self.index),
                                       "podCIDRs": [pod_cidr(self.index)]}}),
        )  # fmt: skip
        self.start_kube_proxy()
        self.join_seconds = time.monotonic() - started

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> procs.Proc:
        # The runtime's own folder first: containerd finds its shim on PATH.
        dirs = dict.fromkeys((runtime_bin_dir(self.runtime), runtime_bin_dir("")))
        path = ":".join([*map(str, dirs), os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")])
        env = {**(env or {}), "PATH": path}
        return procs.start(name, in_netns(self.netns, argv), self.logdir, env=env)

    def start_runtime(self) -> None:
        """containerd (crio on a CRI-O node) until its CRI socket answers."""
        if self.is_crio:
            argv = crionode.prepare_crio(runtime_tool_path(self.runtime, "crio"), self.workdir)
            env = crionode.crio_env(crionode.crio_base(self.workdir))
            self.containerd = self._start("crio", argv, env)
            client = self.crictl
        else:
            config = self.workdir / "containerd" / "config.toml"
            binary = runtime_tool_path(self.runtime, "containerd")
            self.containerd = self._start("containerd", [str(binary), "--config", str(config)])
            client = self.ctr
        procs.wait_until(
            f"{self.containerd.name} socket",
            lambda: self.socket.exists() and client("version", check=False).returncode == 0,
            60,
            self.containerd,
        )

    def _write_kubelet_files(self) -> None:
        pki = self.cluster.pki
        self._client_ca = pki.ca_crt
        client = pki.issue(f"kubelet-{self.name}", f"system:node:{self.name}", org="system:nodes")
        self._serving = pki.issue(
            f"kubelet-{self.name}-{self.index}-serving",
            self.name,
            server=True,
            dns=(self.name, "localhost"),
            ips=(self.address, "127.0.0.1"),
        )
        kubeconfig = self.workdir / "kubelet.kubeconfig"
        self.cluster._write_kubeconfig(kubeconfig, *client, server=self.network.apiserver_url)
        proxy = pki.issue("kube-proxy", "system:kube-proxy")
        proxy_kubeconfig = self.workdir / "kube-proxy.kubeconfig"
        self.cluster._write_kubeconfig(proxy_kubeconfig, *proxy, server=self.network.apiserver_url)
        self.kubelet_root.mkdir(parents=True, exist_ok=True)
        self.pod_logs.mkdir(parents=True, exist_ok=True)
        hostcleanup.make_cgroup_root(self.cgroup_root)

    def kubelet_config(self) -> dict[str, Any]:
        return nodeconfig.kubelet_config(
            address=self.address,
            cgroup_root=self.cgroup_root,
            socket=self.socket,
            serving=self._serving,
            client_ca=self._client_ca,
            pod_logs=self.pod_logs,
            taint_key=TAINT_KEY,
            gc=self.image_gc,
        )

    def start_kubelet(self) -> None:
        config = self.workdir / "kubelet-config.yaml"
        config.write_text(yaml.safe_dump(self.kubelet_config()))
        self.kubelet = self._start(
            "kubelet",
            [
                str(tool_path("kubelet")),
                f"--config={config}",
                f"--kubeconfig={self.workdir / 'kubelet.kubeconfig'}",
                f"--root-dir={self.kubelet_root}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.address}",
                f"--node-labels={LABEL_KEY}={self.label_value}",
                "--v=2",
            ],
        )
        procs.wait_until(
            f"real node {self.name} Ready",
            lambda: self.cluster.node_ready(self.name),
            180,
            self.kubelet,
        )

    def start_kube_proxy(self) -> None:
        config = self.workdir / "kube-proxy.yaml"
        kubeconfig = self.workdir / "kube-proxy.kubeconfig"
        config.write_text(yaml.safe_dump(nodeconfig.kube_proxy_config(self.name, kubeconfig)))
        self.kube_proxy = self._start(
            "kube-proxy", [str(tool_path("kube-proxy")), f"--config={config}", "--v=2"]
        )
        procs.wait_until(
            f"kube-proxy on {self.name} programs the kubernetes Service",
            lambda: "default/kubernetes:https" in self.iptables_nat(),
            90,
            self.kube_proxy,
        )

    def iptables_nat(self) -> str:
        """The nat table of the node's namespace (kube-proxy's Service rules)."""
        return run(*in_netns(self.netns, ["iptables-save", "-t", "nat"]), check=False).stdout

    def restart_kubelet(self, image_gc: ImageGC | None = None) -> None:
        """Stop the kubelet (pods keep running in containerd) and start it again."""
        if image_gc is not None:
            self.image_gc = image_gc
        if self.kubelet is not None:
            procs.stop(self.kubelet)
        self.start_kubelet()
        if self.state_file is not None:  # started by `cluster up`: keep its record current
            state = json.loads(self.state_file.read_text())
            state["realNodes"] = [
                self.to_state() if n["name"] == self.name else n for n in state["realNodes"]
            ]
            self.state_file.write_text(json.dumps(state, indent=1))

    # State, for `python -m e2e.cluster up --real-nodes N` and suites that attach to it -

    def to_state(self) -> dict[str, Any]:
        """What another process needs to inspect, restart and stop this node."""
        running = {"containerd": self.containerd, "kubelet": self.kubelet}
        running["kubeProxy"] = self.kube_proxy
        return {
            "name": self.name,
            "labelValue": self.label_value,
            "runtime": self.runtime,
            "index": self.index,
            "suffix": self.suffix,
            "workdir": str(self.workdir),
            "logdir": str(self.logdir),
            "pauseReference": self.pause_reference,
            "serving": [str(p) for p in self._serving],
            "clientCA": str(self._client_ca),
            **{k: {**p.__dict__, "log": str(p.log)} for k, p in running.items() if p},
        }

    def trust_registries(self, hosts: list[str]) -> None:
        """More registries: relayed into the node, plain-HTTP hosts.toml (read per pull)."""
        self.registry_hosts = [*self.registry_hosts, *hosts]
        self.network.relay_registries(registry_ports(hosts))
        self._write_hosts(hosts)

    # Stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill every pod task, stop the processes, unmount, remove cgroups and the
        node's network namespace (its links, routes and iptables rules go with it)."""
        for proc in (self.kube_proxy, self.kubelet):
            if proc is not None:
                procs.stop(proc)
        self.kube_proxy = self.kubelet = None
        if self.containerd is not None and self.containerd.alive():
            self.kill_all_tasks()
        if self.containerd is not None:
            procs.stop(self.containerd)
            self.containerd = None
        # Shims started by this containerd name its socket in their command line; conmon
        # (CRI-O's monitor) names files under the node's folder.
        kill_tagged("containerd-shim-runc-v2", str(self.socket))
        kill_tagged("conmon", str(self.workdir))
        hostcleanup.kill_cgroup_tree(self.cgroup_root)  # what a runtime lost track of
        hostcleanup.unmount_under(self.workdir)
        hostcleanup.remove_cgroup_tree(self.cgroup_root)
        if self.index:
            self.network.remove_node(self.index)
        with contextlib.suppress(OSError):
            self.cluster.kubectl(
                "delete", "node", self.name, "--ignore-not-found", "--wait=false", check=False
            )

    def wipe(self) -> None:
        """Remove the work folder (after stop), unless something is still mounted in it."""
        hostcleanup.remove_unless_mounted(self.workdir)
