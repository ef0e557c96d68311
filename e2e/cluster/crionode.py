"""A real node's container runtime when it is CRI-O (`crio-vX.Y.Z`, built by
`build.sh --runtime crio-vX.Y.Z`): its configuration files and its own CLI (crictl).

Every path CRI-O, containers/storage, conmon and runc would put under /var, /run or /etc
by default is set under the node's `workdir/crio` instead, so `RealNode.stop` finds and
removes all of it, as for containerd: storage (overlay) and its run root, the pinned pod
namespaces (pinns), exit files, attach sockets, runc's state, hooks, CDI and signature
policy folders, and the registries (one drop-in per registry, reloaded on change).

Two quirks of these hosts (cgroup v1 with the hugetlb controller bound to the cgroup2
hierarchy at /sys/fs/cgroup/unified): CRI-O reads /proc/cgroups, sees hugetlb enabled,
and passes the kubelet's hugepage limits to runc, whose cgroup v1 manager finds no
hugetlb hierarchy and fails every container ("cannot set hugetlb limit"). containerd
checks for the mounted controller instead. So crio runs in a mount namespace of its own
(`unshare --propagation slave`) where /proc/cgroups is a copy without that line; the
node's folder is an rshared bind mount first, so the kubelet's later mounts under it
(pod volumes) reach crio's namespace. What crio mounts (overlay, image volumes, pinned
namespaces) stays in its namespace and goes with its last process.

The CRI socket is NOT named `crio.sock`: the kubelet then takes pod and image-filesystem
stats from cAdvisor's CRI-O plugin, which only knows /var/run/crio/crio.sock; any other
name gives the CRI stats provider (what the capacity checks read).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from e2e.cluster.nodeconfig import CNI_DIR, RUNC

CRIO_PREFIX = "crio-"
CONMON = Path("/usr/bin/conmon")  # Debian conmon (Makefile DEBIAN_PACKAGES)
BINARIES = ("crio", "pinns", "crictl")


def is_crio(runtime: str) -> bool:
    return runtime.startswith(CRIO_PREFIX)


def crio_base(workdir: Path) -> Path:
    return workdir / "crio"


def crio_socket(workdir: Path) -> Path:
    return crio_base(workdir) / "cri.sock"


def storage_root(workdir: Path) -> Path:
    """containers/storage's root: images (overlay) and, under `artifacts`, the OCI
    artifacts CRI-O mounts natively (an OCI layout: blobs/sha256/<hex>)."""
    return crio_base(workdir) / "storage"


def crio_conf(base: Path, socket: Path, pause_reference: str, cni_conf: Path, pinns: Path) -> str:
    run = base / "run"
    return f"""[crio]
root = "{_real(base / "storage")}"
runroot = "{_real(run / "storage")}"
storage_driver = "overlay"
log_dir = "{base / "logs"}"
version_file = "{run / "version"}"
clean_shutdown_file = "{base / "clean.shutdown"}"

[crio.api]
listen = "{socket}"
stream_address = "127.0.0.1"
stream_port = "0"

