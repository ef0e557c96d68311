"""The image `make image` builds from the Dockerfile, run by the real node's containerd
under the chart's container securityContext: the image's own USER (no runAsUser given),
read-only root filesystem, no capabilities, and an emptyDir on /tmp only."""

from __future__ import annotations

import json
import uuid

from e2e.realnode.helpers import RealNodeEnv, on_real_node, wait_log, wait_terminated

DONE = "IMAGE-CHECKS-DONE"
PROBE = f"""
import errno, os, subprocess
for args in (["modelprefetch", "--version"], ["modelprefetch", "hold", "--help"]):
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    print(" ".join(args), "->", out.splitlines()[0])
print("uid", os.getuid(), "gid", os.getgid())
for path in ("/written", "/opt/venv/written"):
    try:
        open(path, "w")
    except OSError as e:
        print("read-only", path, errno.errorcode[e.errno])
with open("/tmp/written", "w") as fh:
    fh.write("ok")
print("writable /tmp")
root = [line.split() for line in open("/proc/self/mountinfo") if line.split()[4] == "/"][-1]
print("root mount", root[5])
print("{DONE}")
"""


def test_project_image_runs_as_65532_with_read_only_root(
    real_node: RealNodeEnv, namespace: str
) -> None:
    """`modelprefetch --version` and `hold --help` run; uid/gid are 65532 from the image's
    USER; / and /opt/venv refuse writes with EROFS; /tmp (an emptyDir) takes them."""
    env = real_node
    assert "@sha256:" in env.holder  # the digest-pinned image hack/image.sh pushed
    name = f"image-{uuid.uuid4().hex[:6]}"
    container = {
        "name": "c",
        "image": env.holder,
        "command": ["python3", "-c", PROBE],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    spec = on_real_node(
        {
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        }
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
    env.cluster.kubectl("create", "-f", "-", input=json.dumps({**pod, "spec": spec}))
    terminated = wait_terminated(env, namespace, name)
    log = wait_log(env, namespace, name, "c", DONE, 30)
    print(log)
    assert terminated["exitCode"] == 0, log
    assert "modelprefetch --version -> modelprefetch " in log
    assert "modelprefetch hold --help -> usage: modelprefetch hold" in log
    assert "uid 65532 gid 65532" in log
    assert "read-only /written EROFS" in log
    assert "read-only /opt/venv/written EROFS" in log
    assert "writable /tmp" in log
    root_options = log.split("root mount ", 1)[1].split()[0].split(",")
    assert "ro" in root_options
