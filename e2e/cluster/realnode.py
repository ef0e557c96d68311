"""A real node: containerd 2.2 + runc + CNI + kubelet 1.35 as local processes.

It joins a `LocalCluster` like any kubelet: a client certificate for
`system:node:<name>` (group system:nodes) signed by the cluster CA, registration with a
label and a NoSchedule taint (`TAINT_KEY`) so only pods that ask for it land here. kwok
manages only nodes annotated `kwok.x-k8s.io/node=fake`; this node has no annotation.

Everything lives under `workdir` (containerd root/state, kubelet root, pod logs, CNI
IPAM, network namespaces), so `stop()` can find and undo all of it: kill the pods'
tasks, stop kubelet and containerd, kill the shims of THIS containerd, unmount what is
mounted under `workdir`, delete the CNI bridge, remove the pod cgroups.

Network: pods that do not use the host network get a veth on a bridge without a host
address, gateway or masquerading (`bridge`, `POD_SUBNET`): they can reach nothing but
each other. The kubelet serves on 127.0.0.1 only. The apiserver never connects to the
kubelet (tests read container logs from `pod_logs` on disk, not `kubectl logs`): the
node's InternalIP is the host's own address, which the test traffic rule excludes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.cluster import images, procs
from e2e.cluster.controlplane import LocalCluster
from e2e.cluster.tools import bin_dir, free_port, tool_path

TAINT_KEY = "modelprefetch.io/e2e-real-node"
LABEL_KEY = "modelprefetch.io/e2e-real-node"
TOLERATION = {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
POD_SUBNET = "10.254.77.0/24"
CNI_DIR = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
K8S_NAMESPACE = "k8s.io"  # containerd namespace the CRI plugin uses


@dataclass(frozen=True)
class ImageGC:
    """kubelet image GC; the defaults disable it (100% and no max age)."""

    high_percent: int = 100
    low_percent: int = 80
    minimum_age: str = "2m"
    maximum_age: str = "0s"

    @classmethod
    def aggressive(cls) -> ImageGC:
        """Collect every unused image whenever GC runs (disk usage is always above 1%)."""
        return cls(high_percent=1, low_percent=0, minimum_age="0s")


@dataclass
class RealNode:
    cluster: LocalCluster
    registry_hosts: list[str]  # every local registry, reached over plain HTTP
    pause_registry: str  # host:port the pause image is pushed to
    workdir: Path
    logdir: Path
    name: str = "realnode"
    image_gc: ImageGC = field(default_factory=ImageGC)
    containerd: procs.Proc | None = None
    kubelet: procs.Proc | None = None
    pause_reference: str = ""
    join_seconds: float = 0.0
    # Unique per node: several sessions may run real nodes on one machine at once, and a
    # kubelet deletes pod cgroups under its root that it does not know.
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    state_file: Path | None = None  # the cluster-up state.json of an attached node

    @property
    def bridge(self) -> str:
        return f"mpf{self.suffix}"

    @property
    def cgroup_root(self) -> str:
        return f"/mpfe2e-{self.suffix}"

    # Paths -----------------------------------------------------------------------------

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def pod_logs(self) -> Path:
        return self.workdir / "pod-logs"

    @property
    def kubelet_root(self) -> Path:
        return self.workdir / "kubelet"

    # Start -----------------------------------------------------------------------------

    def start(self) -> None:
        """Push the pause image, start containerd and kubelet, wait for the node to be Ready."""
        started = time.monotonic()
        for binary in ("containerd", "containerd-shim-runc-v2", "ctr", "kubelet"):
            tool_path(binary)
        for needed in (RUNC, CNI_DIR / "bridge", CNI_DIR / "host-local", CNI_DIR / "loopback"):
            if not needed.exists():
                raise FileNotFoundError(
                    f"{needed} missing: install Debian runc and containernetworking-plugins"
                )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.pause_reference = f"{self.pause_registry}/e2e/pause:3.10"
        images.push(images.pause_image(), self.pause_reference)
        self._write_containerd_config()
        self.start_containerd()
        self._write_kubelet_files()
        self.start_kubelet()
        self.join_seconds = time.monotonic() - started

    def _write_containerd_config(self) -> None:
        base = self.workdir / "containerd"
        certs = base / "certs.d"
        self._write_hosts(self.registry_hosts)
        cni_conf = base / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-mpfe2e.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "mpfe2e",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": self.bridge,
                            "isGateway": False,
                            "isDefaultGateway": False,
                            "ipMasq": False,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_SUBNET}]],
                                "dataDir": str(base / "cni-ipam"),
                            },
                        },
                        {"type": "loopback"},
                    ],
                }
            )
        )
        runc_opts = "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options"
        (base / "config.toml").write_text(
            f"""version = 3
root = "{base / "root"}"
state = "{base / "state"}"

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  level = "info"

[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{self.pause_reference}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{certs}"

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # These hosts lack CAP_SYS_RESOURCE: the kubelet's negative oom_score_adj (-998 for
  # sandboxes) cannot be set and runc fails; clamp it to the current value, as kind
  # does for rootless nodes.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{runc_opts}]
        BinaryName = "{RUNC}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_DIR}"]
    conf_dir = "{cni_conf}"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
