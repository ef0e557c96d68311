#!/usr/bin/env bash
# `make demo`: what a user does, end to end, on this machine (needs root: real nodes).
#
# 1. a local cluster: real kube-apiserver v1.35, 2 real nodes (containerd 2.2 + kubelet
#    1.35 + kube-proxy, each in its own network namespace), local OCI registries
# 2. `make image`: the project's Dockerfile built (no Docker engine) and pushed
# 3. `helm install` as the README says: the operator in the cluster, 2 replicas, one on
#    each node, webhooks through the Service with the self-managed certificate
# 4. `modelprefetch pack` of a small model, pushed to the registry
# 5. the sample ModelDeployment -> Ready 2/2 (a holder pod of the built image per node)
# 6. a labelled pod on each node gets the model mounted by the webhook and reads every file
#
# `make demo FAKE=1` (hack/demo_fake.sh) is the fast mode: kwok fake nodes, the operator
# as a local process. The cluster stays up (.tmp/cluster/kubeconfig) until `make demo-down`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${FAKE:-}" && "${FAKE}" != 0 ]]; then exec bash hack/demo_fake.sh; fi
ROOT=$PWD
DEMO=${MODELPREFETCH_DEMO_DIR:-$ROOT/.tmp/demo}
export MODELPREFETCH_CLUSTER_DIR=${MODELPREFETCH_CLUSTER_DIR:-$ROOT/.tmp/cluster}
CLUSTER=$MODELPREFETCH_CLUSTER_DIR
BIN=$(bash e2e/cluster/build.sh --print-dir)
PY=$ROOT/.venv/bin/python
INCLUSTER=("$PY" hack/demo_incluster.py)
export PATH="$BIN:$PATH" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
step() { printf '\n\033[1m==> [%ss] %s\033[0m\n' "$(( $(date +%s) - started ))" "$*"; }
state() { "$PY" -c "import json,sys;print(json.load(open('$CLUSTER/state.json'))$1)"; }
started=$(date +%s)
if [[ $(id -u) != 0 ]]; then
  echo "make demo starts real nodes (network namespaces, containerd): run it as root," \
    "or use the fake-node mode: make demo FAKE=1" >&2
  exit 2
fi

mkdir -p "$DEMO"
if [[ -f "$DEMO/operator.pid" ]]; then kill "$(cat "$DEMO/operator.pid")" 2>/dev/null || true; fi

step "Local cluster: control plane, 2 real nodes (each in its own network namespace), registries"
"$PY" -m e2e.cluster down >/dev/null 2>&1 || true
"$PY" -m e2e.cluster up --nodes 0 --real-nodes 2
export KUBECONFIG=$CLUSTER/kubeconfig
REG=$(state "['registries']['crane']['host']")
kubectl get nodes -o wide

APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/modelprefetch/Chart.yaml)
step "make image IMAGE=$REG/modelprefetch:$APP_VERSION"
IMAGE_REF=$(bash hack/image.sh "$REG/modelprefetch:$APP_VERSION" 2> >(tail -n 5 >&2))
echo "$IMAGE_REF"

step "helm install modelprefetch (the operator in the cluster, 2 replicas)"
"${INCLUSTER[@]}" install "$IMAGE_REF"
kubectl get pods -n modelprefetch-system -o wide
kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations

step "modelprefetch pack: a Hugging Face-style snapshot -> ModelPack in $REG"
rm -rf "$DEMO/model" && "$PY" hack/demo_model.py "$DEMO/model"
"$PY" -m modelprefetch pack "$DEMO/model" "$REG/models/llama-3-8b-instruct:v1" \
  --plain-http --no-progress
"$PY" -m modelprefetch inspect "$REG/models/llama-3-8b-instruct:v1" --plain-http

# Pods reach the registry on the node LAN (10.77.0.1:PORT), not on the host's 127.0.0.1.
POD_REG=10.77.0.1:${REG##*:}
step "kubectl apply: deploy/samples/modeldeployment.yaml with model.reference=$POD_REG/..."
"${INCLUSTER[@]}" modeldeployment "$POD_REG/models/llama-3-8b-instruct:v1" > "$DEMO/modeldeployment.yaml"
kubectl apply -f "$DEMO/modeldeployment.yaml"
for _ in $(seq 300); do
  [[ "$(kubectl get modeldeployments --no-headers)" =~ \ 2/2\ +Ready ]] && break; sleep 2
done
kubectl get modeldeployments
# Match on captured output: `kubectl | grep -q` under pipefail dies of SIGPIPE (141).
[[ "$(kubectl get modeldeployments --no-headers)" =~ \ 2/2\ +Ready ]] || {
  echo "demo: the ModelDeployment did not reach Ready 2/2" >&2
  kubectl describe modeldeployment llama-3-8b >&2
  kubectl logs -n modelprefetch-system -l app.kubernetes.io/name=modelprefetch --tail=30 >&2
  exit 1
}
kubectl get daemonsets,pods -o wide

step "A labelled pod on each node reads the model (the webhook mounts it)"
"${INCLUSTER[@]}" readers "$DEMO/model"
kubectl get pods -o wide

step "Done; the cluster stays up until make demo-down"
cat <<EOM
export KUBECONFIG=$KUBECONFIG
kubectl get modeldeployments,pods -o wide       # or: kubectl explain modeldeployment.spec
kubectl describe modeldeployment llama-3-8b
kubectl logs -n modelprefetch-system -l app.kubernetes.io/name=modelprefetch --prefix
kubectl logs reader-realnode-1                   # the model's files and their sha256
make demo-down                                   # remove the cluster, nodes, namespaces, mounts
EOM
