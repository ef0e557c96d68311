"""Network namespaces that make each real node a separate machine on one host.

    host (root netns)         LAN netns "mpf<id>-lan"         node netns "mpf<id>-n<i>"
    apiserver 127.0.0.1:P     bridge lan0 10.77.0.1/24  <-veth->  eth0 10.77.0.(10+i)
    registries 127.0.0.1:R    relay 10.77.0.1:P->api.sock     cni0 10.244.i.1/24 (pods)
    relay *.sock -> TCP       egress proxy on egress.sock     relay 127.0.0.1:R->reg-R.sock

Nothing is added to the host's root namespace: no address, route, link or rule. The only
way between the host and the namespaces is a Unix socket in `workdir` served by a relay
(`relay.py`) on each side, so test traffic can only reach 127.0.0.1 on the host or an
address inside these namespaces. The LAN routes each node's pod CIDR to that node and the
Service CIDR to the nodes (whose kube-proxy rules translate it); it forwards nothing and
has no route anywhere else. `delete()` kills the relays and deletes the namespaces, which
takes their links, routes, iptables rules and conntrack state with them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.cluster import procs

CONTROL_PLANE_IP = "10.77.0.1"  # the API server's address as nodes and pods see it
LAN_CIDR_BITS = 24
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"  # kube-apiserver --service-cluster-ip-range
RELAY = Path(__file__).with_name("relay.py")
NETNS_DIR = Path("/run/netns")


def node_ip(index: int) -> str:
    return f"10.77.0.{10 + index}"


def pod_cidr(index: int) -> str:
    return f"10.244.{index}.0/24"


def pod_gateway(index: int) -> str:
    return f"10.244.{index}.1"


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result


def in_netns(netns: str, argv: list[str]) -> list[str]:
    """argv run in `netns` only: nsenter keeps the mount namespace (unlike `ip netns
    exec`), so containerd's and the kubelet's mounts stay visible to each other."""
    return ["nsenter", f"--net={NETNS_DIR / netns}", "--", *argv]


@dataclass
class PodNetwork:
    """The LAN and node namespaces of one cluster, and the relays between them."""

    workdir: Path  # relay sockets and ready files (Unix socket paths max 107 bytes)
    logdir: Path
    apiserver_port: int
    egress_socket: Path  # where kube-apiserver's egress selector dials its CONNECT proxy
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    nodes: list[int] = field(default_factory=list)  # indexes of the node namespaces
    registry_ports: list[int] = field(default_factory=list)  # relayed into every node
    relays: list[procs.Proc] = field(default_factory=list)

    @property
    def lan(self) -> str:
        return f"mpf{self.suffix}-lan"

    def node_netns(self, index: int) -> str:
        return f"mpf{self.suffix}-n{index}"

    @property
    def apiserver_url(self) -> str:
        return f"https://{CONTROL_PLANE_IP}:{self.apiserver_port}"

    # Create ---------------------------------------------------------------------------

    def create(self) -> None:
        """The LAN namespace with the API server relay and the egress CONNECT proxy."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logdir.mkdir(parents=True, exist_ok=True)
        if len(str(self.egress_socket)) > 100 or len(str(self.workdir)) > 80:
            raise ValueError(f"{self.workdir}: too long for Unix socket paths, use a shorter one")
        run("ip", "netns", "add", self.lan)
        run("ip", "-n", self.lan, "link", "set", "lo", "up")
        run("ip", "-n", self.lan, "link", "add", "lan0", "type", "bridge")
        run(
            "ip",
            "-n",
            self.lan,
            "addr",
            "add",
            f"{CONTROL_PLANE_IP}/{LAN_CIDR_BITS}",
            "dev",
            "lan0",
        )
        run("ip", "-n", self.lan, "link", "set", "lan0", "up")
        api_sock = self.workdir / "api.sock"
        self._relay("host", None, [f"unix:{api_sock}=tcp:127.0.0.1:{self.apiserver_port}"])
        self._relay(
            "lan",
            self.lan,
            [f"tcp:{CONTROL_PLANE_IP}:{self.apiserver_port}=unix:{api_sock}"],
            connect_proxy=self.egress_socket,
        )

    def add_node(self) -> int:
        """A node namespace on the LAN with forwarding on; returns its index."""
        index = max(self.nodes, default=0) + 1
        netns, peer = self.node_netns(index), f"n{index}"
        run("ip", "netns", "add", netns)
        self.nodes.append(index)
        run("ip", "-n", netns, "link", "set", "lo", "up")
        run(
            "ip",
            "-n",
            netns,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            peer,
            "netns",
            self.lan,
        )
        run("ip", "-n", self.lan, "link", "set", peer, "master", "lan0", "up")
        run("ip", "-n", netns, "addr", "add", f"{node_ip(index)}/{LAN_CIDR_BITS}", "dev", "eth0")
        run("ip", "-n", netns, "link", "set", "eth0", "up")
        run(*in_netns(netns, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]))
        self._relay_registries_into(index, self.registry_ports)
        self._routes()
        return index

    def remove_node(self, index: int) -> None:
        """Stop the node's relay and delete its namespace (and with it its links/rules)."""
        for proc in [p for p in self.relays if p.name == f"relay-node{index}"]:
            procs.stop(proc)
            self.relays.remove(proc)
        run("ip", "netns", "delete", self.node_netns(index), check=False)
        if index in self.nodes:
            self.nodes.remove(index)
        for netns in [self.lan, *(self.node_netns(i) for i in self.nodes)]:
            run("ip", "-n", netns, "route", "delete", pod_cidr(index), check=False)
        self._routes()

    def relay_registries(self, ports: list[int]) -> None:
        """Make host registries 127.0.0.1:PORT answer on 127.0.0.1:PORT in every node."""
        new = [p for p in dict.fromkeys(ports) if p not in self.registry_ports]
        if not new:
            return
        self._relay(
            "host", None, [f"unix:{self.workdir / f'reg-{p}.sock'}=tcp:127.0.0.1:{p}" for p in new]
        )
        self.registry_ports += new
        for index in self.nodes:
            self._relay_registries_into(index, new)

    def serve_registry_on_lan(self, port: int) -> str:
        """Make host registry 127.0.0.1:PORT answer on CONTROL_PLANE_IP:PORT on the LAN, for
        pods (whose 127.0.0.1 is their own): one more relay to the host side socket, no
        route or NAT to the host. Returns that host:port; delete() stops the relay."""
        host = f"{CONTROL_PLANE_IP}:{port}"
        if any(p.name == f"relay-lan-{port}" for p in self.relays):
            return host
        self.relay_registries([port])  # the host side socket
        self._relay(
            f"lan-{port}", self.lan, [f"tcp:{host}=unix:{self.workdir / f'reg-{port}.sock'}"]
        )
        return host

    def _relay_registries_into(self, index: int, ports: list[int]) -> None:
        if ports:
            forwards = [f"tcp:127.0.0.1:{p}=unix:{self.workdir / f'reg-{p}.sock'}" for p in ports]
            self._relay(f"node{index}", self.node_netns(index), forwards)

    def _routes(self) -> None:
        """Pod CIDRs between nodes and from the LAN; the Service CIDR from the LAN."""
        for index in self.nodes:
            run("ip", "-n", self.lan, "route", "replace", pod_cidr(index), "via", node_ip(index))
            for other in self.nodes:
                if other != index:
                    run(
                        "ip", "-n", self.node_netns(index), "route", "replace",
                        pod_cidr(other), "via", node_ip(other),
                    )  # fmt: skip
        if self.nodes:
            hops = [w for i in self.nodes for w in ("nexthop", "via", node_ip(i))]
            run("ip", "-n", self.lan, "route", "replace", SERVICE_CIDR, *hops)
        else:
            run("ip", "-n", self.lan, "route", "delete", SERVICE_CIDR, check=False)

    def _relay(
        self, side: str, netns: str | None, forwards: list[str], connect_proxy: Path | None = None
    ) -> None:
        ready = self.workdir / f"ready-{side}-{uuid.uuid4().hex[:6]}"
        argv = [sys.executable, str(RELAY), "--tag", str(self.workdir), "--ready", str(ready)]
        if connect_proxy is not None:
            argv += ["--connect-proxy", f"unix:{connect_proxy}"]
        argv += forwards
        proc = procs.start(f"relay-{side}", in_netns(netns, argv) if netns else argv, self.logdir)
        self.relays.append(proc)
        procs.wait_until(f"relay {side}", ready.exists, 30, proc)

    # Delete ---------------------------------------------------------------------------

    def delete(self) -> None:
        """Relays first (so nothing holds a namespace), then every namespace of this network."""
        for proc in self.relays:
            procs.stop(proc)
        self.relays.clear()
        kill_tagged(RELAY.name, str(self.workdir))
        for index in list(self.nodes):
            run("ip", "netns", "delete", self.node_netns(index), check=False)
        self.nodes.clear()
        run("ip", "netns", "delete", self.lan, check=False)
        for path in self.workdir.glob("*.sock"):
            path.unlink(missing_ok=True)
        self.egress_socket.unlink(missing_ok=True)

    def leftovers(self) -> list[str]:
        """Namespaces, relay processes and sockets of this network that still exist."""
        prefix = f"mpf{self.suffix}-"
        left = [f"netns {p.name}" for p in NETNS_DIR.glob(f"{prefix}*")]
        left += [f"process {pid}" for pid in tagged_pids(RELAY.name, str(self.workdir))]
        left += [f"socket {p}" for p in self.workdir.glob("*.sock")]
        return left

    # State -----------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "logdir": str(self.logdir),
            "apiserverPort": self.apiserver_port,
            "egressSocket": str(self.egress_socket),
            "suffix": self.suffix,
            "nodes": self.nodes,
            "registryPorts": self.registry_ports,
            "relays": [{**p.__dict__, "log": str(p.log)} for p in self.relays],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PodNetwork:
        return cls(
            workdir=Path(state["workdir"]),
            logdir=Path(state["logdir"]),
            apiserver_port=state["apiserverPort"],
            egress_socket=Path(state["egressSocket"]),
            suffix=state["suffix"],
            nodes=list(state["nodes"]),
            registry_ports=list(state["registryPorts"]),
            relays=[
                procs.Proc(d["name"], d["argv"], Path(d["log"]), d["pid"]) for d in state["relays"]
            ],
        )


def tagged_pids(*markers: str) -> list[int]:
    """Processes whose command line contains every marker (our own, by unique paths)."""
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (
                (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        if all(m in cmdline for m in markers):
            found.append(int(proc_dir.name))
    return found


def kill_tagged(*markers: str) -> None:
    for pid in tagged_pids(*markers):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def registry_ports(hosts: list[str]) -> list[int]:
    """Registry ports; every local registry listens on 127.0.0.1 (the relay's other end)."""
    ports = []
    for host in hosts:
        address, _, port = host.rpartition(":")
        if address not in ("127.0.0.1", "localhost"):
            raise ValueError(f"registry {host}: real nodes reach only registries on 127.0.0.1")
        ports.append(int(port))
    return ports
