#!/usr/bin/env bash
# `make demo FAKE=1`: the fast mode of `make demo` (hack/demo.sh), on fake nodes.
#
# 1. a local cluster (real kube-apiserver v1.35, kwok fake GPU nodes) and OCI registries
# 2. `helm install` of the chart (CRD, RBAC, webhooks, dashboards)
# 3. the operator, running under the chart's ServiceAccount token (kwok nodes cannot run
#    containers, so the operator runs here as a process instead of as the chart's pod)
# 4. `modelprefetch pack` of a small model into a password-protected registry
# 5. `kubectl apply` of a ModelDeployment -> prefetched on every GPU node, in waves
# 6. a labelled Deployment whose pods get the model mounted by the webhook
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=${MODELPREFETCH_DEMO_DIR:-$ROOT/.tmp/demo}
export MODELPREFETCH_CLUSTER_DIR=${MODELPREFETCH_CLUSTER_DIR:-$ROOT/.tmp/cluster}
CLUSTER=$MODELPREFETCH_CLUSTER_DIR
HEALTH_PORT=${DEMO_HEALTH_PORT:-8081}
METRICS_PORT=${DEMO_METRICS_PORT:-8080}
BIN=$(bash e2e/cluster/build.sh --print-dir)
PY=$ROOT/.venv/bin/python
export PATH="$BIN:$PATH"
step() { printf '\n\033[1m==> [%ss] %s\033[0m\n' "$(( $(date +%s) - started ))" "$*"; }
started=$(date +%s)

mkdir -p "$DEMO"
if [[ -f "$DEMO/operator.pid" ]]; then kill "$(cat "$DEMO/operator.pid")" 2>/dev/null || true; fi

step "Local cluster: control plane, 3 fake GPU nodes, registries"
"$PY" -m e2e.cluster down >/dev/null 2>&1 || true
"$PY" -m e2e.cluster up --nodes 3
export KUBECONFIG=$CLUSTER/kubeconfig
REG=$("$PY" -c "import json;print(json.load(open('$CLUSTER/state.json'))['registries']['distribution-auth']['host'])")
USER=$("$PY" -c "import json;print(json.load(open('$CLUSTER/state.json'))['registries']['distribution-auth']['username'])")
PASS=$("$PY" -c "import json;print(json.load(open('$CLUSTER/state.json'))['registries']['distribution-auth']['password'])")
for node in kwok-node-0 kwok-node-1 kwok-node-2; do
  kubectl label node "$node" nvidia.com/gpu.present=true --overwrite >/dev/null
  kubectl taint node "$node" nvidia.com/gpu=present:NoSchedule --overwrite >/dev/null
done
kubectl get nodes -o custom-columns=NAME:.metadata.name,RUNTIME:.status.nodeInfo.containerRuntimeVersion,GPU:.metadata.labels.nvidia\\.com/gpu\\.present

step "helm install modelprefetch"
WEBHOOK_PORT=$("$PY" -c "from e2e.cluster.tools import free_port; print(free_port())")
helm install modelprefetch charts/modelprefetch --namespace modelprefetch-system --create-namespace \
  --set replicaCount=0 --set podDisruptionBudget.enabled=false \
  --set "webhook.url=https://127.0.0.1:$WEBHOOK_PORT" --set "insecureRegistries={$REG}" \
  --set "rbac.secretNamespaces={default}" --wait  # the sample's pull secret lives in default

step "The operator, as the chart's ServiceAccount"
TOKEN=$(kubectl create token modelprefetch -n modelprefetch-system --duration=24h)
"$PY" - "$TOKEN" "$CLUSTER/kubeconfig" "$DEMO/operator.kubeconfig" <<'PYEOF'
import sys, yaml
admin = yaml.safe_load(open(sys.argv[2]))
cfg = {"apiVersion": "v1", "kind": "Config", "clusters": admin["clusters"],
       "users": [{"name": "sa", "user": {"token": sys.argv[1]}}],
       "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": "sa"}}],
       "current-context": "sa"}
