"""`python3 hack/image_check.py IMAGE`: run a buildah-stored image the way its pods run it.

Each check starts the image's rootfs with runc as the image's own USER (which must be
65532:65532), the root filesystem read-only, a tmpfs on /tmp only, every capability
dropped and no new privileges (the chart's and the holder DaemonSet's securityContext):

* `modelprefetch --version` and `modelprefetch hold --help` exit 0;
* /etc/passwd maps uid 65532 to group 65532 (what a pod without runAsGroup gets);
* a probe in the container: uid/gid 65532, writing under / and /opt/venv fails with
  EROFS, writing /tmp works, `/` is mounted read-only;
* the build host's local CA certificates (the CA that re-signs outbound TLS here; its
  bundle is bind-mounted for pip during the build) are not in the image.

Host-side stdlib only (hack/image.sh runs it with the system python3). Exits 1 with the
failing command's output on any violation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

NONROOT = "65532:65532"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")  # update-ca-certificates' local CAs
IMAGE_CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
PROBE = r"""
import errno, os
assert (os.getuid(), os.getgid()) == (65532, 65532), (os.getuid(), os.getgid())
for path in ("/probe", "/opt/venv/probe"):
    try:
        open(path, "w")
    except OSError as e:
        assert e.errno == errno.EROFS, (path, e)
    else:
        raise AssertionError(f"{path} is writable")
with open("/tmp/probe", "w") as fh:
    fh.write("ok")
root = [l.split() for l in open("/proc/self/mountinfo") if l.split()[4] == "/"][-1]
assert "ro" in root[5].split(","), root
print(f"uid={os.getuid()} gid={os.getgid()} / mount options={root[5]} /tmp writable")
"""


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def pem_blocks(text: str) -> set[str]:
    """Each certificate's base64 body, whitespace removed (files and bundles differ in it)."""
    end = "-----END CERTIFICATE-----"
    bodies = set()
    for block in text.split(end):
        if "-----BEGIN CERTIFICATE-----" in block:
            bodies.add("".join(block.split("-----BEGIN CERTIFICATE-----", 1)[1].split()))
    return bodies


def runc_config(
    template: dict[str, Any], rootfs: str, image: dict[str, Any], args: list[str]
) -> dict[str, Any]:
    user = image.get("User", "")
    if user != NONROOT:
        raise SystemExit(f"image USER is {user!r}, expected {NONROOT}")
    uid, gid = (int(x) for x in user.split(":"))
    config = dict(template)
    config["root"] = {"path": rootfs, "readonly": True}
    config["hostname"] = "image-check"
    config["process"] = {
        **template["process"],
        "terminal": False,
        "args": args,
        "env": image.get("Env", []),
        "cwd": image.get("WorkingDir") or "/",
        "user": {"uid": uid, "gid": gid},
        "noNewPrivileges": True,
        "capabilities": {k: [] for k in ("bounding", "effective", "permitted", "ambient")},
    }
    tmpfs = {
        "destination": "/tmp",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1777", "size=65536k"],
    }
    config["mounts"] = [*template["mounts"], tmpfs]
    return config


def main() -> int:
    image_name = sys.argv[1]
    inspect = json.loads(run("buildah", "inspect", "--type", "image", image_name))
    image = inspect["OCIv1"]["config"]
    entrypoint = image.get("Entrypoint") or []
    checks = [
        [*entrypoint, "--version"],
        [*entrypoint, "hold", "--help"],
        ["python3", "-c", PROBE],
    ]
    container = run("buildah", "from", "--pull=never", image_name)
    try:
        rootfs = run("buildah", "mount", container)
        # Kubernetes hands the runtime only a uid unless the pod sets runAsGroup; the
        # runtime then reads the primary group from the image's /etc/passwd.
        passwd = [line.split(":") for line in Path(rootfs, "etc/passwd").read_text().splitlines()]
        if not any(f[2:4] == ["65532", "65532"] for f in passwd if len(f) > 3):
            print(
                "FAILED: /etc/passwd has no 65532:65532 entry (pods without runAsGroup get gid 0)"
            )
            return 1
        print("ok: /etc/passwd maps uid 65532 to group 65532 (pods without runAsGroup)")
        with tempfile.TemporaryDirectory(prefix="image-check-") as tmp:
            subprocess.run(["runc", "spec", "--bundle", tmp], check=True)
            template = json.loads(Path(tmp, "config.json").read_text())
            for i, args in enumerate(checks):
                config = runc_config(template, rootfs, image, args)
                Path(tmp, "config.json").write_text(json.dumps(config))
                name = f"image-check-{os.getpid()}-{i}"
                done = subprocess.run(
                    ["runc", "run", "--bundle", tmp, name],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                subprocess.run(["runc", "delete", "--force", name], capture_output=True)
                shown = " ".join(args[:3]) if args[0] != "python3" else "python3 -c <probe>"
                if done.returncode != 0:
                    print(f"FAILED as {NONROOT}, read-only /: {shown}\n{done.stdout}{done.stderr}")
                    return 1
                first = (done.stdout.strip().splitlines() or [""])[0]
                print(f"ok as {NONROOT}, read-only /, tmpfs /tmp: {shown} -> {first}")
        local = list(LOCAL_CA_DIR.glob("*.crt"))
        local_certs = set().union(*(pem_blocks(p.read_text()) for p in local))
        bundle = Path(rootfs, IMAGE_CA_BUNDLE)
        in_image = pem_blocks(bundle.read_text()) if bundle.exists() else set()
        leaked = local_certs & in_image
        if leaked or any(Path(rootfs, str(p).lstrip("/")).exists() for p in local):
            print(f"FAILED: {len(leaked)} local CA certificate(s) of this host are in the image")
            return 1
        print(
            f"ok: none of the build host's {len(local_certs)} local CA certificate(s) "
            f"({LOCAL_CA_DIR}) is in the image's {len(in_image)}-certificate bundle"
        )
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True)
        subprocess.run(["buildah", "rm", container], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
