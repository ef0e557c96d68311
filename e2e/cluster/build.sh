#!/usr/bin/env bash
# Builds (once) every binary the local cluster needs from the Go module proxy and caches
# them outside the checkout in a folder named after the pinned versions, so a second run
# with the cache present builds nothing. Usage: e2e/cluster/build.sh [--print-dir]
# Another runtime for real nodes (its own folder, the default binaries untouched):
#   e2e/cluster/build.sh --runtime containerd-v2.1.9 [--print-dir]
# Another Kubernetes (control plane + kubelet + kubectl, its own folder; the rest stays the
# default set's): e2e/cluster/build.sh --kubernetes v1.36.3 [--print-dir]
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.2.9}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"
ORAS_VERSION="${ORAS_VERSION:-v1.3.6}"
# Not in the stamp on purpose: adding it would rebuild everything above in a new folder.
# The binary is named after its version instead, so a bump builds the new one.
COSIGN_VERSION="${COSIGN_VERSION:-v2.6.5}"
# sigstore's RFC 3161 timestamp authority (keyless verification e2e); same naming rule.
TSA_VERSION="${TSA_VERSION:-v1.2.9}"

stamp="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_ctrd-${CONTAINERD_VERSION}_helm-${HELM_VERSION}_crane-${CRANE_VERSION}_oras-${ORAS_VERSION}"
CACHE_ROOT="${MODELPREFETCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelprefetch}"
BIN_DIR="${CACHE_ROOT}/bin/${stamp}"

RUNTIME=""
if [[ "${1:-}" == "--runtime" ]]; then
  RUNTIME="${2:?--runtime needs NAME-vVERSION, e.g. containerd-v2.1.9}"; shift 2
  [[ "$RUNTIME" =~ ^(containerd-v2|crio-v1)\.[0-9]+\.[0-9]+$ ]] || {
    echo "unsupported runtime '$RUNTIME' (supported: containerd-v2.X.Y, crio-v1.X.Y)" >&2; exit 2; }
  BIN_DIR="${CACHE_ROOT}/bin/runtime-${RUNTIME}"