open(sys.argv[3], "w").write(yaml.safe_dump(cfg))
PYEOF
# kwok nodes have no kubelet to read image filesystems from: the capacity check is off.
MODELPREFETCH_KUBECONFIG=$DEMO/operator.kubeconfig MODELPREFETCH_NAMESPACE=modelprefetch-system \
MODELPREFETCH_INSECURE_REGISTRIES="[\"$REG\"]" MODELPREFETCH_BIND_ADDRESS=127.0.0.1 \
MODELPREFETCH_HEALTH_PORT=$HEALTH_PORT MODELPREFETCH_METRICS_PORT=$METRICS_PORT \
MODELPREFETCH_WEBHOOK_PORT=$WEBHOOK_PORT MODELPREFETCH_WEBHOOK_URL=https://127.0.0.1:$WEBHOOK_PORT \
MODELPREFETCH_HOLDER_IMAGE="$REG/modelprefetch:0.1.0" \
MODELPREFETCH_CAPACITY_CHECK=off \
  nohup "$PY" -m modelprefetch run > "$DEMO/operator.log" 2>&1 &
echo $! > "$DEMO/operator.pid"
for _ in $(seq 60); do curl -fs http://127.0.0.1:$HEALTH_PORT/readyz >/dev/null 2>&1 && break; sleep 0.5; done
echo "operator pid $(cat "$DEMO/operator.pid"), log $DEMO/operator.log"

step "modelprefetch pack: a Hugging Face-style snapshot -> ModelPack in $REG"
rm -rf "$DEMO/model" && "$PY" hack/demo_model.py "$DEMO/model"
printf '%s' "$PASS" | "$PY" -m modelprefetch pack "$DEMO/model" "$REG/models/llama-3-8b-instruct:v1" \
  --plain-http --username "$USER" --password-stdin --no-progress
printf '%s' "$PASS" | "$PY" -m modelprefetch inspect "$REG/models/llama-3-8b-instruct:v1" \
  --plain-http --username "$USER" --password-stdin

step "kubectl apply -f deploy/samples/modeldeployment.yaml"
kubectl create secret docker-registry registry-credentials --docker-server="$REG" \
  --docker-username="$USER" --docker-password="$PASS" --dry-run=client -o yaml | kubectl apply -f -
sed "s#registry.example.com/models/llama-3-8b-instruct:v1#$REG/models/llama-3-8b-instruct:v1#" \
  deploy/samples/modeldeployment.yaml | kubectl apply -f -
for _ in $(seq 120); do
  [[ "$(kubectl get modeldeployments --no-headers)" =~ \ 3/3\ +Ready ]] && break; sleep 1
  kubectl get modeldeployments --no-headers
done
kubectl get modeldeployments
# Match on captured output: `kubectl | grep -q` under pipefail dies of SIGPIPE (141).
[[ "$(kubectl get modeldeployments --no-headers)" =~ \ 3/3\ +Ready ]] \
  || { echo "demo: the ModelDeployment did not reach Ready 3/3; see $DEMO/operator.log" >&2; exit 1; }
kubectl get daemonsets,pods -o wide

step "A labelled Deployment gets the model (examples/workload.yaml)"
kubectl apply -f examples/workload.yaml
kubectl rollout status deployment/llama-server --timeout=60s >/dev/null 2>&1 || true
POD=pod/$(kubectl get pods -l app=llama-server -o jsonpath='{.items[0].metadata.name}')
[[ "$POD" != "pod/" && "$(kubectl get "$POD" -o jsonpath='{.spec.volumes[*].image.reference}')" == *@sha256:* ]] \
  || { echo "demo: the workload pod did not get the model volume" >&2; exit 1; }
kubectl get "$POD" -o jsonpath='{"volume: "}{.spec.volumes[?(@.image)]}{"\n"}{"mounts: "}{.spec.containers[0].volumeMounts}{"\n"}{"env: "}{.spec.containers[0].env}{"\n"}{"imagePullSecrets: "}{.spec.imagePullSecrets}{"\n"}{"affinity: "}{.spec.affinity.nodeAffinity}{"\n"}'

step "Done; the cluster stays up until make demo-down"
cat <<EOM
export KUBECONFIG=$KUBECONFIG
kubectl get modeldeployments          # or: kubectl explain modeldeployment.spec
kubectl describe modeldeployment llama-3-8b
curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep ^modelprefetch_
make demo-down                        # stop the operator and the cluster
EOM
