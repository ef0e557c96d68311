"""Configuration files of one real node: containerd, CNI, kubelet and kube-proxy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.cluster.netns import CLUSTER_CIDR, pod_cidr, pod_gateway

CNI_DIR = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
KUBELET_PORT = 10250  # every node has its own network namespace, so the usual ports
KUBELET_HEALTHZ_PORT = 10248
PROXY_HEALTHZ = "127.0.0.1:10256"
PROXY_METRICS = "127.0.0.1:10249"


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


def cni_conflist(index: int, ipam_dir: Path) -> str:
    """A bridge in the node's namespace that is the pods' gateway; no masquerading: the
    LAN and the other nodes route this node's pod CIDR to it."""
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "mpfe2e",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "isDefaultGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": pod_cidr(index), "gateway": pod_gateway(index)}]],
                        "dataDir": str(ipam_dir),
                    },
                },
                {"type": "loopback"},
            ],
        }
    )


def containerd_toml(base: Path, socket: Path, pause_reference: str, cni_conf: Path) -> str:
    runc_opts = "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options"
    return f"""version = 3
root = "{base / "root"}"
state = "{base / "state"}"

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  level = "info"

[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{pause_reference}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{base / "certs.d"}"

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


def kubelet_config(
    *,
    address: str,
    cgroup_root: str,
    socket: Path,
    serving: tuple[Path, Path],
    client_ca: Path,
    pod_logs: Path,
    taint_key: str,
    gc: ImageGC,
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": True,
        "cgroupRoot": cgroup_root,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "address": address,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        # As kubeadm and managed clusters configure it: bearer tokens are checked with a
        # TokenReview and every request with a SubjectAccessReview, so the operator reads
        # /stats/summary with its own token and only the `nodes/stats` permission.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "2m0s"},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"},
        },
        "podLogsDir": str(pod_logs),
        "registerNode": True,
        "registerWithTaints": [{"key": taint_key, "value": "true", "effect": "NoSchedule"}],
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


def kube_proxy_config(name: str, kubeconfig: Path) -> dict[str, Any]:
    """iptables mode; conntrack sysctls left alone (global ones cannot be set from a
    network namespace, and the per-namespace defaults are fine for tests)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "hostnameOverride": name,
        "clusterCIDR": CLUSTER_CIDR,
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "healthzBindAddress": PROXY_HEALTHZ,
        "metricsBindAddress": PROXY_METRICS,
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"syncPeriod": "10s", "minSyncPeriod": "0s"},
    }
