#!/usr/bin/env bash
# Builds modctl (once) from the Go module proxy and caches it next to the binaries of
# e2e/cluster/build.sh. Usage: e2e/oci/build_modctl.sh [--print-path]
#
# Why this version and these settings (found on 2026-11-28):
# - github.com/modelpack/modctl is refused by the proxy (403 "not available"), and so
#   is listing github.com/CloudNativeAI/modctl; v0.0.5 of the latter downloads. It is a
#   pre-v0.0.7 modctl: it writes the legacy vnd.cnai generation and has --raw.
# - The checksum database has no entries for it and several of its dependencies (404),
#   so GOSUMDB is off for this build only: the binary is a test tool, never shipped.
# - It links libgit2 through cgo (git2go v34): needs libgit2-dev (1.5) and gcc.
set -euo pipefail

MODCTL_MODULE="${MODCTL_MODULE:-github.com/CloudNativeAI/modctl}"
MODCTL_VERSION="${MODCTL_VERSION:-v0.0.5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin_dir="$(bash "$here/../cluster/build.sh" --print-dir)"
target="$bin_dir/modctl"

if [[ "${1:-}" == "--print-path" ]]; then echo "$target"; exit 0; fi
if [[ -x "$target" ]]; then echo "$target"; exit 0; fi

if ! pkg-config --exists libgit2 2>/dev/null; then
  echo "modctl needs libgit2-dev (apt-get install -y libgit2-dev)" >&2
  exit 1
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$bin_dir"
cd "$work"
export GOSUMDB=off GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=1
go mod init local/modctlbuild >/dev/null 2>&1
go mod edit -require="${MODCTL_MODULE}@${MODCTL_VERSION}"
printf '//go:build tools\npackage tools\nimport _ "%s"\n' "$MODCTL_MODULE" > tools.go
go mod tidy -e >/dev/null 2>&1 || true
go build -o "$target.tmp" "$MODCTL_MODULE"
mv "$target.tmp" "$target"
echo "$target"