fi
KUBERNETES_ONLY=""
if [[ "${1:-}" == "--kubernetes" ]]; then
  K8S_VERSION="${2:?--kubernetes needs vX.Y.Z, e.g. v1.36.3}"; shift 2
  [[ "$K8S_VERSION" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || {
    echo "unsupported Kubernetes version '$K8S_VERSION' (expected v1.X.Y)" >&2; exit 2; }
  KUBERNETES_ONLY=1
  BIN_DIR="${CACHE_ROOT}/bin/kubernetes-${K8S_VERSION}"
fi
if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN_DIR"; exit 0; fi

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$BIN_DIR"
export GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
have() { for b in "$@"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done; }

# containerd (daemon, runc shim, ctr) at any 2.x release. v2.1.x's go.mod has `exclude`
# lines, which `go install pkg@version` refuses: build it from a wrapper module that
# repeats them (harmless for the releases that resolve with plain `go install`).
build_containerd_runtime() { # vX.Y.Z
  local version="$1" mod="$work/containerd"
  have containerd containerd-shim-runc-v2 ctr && return 0
  log "containerd ${version} (containerd, containerd-shim-runc-v2, ctr)"
  mkdir -p "$mod" && cd "$mod"
  go mod init local/containerdbuild >/dev/null 2>&1
  go mod edit -require="github.com/containerd/containerd/v2@${version}"
  local gomod; gomod="$(go mod download -json "github.com/containerd/containerd/v2@${version}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  awk '/^exclude \($/{on=1; next} on && /^\)/{on=0} on && NF>=2 && $1 !~ /^\/\// {print $1"@"$2} /^exclude [^(]/{print $2"@"$3}' "$gomod" |
    while read -r excluded; do go mod edit -exclude="$excluded"; done
  printf '//go:build tools\npackage tools\nimport (\n _ "github.com/containerd/containerd/v2/cmd/containerd"\n _ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"\n _ "github.com/containerd/containerd/v2/cmd/ctr"\n)\n' > tools.go
  go mod tidy -e >/dev/null 2>&1 || true
  go build -ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${version}" -o "$BIN_DIR/" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  cd - >/dev/null
}

# CRI-O (crio + pinns) and crictl. `go install` refuses cri-o (it reads a version list the
# proxy may refuse), and its go.mod needs staging modules and two forks pinned: a wrapper
# module with replaces. cgo (go-sqlite3, libseccomp-dev) for the `seccomp` tag. conmon and
# runc come from Debian (Makefile system-deps); Debian's crun 1.8.1 does not work.
CRIO_K8S_STAGING="${CRIO_K8S_STAGING:-v0.35.4}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
build_crio_runtime() { # vX.Y.Z
  local version="$1" mod="$work/crio"
  have crio pinns crictl && return 0
  log "cri-o ${version} (crio, pinns) + crictl ${CRICTL_VERSION}"
  mkdir -p "$mod" && cd "$mod"
  go mod init local/criobuild >/dev/null 2>&1
  go mod edit -require="github.com/cri-o/cri-o@${version}"
  for m in api apimachinery apiserver client-go component-base cri-api cri-client kubelet; do
    go mod edit -replace "k8s.io/${m}=k8s.io/${m}@${CRIO_K8S_STAGING}"
  done
  go mod edit -replace github.com/checkpoint-restore/go-criu/v8=github.com/checkpoint-restore/go-criu/v8@v8.2.0
  go mod edit -replace github.com/containers/conmon-rs=github.com/containers/conmon-rs@v0.7.3
  printf '//go:build tools\npackage tools\nimport _ "github.com/cri-o/cri-o/cmd/crio"\n' > tools.go
  go mod tidy -e >/dev/null 2>&1 || true
  CGO_ENABLED=1 go build -tags "containers_image_openpgp containers_image_ostree_stub exclude_graphdriver_btrfs btrfs_noversion seccomp" \
    -ldflags="-s -w -X github.com/cri-o/cri-o/internal/version.Version=${version#v}" -o "$BIN_DIR/crio" github.com/cri-o/cri-o/cmd/crio
  local src; src="$(go mod download -json "github.com/cri-o/cri-o@${version}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$work/pinns" && cp -r "$src/pinns" "$work/pinns" && chmod -R u+w "$work/pinns"
  make -C "$work/pinns" >/dev/null && cp "$work/bin/pinns" "$BIN_DIR/pinns"
  cd - >/dev/null
  GOBIN="$BIN_DIR" go install -ldflags="-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}"
}

if [[ "$RUNTIME" == crio-* ]]; then
  build_crio_runtime "${RUNTIME#crio-}"
  log "runtime ${RUNTIME} in $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi
if [[ -n "$RUNTIME" ]]; then
  build_containerd_runtime "${RUNTIME#containerd-}"
  log "runtime ${RUNTIME} in $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

build_kubernetes() {
  have kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy && return 0
  log "kubernetes ${K8S_VERSION} (apiserver, controller-manager, scheduler, kubectl, kubelet, kube-proxy)"
  local mod="$work/k8s" minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#v1.}"
  mkdir -p "$mod" && cd "$mod"
  go mod init local/k8sbuild >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
  local gomod; gomod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  # Every staging module is required at v0.0.0 and replaced with ./staging/...; point the
  # replaces at the published staging modules instead.
  grep -E '^\s*k8s.io/[^ ]+ => ./staging/' "$gomod" | awk '{print $1}' | while read -r m; do
    go mod edit -replace "${m}=${m}@${staging}"
  done
  grep -E '^godebug' "$gomod" >> go.mod || true
  cat > tools.go <<'GO'
//go:build tools
package tools
import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  go get "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" >/dev/null 2>&1 || true
  local date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${p}.gitVersion=${K8S_VERSION} -X ${p}.gitMajor=1 -X ${p}.gitMinor=${minor}"
    ld+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=${date} -X ${p}.gitCommit=0000000000000000000000000000000000000000"
  done
  go build -tags=selinux,notest -ldflags="-s -w ${ld}" -o "$BIN_DIR/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy
  cd - >/dev/null
}

build_etcd() {
  have etcd && return 0
  log "etcd ${ETCD_VERSION}"
  local mod="$work/etcd"; mkdir -p "$mod" && cd "$mod"
  go mod init local/etcdbuild >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  local gomod; gomod="$(go mod download -json "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  # server/v3's go.mod replaces its sibling modules with ../; pin them to the release.
  grep -E '=> \.\./' "$gomod" | awk '{print $1}' | while read -r m; do
    go mod edit -replace "${m}=${m}@${ETCD_VERSION}"
  done
  printf '//go:build tools\npackage tools\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy -e >/dev/null 2>&1 || true
  go build -ldflags="-s -w" -o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3
  cd - >/dev/null
}

go_install() { # name module/cmd@version [ldflags]
  local name="$1" pkg="$2" ld="${3:-}"
  have "$name" && return 0
  log "$name (${pkg})"
  GOBIN="$BIN_DIR" go install -ldflags="-s -w ${ld}" "$pkg"
}

if [[ -n "$KUBERNETES_ONLY" ]]; then
  build_kubernetes
  log "kubernetes ${K8S_VERSION} in $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi
build_kubernetes
build_etcd
go_install kwok "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
go_install kwokctl "sigs.k8s.io/kwok/cmd/kwokctl@${KWOK_VERSION}"
# kwok's stock stage definitions (Apache-2.0) ship in its module, not in the binary.
if [[ ! -d "$BIN_DIR/kwok-stages" ]]; then
  stages="$(go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/kustomize/stage"
  mkdir -p "$BIN_DIR/kwok-stages.tmp"
  cp "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat/node-heartbeat.yaml "$stages"/pod/general/pod-*.yaml "$BIN_DIR/kwok-stages.tmp/"
  mv "$BIN_DIR/kwok-stages.tmp" "$BIN_DIR/kwok-stages"
fi
go_install helm "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" \
  "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=35"
go_install containerd "github.com/containerd/containerd/v2/cmd/containerd@${CONTAINERD_VERSION}" \
  "-X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}"
go_install containerd-shim-runc-v2 "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@${CONTAINERD_VERSION}"
go_install ctr "github.com/containerd/containerd/v2/cmd/ctr@${CONTAINERD_VERSION}"
go_install crane "github.com/google/go-containerregistry/cmd/crane@${CRANE_VERSION}"
go_install oras "oras.land/oras/cmd/oras@${ORAS_VERSION}"
# go-containerregistry's registry with the referrers API on (crane's serve leaves it off).
if ! have oci-registry; then
  log "oci-registry (go-containerregistry ${CRANE_VERSION} with referrers)"
  (cd "$(dirname "$0")/ociregistry" && go build -ldflags="-s -w" -o "$BIN_DIR/oci-registry" .)
fi
# cosign signs test models for the verification e2e tests (spec.model.verify).
if ! have "cosign-${COSIGN_VERSION}"; then
  log "cosign ${COSIGN_VERSION}"
  GOBIN="$work/cosign-bin" go install -ldflags="-s -w" "github.com/sigstore/cosign/v2/cmd/cosign@${COSIGN_VERSION}"
  mv "$work/cosign-bin/cosign" "$BIN_DIR/cosign-${COSIGN_VERSION}"
fi
# timestamp-server timestamps keyless test signatures (spec.model.verify.keyless).
if ! have "timestamp-server-${TSA_VERSION}"; then
  log "timestamp-authority ${TSA_VERSION}"
  GOBIN="$work/tsa-bin" go install -ldflags="-s -w" "github.com/sigstore/timestamp-authority/cmd/timestamp-server@${TSA_VERSION}"
  mv "$work/tsa-bin/timestamp-server" "$BIN_DIR/timestamp-server-${TSA_VERSION}"
fi
log "all binaries in $BIN_DIR"
echo "$BIN_DIR"
