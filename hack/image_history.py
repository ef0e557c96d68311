"""`python3 hack/image_history.py REF [--tls-verify=false]`: a `docker history`-like table.

Reads the pushed manifest and config with skopeo (no Docker) and pairs each history
entry with its layer: when it was created, the layer's compressed size, what made it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def skopeo(*args: str) -> dict[str, Any]:
    out = subprocess.run(["skopeo", "inspect", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def main() -> int:
    ref, flags = sys.argv[1], sys.argv[2:]
    manifest = skopeo(*flags, "--raw", f"docker://{ref}")
    config = skopeo(*flags, "--config", f"docker://{ref}")
    layers = iter(manifest["layers"])
    rows = []
    for entry in config.get("history", []):  # oldest first, layers in the same order
        size = "0 B" if entry.get("empty_layer") else _size(next(layers)["size"])
        made_by = " ".join(entry.get("created_by", "").replace("/bin/sh -c #(nop) ", "").split())
        rows.append(f"{entry.get('created', '')[:19]:20} {size:>9}  {made_by[:100]}")
    print(f"{'CREATED':20} {'SIZE':>9}  CREATED BY")
    print("\n".join(reversed(rows)))  # newest first, as `docker history` prints it
    total = sum(layer["size"] for layer in manifest["layers"])
    print(
        f"{len(manifest['layers'])} layers, {total / 2**20:.1f} MiB compressed;"
        f" user {config['config'].get('User')}, {config['os']}/{config['architecture']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