[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
conmon = "{CONMON}"
conmon_cgroup = "pod"
selinux = false
container_exits_dir = "{run / "exits"}"
container_attach_socket_dir = "{run}"
namespaces_dir = "{run / "ns"}"
pinns_path = "{pinns}"
hooks_dir = ["{base / "hooks.d"}"]
cdi_spec_dirs = ["{base / "cdi"}"]
default_mounts_file = "{base / "mounts.conf"}"
decryption_keys_path = "{base / "keys"}"
irqbalance_config_file = "{base / "irqbalance"}"
irqbalance_config_restore_file = "disable"
enable_criu_support = false
drop_infra_ctr = true

[crio.runtime.runtimes.runc]
runtime_path = "{RUNC}"
runtime_type = "oci"
runtime_root = "{run / "runc"}"
monitor_path = "{CONMON}"
monitor_cgroup = "pod"

[crio.image]
pause_image = "{pause_reference}"
signature_policy = "{base / "policy.json"}"
signature_policy_dir = "{base / "policies"}"
namespaced_auth_dir = "{base / "auth"}"
auto_reload_registries = true
oci_artifact_mount_support = true

[crio.network]
network_dir = "{cni_conf}"
plugin_dirs = ["{CNI_DIR}"]

[crio.metrics]
enable_metrics = false

[crio.nri]
# Its socket would be /var/run/nri/nri.sock, which a containerd node on this host owns.
enable_nri = false
"""


def _real(path: Path) -> Path:
    """`path` without symlinks. runc refuses a container rootfs whose path has one
    ("invalid rootfs: not an absolute path, or a symlink"), and CRI-O hands runc the
    overlay's absolute merged folder under its storage root, while a test session's
    folder is a short /tmp/mp-<hex> link (Unix socket paths; containerd gives runc a
    rootfs relative to the bundle, so it never met this). Sockets keep the short path."""
    return path.resolve()


def storage_conf(base: Path) -> str:
    """containers/storage's own file (CONTAINERS_STORAGE_CONF), so nothing from the
    host's /etc or /usr/share/containers/storage.conf applies."""
    return (
        f'[storage]\ndriver = "overlay"\ngraphroot = "{_real(base / "storage")}"\n'
        f'runroot = "{_real(base / "run" / "storage")}"\n'
    )


def write_config(
    base: Path, socket: Path, pause_reference: str, cni_conf: Path, pinns: Path
) -> Path:
    """Every file crio reads; returns the crio.conf path."""
    for folder in ("hooks.d", "cdi", "keys", "policies", "registries.d", "conf.d"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "mounts.conf").write_text("")
    (base / "registries.conf").write_text("unqualified-search-registries = []\n")
    policy = {"default": [{"type": "insecureAcceptAnything"}]}
    (base / "policy.json").write_text(json.dumps(policy))
    (base / "storage.conf").write_text(storage_conf(base))
    conf = base / "crio.conf"
    conf.write_text(crio_conf(base, socket, pause_reference, cni_conf, pinns))
    return conf


def share_workdir(workdir: Path) -> None:
    """The node's folder as an rshared bind mount onto itself (undone by unmount_under)."""
    for argv in (["mount", "--rbind", workdir, workdir], ["mount", "--make-rshared", workdir]):
        subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=30)


def cgroups_without_unmounted_hugetlb() -> str:
    """/proc/cgroups without hugetlb when no cgroup v1 hierarchy holds it (column 2 = 0)."""
    lines = Path("/proc/cgroups").read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("hugetlb\t0\t"))


def prepare_crio(crio: Path, workdir: Path) -> list[str]:
    """The argv of crio in its own mount namespace with the filtered /proc/cgroups, after
    sharing the node's folder (module doc)."""
    share_workdir(workdir)
    base = crio_base(workdir)
    cgroups = base / "proc-cgroups"
    cgroups.write_text(cgroups_without_unmounted_hugetlb())
    return [
        "unshare", "--mount", "--propagation", "slave", "--",
        "sh", "-c", 'mount --bind "$0" /proc/cgroups && exec "$@"', str(cgroups),
        str(crio),
        "--config", str(base / "crio.conf"),
        "--config-dir", str(base / "conf.d"),
        "--registries-conf", str(base / "registries.conf"),
        "--registries-conf-dir", str(base / "registries.d"),
    ]  # fmt: skip


def crio_env(base: Path) -> dict[str, str]:
    return {"CONTAINERS_STORAGE_CONF": str(base / "storage.conf")}


def trust_plain_http(base: Path, hosts: list[str]) -> None:
    """One registries.conf drop-in per plain-HTTP registry (CRI-O reloads the folder)."""
    for host in hosts:
        name = host.replace(":", "_").replace("/", "_")
        text = f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'
        (base / "registries.d" / f"50-{name}.conf").write_text(text)


def crictl(
    crictl_bin: Path, socket: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(crictl_bin), "--runtime-endpoint", f"unix://{socket}",
         "--image-endpoint", f"unix://{socket}", "--timeout", "60s", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise RuntimeError(f"crictl {' '.join(args)} failed: {result.stderr}")
    return result


def image_refs(crictl_bin: Path, socket: Path) -> set[str]:
    """Tags and digests of the images CRI-O holds (its artifacts included)."""
    out = crictl(crictl_bin, socket, "images", "-o", "json").stdout
    refs: set[str] = set()
    for image in json.loads(out or "{}").get("images") or []:
        refs |= set(image.get("repoTags") or []) | set(image.get("repoDigests") or [])
    return refs


def artifact_blobs(workdir: Path) -> set[str]:
    """Digests of the blobs in CRI-O's artifact store (what native artifact pulls fetched)."""
    blobs = storage_root(workdir) / "artifacts" / "blobs" / "sha256"
    return {f"sha256:{p.name}" for p in blobs.iterdir()} if blobs.is_dir() else set()


def remove_all_pods(crictl_bin: Path, socket: Path) -> None:
    """Stop and remove every pod sandbox (and so every container and its conmon)."""
    crictl(crictl_bin, socket, "rmp", "--all", "--force", check=False)