"""
        )

    def _write_hosts(self, hosts: list[str]) -> None:
        for host in hosts:
            hostdir = self.workdir / "containerd" / "certs.d" / host
            hostdir.mkdir(parents=True, exist_ok=True)
            (hostdir / "hosts.toml").write_text(
                f'server = "http://{host}"\n\n[host."http://{host}"]\n'
                '  capabilities = ["pull", "resolve"]\n'
            )

    def start_containerd(self) -> None:
        env = {"PATH": f"{bin_dir()}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"}
        self.containerd = procs.start(
            "containerd",
            [
                str(tool_path("containerd")),
                "--config",
                str(self.workdir / "containerd" / "config.toml"),
            ],
            self.logdir,
            env=env,
        )
        procs.wait_until(
            "containerd socket",
            lambda: self.socket.exists() and self.ctr("version", check=False).returncode == 0,
            60,
            self.containerd,
        )

    def _write_kubelet_files(self) -> None:
        pki = self.cluster.pki
        self._client_ca = pki.ca_crt
        client = pki.issue(f"kubelet-{self.name}", f"system:node:{self.name}", org="system:nodes")
        self._serving = pki.issue(
            f"kubelet-{self.name}-serving",
            self.name,
            server=True,
            dns=(self.name, "localhost"),
            ips=("127.0.0.1",),
        )
        kubeconfig = self.workdir / "kubelet.kubeconfig"
        self.cluster._write_kubeconfig(kubeconfig, *client)
        self.kubelet_root.mkdir(parents=True, exist_ok=True)
        self.pod_logs.mkdir(parents=True, exist_ok=True)
        self._make_cgroup_root()
        self._kubelet_port = free_port()
        self._healthz_port = free_port()

    def kubelet_config(self) -> dict[str, Any]:
        gc = self.image_gc
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": True,
            "cgroupRoot": self.cgroup_root,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": "127.0.0.1",
            "port": self._kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self._healthz_port,
            "tlsCertFile": str(self._serving[0]),
            "tlsPrivateKeyFile": str(self._serving[1]),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self._client_ca)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "podLogsDir": str(self.pod_logs),
            "registerNode": True,
            "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
            "cpuManagerPolicy": "none",
            "memoryManagerPolicy": "None",
            "topologyManagerPolicy": "none",
            "failSwapOn": False,
            "serializeImagePulls": False,
            "maxParallelImagePulls": 4,
            "imageGCHighThresholdPercent": gc.high_percent,
            "imageGCLowThresholdPercent": gc.low_percent,
            "imageMinimumGCAge": gc.minimum_age,
            "imageMaximumGCAge": gc.maximum_age,
            # The host disk is shared with everything else: never evict test pods for it.
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "runtimeRequestTimeout": "15m",
            "resolvConf": "/etc/resolv.conf",
            "localStorageCapacityIsolation": True,
            "featureGates": {"ImageVolume": True},
        }

    def start_kubelet(self) -> None:
        config = self.workdir / "kubelet-config.yaml"
        config.write_text(yaml.safe_dump(self.kubelet_config()))
        self.kubelet = procs.start(
            "kubelet",
            [
                str(tool_path("kubelet")),
                f"--config={config}",
                f"--kubeconfig={self.workdir / 'kubelet.kubeconfig'}",
                f"--root-dir={self.kubelet_root}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                f"--hostname-override={self.name}",
                f"--node-labels={LABEL_KEY}=true",
                "--v=2",
            ],
            self.logdir,
        )
        procs.wait_until(
            f"real node {self.name} Ready",
            lambda: self.cluster.node_ready(self.name),
            180,
            self.kubelet,
        )

    def restart_kubelet(self, image_gc: ImageGC | None = None) -> None:
        """Stop the kubelet (pods keep running in containerd) and start it again."""
        if image_gc is not None:
            self.image_gc = image_gc
        if self.kubelet is not None:
            procs.stop(self.kubelet)
        self.start_kubelet()
        if self.state_file is not None:  # started by `cluster up`: keep its record current
            state = json.loads(self.state_file.read_text())
            state["realNode"] = self.to_state()
            self.state_file.write_text(json.dumps(state, indent=1))

    # State, for `python -m e2e.cluster up --real-node` and suites that attach to it -----

    def to_state(self) -> dict[str, Any]:
        """What another process needs to inspect, restart and stop this node."""
        assert self.containerd is not None and self.kubelet is not None
        return {
            "name": self.name,
            "suffix": self.suffix,
            "workdir": str(self.workdir),
            "logdir": str(self.logdir),
            "pauseReference": self.pause_reference,
            "kubeletPort": self._kubelet_port,
            "healthzPort": self._healthz_port,
            "serving": [str(p) for p in self._serving],
            "clientCA": str(self._client_ca),
            "containerd": {**self.containerd.__dict__, "log": str(self.containerd.log)},
            "kubelet": {**self.kubelet.__dict__, "log": str(self.kubelet.log)},
        }

    @classmethod
    def attach(
        cls, cluster: LocalCluster, state: dict[str, Any], state_file: Path | None = None
    ) -> RealNode:
        """A handle on a node another process started (see `to_state`)."""
        node = cls(
            cluster=cluster,
            registry_hosts=[],
            pause_registry="",
            workdir=Path(state["workdir"]),
            logdir=Path(state["logdir"]),
            name=state["name"],
            suffix=state["suffix"],
            pause_reference=state["pauseReference"],
            state_file=state_file,
        )
        node._kubelet_port, node._healthz_port = state["kubeletPort"], state["healthzPort"]
        node._serving = (Path(state["serving"][0]), Path(state["serving"][1]))
        node._client_ca = Path(state["clientCA"])
        for attr in ("containerd", "kubelet"):
            d = state[attr]
            setattr(node, attr, procs.Proc(d["name"], d["argv"], Path(d["log"]), d["pid"]))
        return node

    def trust_registries(self, hosts: list[str]) -> None:
        """Plain-HTTP hosts.toml for more registries (containerd reads them at each pull)."""
        self.registry_hosts = [*self.registry_hosts, *hosts]
        self._write_hosts(hosts)

    # Inspection ------------------------------------------------------------------------

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(tool_path("ctr")),
                "--address",
                str(self.socket),
                "--namespace",
                K8S_NAMESPACE,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr}")
        return result

    def image_refs(self) -> set[str]:
        """Image names containerd's CRI store holds (tags and digests)."""
        out = self.ctr("images", "ls", "-q").stdout
        return {line.strip() for line in out.splitlines() if line.strip()}

    def content_bytes(self) -> int:
        """Bytes in containerd's content store (what pulls downloaded)."""
        root = self.workdir / "containerd" / "root" / "io.containerd.content.v1.content"
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """The container's log lines (CRI format stripped), read from the node's disk."""
        texts: list[str] = []
        for path in sorted(self.pod_logs.glob(f"{namespace}_{pod}_*/{container}/*.log")):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split(" ", 3)
                texts.append(parts[3] if len(parts) == 4 else line)
        return "\n".join(texts)

    # Stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill every pod task, stop kubelet and containerd, unmount, remove cgroups/bridge."""
        if self.kubelet is not None:
            procs.stop(self.kubelet)
            self.kubelet = None
        if self.containerd is not None and self.containerd.alive():
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "-s", "SIGKILL", "--all", task, check=False)
            deadline = time.monotonic() + 20
            while tasks and time.monotonic() < deadline:
                out = self.ctr("tasks", "ls", check=False).stdout
                if "RUNNING" not in out and "PAUSED" not in out:
                    break
                time.sleep(0.3)
            for task in tasks:
                self.ctr("tasks", "delete", "--force", task, check=False)
        if self.containerd is not None:
            procs.stop(self.containerd)
            self.containerd = None
        self._kill_own_shims()
        self._unmount_all()
        with contextlib.suppress(OSError):
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, timeout=10)
        self._remove_pod_cgroups()
        with contextlib.suppress(OSError):
            self.cluster.kubectl(
                "delete", "node", self.name, "--ignore-not-found", "--wait=false", check=False
            )

    def _kill_own_shims(self) -> None:
        """Shims started by this containerd name its socket in their command line."""
        marker = str(self.socket).encode()
        for proc_dir in Path("/proc").iterdir():
            if not proc_dir.name.isdigit():
                continue
            try:
                cmdline = (proc_dir / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim-runc-v2" in cmdline and marker in cmdline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(proc_dir.name), 9)

    def _unmount_all(self) -> None:
        prefix = str(self.workdir.resolve())
        for _ in range(3):
            mounts = [
                line.split()[4].replace("\\040", " ")
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
            ]
            ours = [m for m in mounts if m == prefix or m.startswith(prefix + "/")]
            if not ours:
                return
            for mount in sorted(ours, key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)

    def _make_cgroup_root(self) -> None:
        """The kubelet wants --cgroup-root to exist in every hierarchy; cpuset needs values."""
        for controller in Path("/sys/fs/cgroup").iterdir():
            if not (controller / "cgroup.procs").exists():
                continue
            path = controller / self.cgroup_root.lstrip("/")
            path.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (path / name).exists() and not (path / name).read_text().strip():
                    (path / name).write_text((controller / name).read_text())

    def _remove_pod_cgroups(self) -> None:
        for controller in Path("/sys/fs/cgroup").iterdir():
            root = controller / self.cgroup_root.lstrip("/")
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    with contextlib.suppress(OSError):
                        path.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()

    def wipe(self) -> None:
        """Remove the work folder (after stop), unless something is still mounted in it."""
        prefix = str(self.workdir.resolve()) + "/"
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
        if any(line.split()[4].startswith(prefix) for line in mountinfo):
            return
        shutil.rmtree(self.workdir, ignore_errors=True)
