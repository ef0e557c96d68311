#!/usr/bin/env bash
# Builds e2e/interop/gopack (once per source change) against the packaging libraries of
# Docker Model Runner and Ollama from the Go module proxy, and caches it next to the
# binaries of e2e/cluster/build.sh. Usage: e2e/oci/build_gopack.sh [--print-path]
#
# Why these settings (found on 2026-11-30):
# - github.com/docker/model-runner v1.2.9 says `go 1.26.10`; this machine has 1.26.8, so
#   the go command switches to go1.27.3 (GOTOOLCHAIN), the one approved newer toolchain,
#   which it fetches from the module proxy (verified by the checksum database: GOSUMDB
#   stays on, which the toolchain download requires).
# - Neither module is pinned through a go.sum of ours: `go mod tidy` resolves the rest;
#   modules missing from the checksum database are listed in GONOSUMDB (test tool only).
set -euo pipefail

DMR_VERSION="${DMR_VERSION:-v1.2.9}"
OLLAMA_VERSION="${OLLAMA_VERSION:-v0.17.4}"
export GOTOOLCHAIN="${GOPACK_GOTOOLCHAIN:-go1.27.3}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$here/../interop/gopack"
bin_dir="$(bash "$here/../cluster/build.sh" --print-dir)"
stamp="$(cat "$source_dir/main.go" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
target="$bin_dir/gopack-dmr${DMR_VERSION}-ollama${OLLAMA_VERSION}-$stamp"

if [[ "${1:-}" == "--print-path" ]]; then echo "$target"; exit 0; fi
if [[ -x "$target" ]]; then echo "$target"; exit 0; fi

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mkdir -p "$bin_dir"
cp "$source_dir/main.go" "$work/"
cd "$work"
export GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
export GONOSUMDB="${GONOSUMDB:-github.com/docker/model-runner}"
go mod init local/gopack >/dev/null 2>&1
go mod edit -require="github.com/docker/model-runner@${DMR_VERSION}" \
  -require="github.com/ollama/ollama@${OLLAMA_VERSION}"
go mod tidy >&2
go build -trimpath -o "$target.tmp" .
mv "$target.tmp" "$target"
echo "$target"
