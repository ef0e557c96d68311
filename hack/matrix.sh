#!/usr/bin/env bash
# `make matrix`: the runtime table (e2e/realnode/test_runtime_table.py) and the node's
# versions (test_node.py) on the real-node setups that `make test` does not run.
# Usage: hack/matrix.sh ENTRY...  where an ENTRY is a runtime (containerd-vX.Y.Z,
# crio-vX.Y.Z), a Kubernetes release on build.sh's default runtime (kubernetes-vX.Y.Z), or
# both joined by '+' (kubernetes-v1.36.3+containerd-v2.4.2). Each is built once and
# cached (e2e/cluster/build.sh); every entry runs even when one fails. The observations
# land in .tmp/observations; a difference from the committed facts fails the run, and
# `python hack/compatibility.py update` adopts it. MATRIX_WRAP prefixes each pytest run
# (e.g. "flock /tmp/realnode.lock" where several sessions share one machine).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST="${PYTEST:-.venv/bin/pytest}"
read -ra wrap <<< "${MATRIX_WRAP:-}"
failed=() timings=()

for entry in "$@"; do
  runtime="" kubernetes=""
  IFS=+ read -ra parts <<< "$entry"
  for part in "${parts[@]}"; do
    case "$part" in
      kubernetes-v*) kubernetes="${part#kubernetes-}" ;;
      containerd-v* | crio-v*) runtime="$part" ;;
      *) echo "matrix: unknown entry '$part' (want containerd-vX.Y.Z, crio-vX.Y.Z or kubernetes-vX.Y.Z)" >&2
         exit 2 ;;
    esac
  done
  echo "== ${entry}: runtime ${runtime:-the default}, Kubernetes ${kubernetes:-the default}"
  started=$SECONDS
  if [[ -n "$runtime" ]] && ! nice -n 10 bash e2e/cluster/build.sh --runtime "$runtime" >/dev/null; then
    failed+=("$entry (build)"); continue
  fi
  if [[ -n "$kubernetes" ]] && ! nice -n 10 bash e2e/cluster/build.sh --kubernetes "$kubernetes" >/dev/null; then
    failed+=("$entry (build)"); continue
  fi
  MODELPREFETCH_NODE_RUNTIME="$runtime" MODELPREFETCH_KUBERNETES_VERSION="$kubernetes" \
    "${wrap[@]}" "$PYTEST" e2e/realnode/test_node.py e2e/realnode/test_runtime_table.py \
    -q -rfE --timeout 1800 || failed+=("$entry")
  timings+=("$entry: $((SECONDS - started)) s")
done

echo "== matrix: ${timings[*]:-nothing ran}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  echo "Observations: .tmp/observations/. Where they are right, adopt them with"
  echo "  python hack/compatibility.py update   (then commit compatibility.json + docs/compatibility.md)"
  exit 1
fi
