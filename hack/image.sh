#!/usr/bin/env bash
# `make image IMAGE=<registry>/<repo>:<tag>`: builds the project's Dockerfile into an OCI
# image without a Docker engine (buildah, chroot isolation), checks that it starts as
# 65532 with a read-only root filesystem, pushes it and prints the digest-pinned
# reference (`<registry>/<repo>@sha256:...`) as the last line on stdout. Everything else
# goes to stderr. The e2e suite runs this same script (e2e/cluster/project_image.py).
#
# python:3.11-slim cannot be pulled here, so the Dockerfile's BASE_IMAGE is a local base
# made from Debian bookworm packages with mmdebstrap (python3.11 + venv), the same role
# the official image plays for `docker build .` elsewhere.
#
# Cached under ${MODELPREFETCH_CACHE:-~/.cache/modelprefetch}/image: buildah's storage
# (graphroot/runroot), the base (keyed by its package list and Debian sources) and the
# finished image (keyed by a hash of every file that goes into it), so a warm run only
# pushes. IMAGE_REBUILD=1 forces the image (not the base) to be rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2 # stdout (fd 3) carries only the final reference

IMAGE=${1:-${IMAGE:-}}
if [[ -z "$IMAGE" ]]; then
  echo "usage: make image IMAGE=<registry>/<repo>:<tag>  (e.g. 127.0.0.1:5000/modelprefetch:dev)"
  exit 2
