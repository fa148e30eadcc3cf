#!/usr/bin/env bash
# The quick start: builds and starts everything on this machine (a real kube-apiserver and
# etcd, the Graph simulator, the operator), applies the example manifests, and ends with the
# example Users Active. Everything listens on 127.0.0.1 and keeps running afterwards so you
# can look around; `examples/demo.sh down` stops it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
state=target/demo
cluster=$state/cluster
bin=target/debug/m365-operator

say() { printf '\n==> %s\n' "$*"; }

stop_pid() {
  local file=$1
  [ -f "$file" ] || return 0
  local pid
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  # Wait for it to go, so that a new one does not share its log file.
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$file"
}

down() {
  # A failing webhook left registered would refuse RoleAssignments once the operator is gone.
  if [ -f "$cluster/kubeconfig" ]; then
    KUBECONFIG="$cluster/kubeconfig" kubectl delete validatingwebhookconfiguration \
      m365-operator-demo --ignore-not-found >/dev/null 2>&1 || true
  fi
  stop_pid "$state/operator.pid"
  stop_pid "$state/simulator.pid"
  tests/control-plane/stop.sh "$cluster"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_line() {
  local file=$1 pattern=$2
  for _ in $(seq 1 100); do
    grep -a -m1 -o "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $pattern in $file:" >&2
  cat "$file" >&2
  return 1
}

up() {
  # A second `up` starts from scratch: a fresh simulator would not know the accounts that the
  # old control plane's Users point at.
  if [ -d "$state" ]; then
    say "stopping the previous demo"
    down
    rm -rf "$state"
  fi
  mkdir -p "$state"
  say "building the operator"
  cargo build --bin m365-operator

  say "starting kube-apiserver and etcd (built from source on first use)"
  env_file=$(tests/control-plane/start.sh "$cluster")
  # shellcheck source=/dev/null
  . "$env_file"
  export KUBECONFIG

  say "starting the Graph simulator"
  stop_pid "$state/simulator.pid"
  "$bin" sim --listen 127.0.0.1:0 --config examples/simulator.yaml >"$state/simulator.log" 2>&1 &
  echo $! >"$state/simulator.pid"
  sim_url=$(wait_for_line "$state/simulator.log" 'http://127\.0\.0\.1:[0-9]*')
  echo "simulator at $sim_url"

  say "installing the CRDs, the Tenant and its credentials"
  kubectl apply --server-side -f crds/
  kubectl wait --for=condition=Established crd/users.m365-operator.io crd/tenants.m365-operator.io \
    crd/roleassignments.m365-operator.io
  # deploy/namespace.yaml is the operator's own namespace: its token signing keys live there.
  kubectl apply -f deploy/namespace.yaml -f examples/namespace.yaml -f examples/credentials.yaml
  # The personas, bound to the demo cluster's it-admin, vp, hr-partner and employee users.
  kubectl apply -f deploy/personas.yaml -f examples/rbac.yaml
  sed "s#SIMULATOR_URL#$sim_url#" examples/tenant.yaml | kubectl apply -f -

  say "starting the operator (log: $state/operator.log)"
  stop_pid "$state/operator.pid"
  webhook_port=$(free_port)
  # The admission webhook on loopback, with a certificate the operator makes for 127.0.0.1;
  # at start it puts its CA into this configuration's caBundle.
  sed "s#WEBHOOK_URL#https://127.0.0.1:$webhook_port/validate/roleassignments#" \
    examples/webhook.yaml | kubectl apply -f -
  "$bin" run --http-listen 127.0.0.1:0 --webhook-listen "127.0.0.1:$webhook_port" \
    --webhook-san 127.0.0.1 --webhook-configuration m365-operator-demo \
    >"$state/operator.log" 2>&1 &
  echo $! >"$state/operator.pid"
  http=$(wait_for_line "$state/operator.log" 'serving /healthz.*address=127\.0\.0\.1:[0-9]*' | grep -o 'address=.*')
  echo "probes and metrics at http://${http#address=}/metrics (/healthz, /readyz)"

  say "applying the example Users"
  # Approved just now, so that the two-business-hour deadline is judged on this run.
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for user in examples/users/*.yaml; do
    echo ---
    sed "s/approvedAt: .*/approvedAt: \"$now\"/" "$user"
  done | kubectl apply -f -
  kubectl wait --for=condition=Ready users.m365-operator.io --all -n m365-demo --timeout=180s

  say "applying the example RoleAssignments"
  # The API server reaches the webhook once the operator has filled in its caBundle.
  for _ in $(seq 1 60); do
    kubectl apply --dry-run=server -f examples/roles/ >/dev/null 2>&1 && break
    sleep 1
  done
  kubectl apply -f examples/roles/
  kubectl wait --for=jsonpath='{.status.phase}'=Applied roleassignments.m365-operator.io --all \
    -n m365-demo --timeout=120s

  say "kubectl get tenants; kubectl get users -n m365-demo"
  kubectl get tenants.m365-operator.io
  kubectl get users.m365-operator.io -n m365-demo
  say "kubectl get roleassignments -n m365-demo"
  kubectl get roleassignments.m365-operator.io -n m365-demo
  say "accounts in the simulated tenant ($sim_url/_sim/state)"
  curl -fsS "$sim_url/_sim/state" | python3 -c "$(cat <<'PY'
import json, sys
for user in json.load(sys.stdin)["users"]:
    skus = ", ".join(l["skuId"] for l in user.get("assignedLicenses", []))
    print(f"{user['userPrincipalName']:<38} id {user['id']}  licences: {skus or '-'}")
PY
)"
  say "mails in the simulated outbox ($sim_url/_sim/outbox)"
  curl -fsS "$sim_url/_sim/outbox" | python3 -c "$(cat <<'PY'
import json, sys
for mail in json.load(sys.stdin):
    print(f"{mail['from']} -> {', '.join(mail['to'])}: {mail['subject']}")
PY
)"
  cat <<MSG