fi
if [[ "$IMAGE" == *@* || "${IMAGE##*/}" != *:* || "$IMAGE" != */* ]]; then
  echo "IMAGE=$IMAGE: expected <registry>/<repo>:<tag> (a tag, not a digest)"
  exit 2
fi
for tool in buildah mmdebstrap runc flock; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run \`make system-deps\`"; exit 2; }
done
if [[ $(id -u) != 0 ]]; then
  echo "hack/image.sh needs root (buildah with chroot isolation, mmdebstrap, runc)"
  exit 2
fi

CACHE=${MODELPREFETCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelprefetch}/image
mkdir -p "$CACHE"
# Written whole and renamed: several sessions may start at once (shared lock below).
cat >"$CACHE/storage.conf.$$" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$CACHE/run"
EOF
mv "$CACHE/storage.conf.$$" "$CACHE/storage.conf"
export CONTAINERS_STORAGE_CONF=$CACHE/storage.conf
started=$(date +%s)

# Untag older builds of the same local name (their inputs changed since).
drop_other_tags() {
  local old
  for old in $(buildah images --noheading --format '{{.Name}}:{{.Tag}}'); do
    [[ "${old%:*}" == "${1%:*}" && "$old" != "$1" ]] && buildah rmi "$old" >/dev/null
  done
  return 0
}

# Keep the newest KEEP builds of a local name, untag the rest: several checkouts (git
# worktrees, a CI clone) with different sources then each keep their cached image instead
# of evicting one another's on every run.
keep_newest_tags() {
  local keep=${IMAGE_CACHE_KEEP:-6}
  buildah images --noheading --format '{{.CreatedAtRaw}} {{.Name}}:{{.Tag}}' |
    awk -v repo="${1%:*}" '{ name = $NF; sub(/:[^:]*$/, "", name) } name == repo' |
    LC_ALL=C sort -r | awk '{ print $NF }' | tail -n +$((keep + 1)) |
    while read -r old; do buildah rmi "$old" >/dev/null || true; done
}

# --- the base: Debian bookworm's python3.11 + venv --------------------------------------
# libstdc++6: google-re2's extension is C++ (python:3.11-slim has it, apt needs it there).
BASE_PACKAGES="python3 python3-venv ca-certificates libstdc++6"
BASE_SOURCES=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
MMDEBSTRAP_OPTS=(
  --variant=essential
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr # else usrmerge drags in perl
  --include="${BASE_PACKAGES// /,}"
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  # pip may install into the venv the Dockerfile makes, as with the official image
  --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*'
)
BASE_RECIPE="mmdebstrap --variant=essential bookworm +merged-usr: $BASE_PACKAGES"
base_key=$(printf '%s\n' "$BASE_RECIPE" "${BASE_SOURCES[@]}" "${MMDEBSTRAP_OPTS[@]}" |
  sha256sum | cut -c1-16)
BASE=localhost/modelprefetch-base:$base_key
# --- the image: the Dockerfile, keyed by everything that goes into it --------------------
context_files() {
  printf '%s\n' Dockerfile .dockerignore pyproject.toml README.md hack/image.sh
  find operator -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' | LC_ALL=C sort
}
image_key=$( (
  echo "$BASE"
  context_files | while read -r f; do sha256sum "$f"; done
) | sha256sum | cut -c1-16)
BUILT=localhost/modelprefetch-build:$image_key
BUILDER=localhost/modelprefetch-builder:$image_key

# Builds take the cache's lock exclusively, cache hits and pushes share it: parallel e2e
# sessions (and worktrees with other sources) queue only while something is being built.
exec 9>"$CACHE/lock"
flock -s 9
if [[ -n "${IMAGE_REBUILD:-}" ]] || ! buildah inspect --type image "$BASE" >/dev/null 2>&1 ||
  ! buildah inspect --type image "$BUILT" >/dev/null 2>&1; then
  flock 9 # something to build: alone in the cache
  buildah rm --all >/dev/null # working containers an interrupted run left (we hold the lock)
fi

if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  echo "base $BASE: cached"
else
  echo "base $BASE: mmdebstrap bookworm ($BASE_PACKAGES)"
  tarball=$CACHE/base-$base_key.tar
  rm -f "$CACHE"/base-*.tar
  nice -n 10 mmdebstrap --quiet "${MMDEBSTRAP_OPTS[@]}" bookworm "$tarball" "${BASE_SOURCES[@]}"
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$tarball" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd python3 --created-by "$BASE_RECIPE" \
    --label "io.modelprefetch.base.packages=$BASE_PACKAGES" "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE" >/dev/null
  rm -f "$tarball"
  drop_other_tags "$BASE"
  echo "base $BASE: built in $(($(date +%s) - started))s"
fi

# --- the image (its key is computed above) ---------------------------------------------
if [[ -z "${IMAGE_REBUILD:-}" ]] && buildah inspect --type image "$BUILT" >/dev/null 2>&1; then
  echo "image $BUILT: cached (no input changed)"
else
  build_started=$(date +%s)
  # pip inside RUN must trust the local CA that re-signs outbound TLS here: the host
  # bundle is bind-mounted read-only for the build only and named by PIP_CERT (pip's
  # vendored certifi ignores the system store); it never lands in a layer.
  host_ca=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
  ca_args=()
  if [[ -f "$host_ca" ]]; then
    ca_args=(--volume "$host_ca:/etc/ssl/certs/ca-certificates.crt:ro"
      --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
  fi
  bud() {
    nice -n 10 buildah bud --isolation chroot --layers --pull=never \
      --build-arg "BASE_IMAGE=$BASE" "${ca_args[@]}" --file Dockerfile "$@" .
  }
  # The builder stage gets a name too, so the prune below keeps its layer cache (the
  # dependency layer survives code changes); the second run takes it from that cache.
  bud --target builder --tag "$BUILDER"
  bud --tag "$BUILT"
  echo "image $BUILT: built in $(($(date +%s) - build_started))s"
  # The production constraints, before anything is pushed: uid 65532, read-only root.
  python3 hack/image_check.py "$BUILT"
  keep_newest_tags "$BUILT"
  keep_newest_tags "$BUILDER"
  buildah rmi --prune >/dev/null 2>&1 || true # layers only the untagged builds used
fi
flock -s 9 # built: other sessions may build or push while this one pushes

# --- push ------------------------------------------------------------------------------
registry=${IMAGE%%/*}
tls=true
case "${registry%:*}" in # plain HTTP only to registries on this machine
  127.* | localhost | "[::1]") tls=false ;;
esac
digestfile=$(mktemp)
trap 'rm -f "$digestfile"' EXIT
buildah push --quiet --tls-verify="$tls" --digestfile "$digestfile" "$BUILT" "docker://$IMAGE"
digest=$(cat "$digestfile")
echo "pushed $IMAGE ($digest) in $(($(date +%s) - started))s total"
python3 hack/image_history.py "$IMAGE" --tls-verify="$tls" || true
echo "${IMAGE%:*}@$digest" >&3