Everything keeps running. Try:
  export KUBECONFIG=$PWD/$cluster/kubeconfig
  kubectl describe users.m365-operator.io -n m365-demo zoe-muller
  kubectl get roleassignments.m365-operator.io -n m365-demo lukasz-oster-user -o yaml
  kubectl get secret -n m365-demo zoe-muller-credentials -o jsonpath='{.data.password}' | base64 -d

A role change as the IT admin (it-admin@contoso.example, an Admin), approved by the VP:
  examples/demo.sh promote zoe-muller Approver
Stop everything with: examples/demo.sh down
MSG
}

# A RoleAssignment sent as the cluster user it-admin, then approved as the cluster user vp,
# each through the admission webhook, as the two people would with kubectl.
promote() {
  local user=$1 role=$2 name
  name="$user-$(echo "$role" | tr '[:upper:]' '[:lower:]')"
  local as_admin=$cluster/kubeconfig-it-admin as_vp=$cluster/kubeconfig-vp
  say "it-admin asks for role $role for $user"
  KUBECONFIG=$as_admin kubectl create -f - <<YAML
apiVersion: m365-operator.io/v1alpha1
kind: RoleAssignment
metadata: { name: $name, namespace: m365-demo }
spec:
  user: $user
  role: $role
  justification: asked for from the demo's command line
  requester: it-admin@contoso.example
YAML
  sleep 2
  KUBECONFIG=$as_admin kubectl get roleassignments.m365-operator.io -n m365-demo "$name"
  say "vp approves"
  KUBECONFIG=$as_vp kubectl patch roleassignments.m365-operator.io -n m365-demo "$name" \
    --type=merge -p '{"spec":{"approvals":[{"approver":"vp@contoso.example"}]}}'
  KUBECONFIG=$as_admin kubectl wait --for=jsonpath='{.status.phase}'=Applied \
    roleassignments.m365-operator.io -n m365-demo "$name" --timeout=60s
  KUBECONFIG=$as_admin kubectl get roleassignments.m365-operator.io -n m365-demo
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  promote) [ $# -eq 3 ] || { echo "usage: $0 promote USER ROLE" >&2; exit 2; }; promote "$2" "$3" ;;
  *) echo "usage: $0 [up|down|promote USER ROLE]" >&2; exit 2 ;;
esac
