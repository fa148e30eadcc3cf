#!/usr/bin/env bash
# Starts etcd and kube-apiserver on 127.0.0.1 for the integration tests and
# writes into DIR one kubeconfig per test identity, `kubeconfig` (the admin)
# and `env`, a file to source. Prints the path of `env`. A healthy control
# plane already running from DIR is reused as it is. Stop it with stop.sh DIR.
#
# M365_CONTROL_PLANE_READY_TIMEOUT (seconds, default 120) bounds the wait for
# the apiserver's /readyz.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/control-plane/lib.sh
. "$here/lib.sh"

# Tokens, keys and kubeconfigs are credentials, if only for a throwaway
# cluster: keep everything we write private.
umask 077
mkdir -p "$1"
dir=$(cd "$1" && pwd)
ready_timeout=${M365_CONTROL_PLANE_READY_TIMEOUT:-120}

operator_user=system:serviceaccount:m365-operator:m365-operator
operator_groups=system:serviceaccounts,system:serviceaccounts:m365-operator
# kubeconfig file name | user name | groups. The Rust side
# (tests/support/cluster.rs) mirrors this table and tests/control_plane.rs
# checks that the apiserver agrees with both.
IDENTITIES=(
  "admin|admin|system:masters"
  "it-admin|it-admin|m365:it-admins"
  "hr-partner|hr-partner|m365:hr-partners"
  "employee|employee|m365:employees"
  "gitops|gitops|m365:gitops"
  "vp|vp|m365:vps"
  "operator|$operator_user|$operator_groups"
)

for tool in openssl curl; do
  command -v "$tool" >/dev/null || { say "$tool is needed; install it first"; exit 1; }
done

# Two runs against the same DIR would race for its files and ports.
if command -v flock >/dev/null; then
  exec 9>"$dir/.lock"
  flock 9
fi

server_url() { sed -n 's/^ *server: *//p' "$dir/kubeconfig" 2>/dev/null; }

# /readyz as the admin. The token goes through stdin, not the command line.
apiserver_ready() {
  local url=$1 token
  token=$(awk -F, '$2 == "admin" {print $1}' "$dir/tokens.csv" 2>/dev/null) || return 1
  [ -n "$url" ] && [ -n "$token" ] || return 1
  curl -fsS --noproxy '*' --max-time 5 --cacert "$dir/pki/ca.crt" -o /dev/null \
    -K - "$url/readyz" <<<"header = \"Authorization: Bearer $token\"" 2>/dev/null
}

etcd_ready() {
  curl -fsS --noproxy '*' --max-time 2 -o /dev/null "$1/health" 2>/dev/null
}

healthy() {
  [ -f "$dir/env" ] && live_pid "$dir" etcd >/dev/null &&
    live_pid "$dir" kube-apiserver >/dev/null && apiserver_ready "$(server_url)"
}

if healthy; then
  say "reusing the control plane running from $dir ($(server_url))"
  echo "$dir/env"
  exit 0
fi

# Anything left from an earlier run (stopped, crashed or half started) goes:
# the tests expect an empty cluster. Only our own files, in case DIR holds more.
stop_all "$dir"
rm -rf "$dir/etcd" "$dir/pki" "$dir/tokens.csv" "$dir/env" "$dir"/kubeconfig \
  "$dir"/kubeconfig-* "$dir"/*.log

bin=$("$here/build.sh")

# Runs a command without its chatter, but shows the chatter if it fails.
quietly() {
  local out
  out=$("$@" 2>&1) && return 0
  say "failed: $*"
  echo "$out" >&2
  return 1
}

make_pki() {
  local pki=$dir/pki
  mkdir -p "$pki"
  # Our own config, so the system's openssl.cnf cannot add or clash with
  # extensions.
  cat >"$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[v3_test_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_apiserver]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
EOF
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  quietly openssl req -config "$pki/openssl.cnf" -x509 "${ec[@]}" -days 3650 \
    -subj "/CN=m365-operator test CA" -extensions v3_test_ca \
    -keyout "$pki/ca.key" -out "$pki/ca.crt"
  quietly openssl req -config "$pki/openssl.cnf" -new "${ec[@]}" -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
  quietly openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days 365 \
    -extfile "$pki/openssl.cnf" -extensions v3_apiserver -out "$pki/apiserver.crt"
  # The apiserver signs service-account tokens with this pair.
  quietly openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
  quietly openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
}

# Random ports below the kernel's ephemeral range, so an outgoing connection
# is unlikely to hold one; a port that accepts a connection is taken.
taken=" "
free_port() {
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 12000))
    [[ $taken == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      taken+="$port "
      REPLY=$port
      return 0
    fi
  done
  say "found no free port on 127.0.0.1"
  return 1
}

write_identities() {
  local url=$1 ca_data entry file user groups token
  ca_data=$(base64 <"$dir/pki/ca.crt" | tr -d '\n')
  : >"$dir/tokens.csv"
  for entry in "${IDENTITIES[@]}"; do
    IFS='|' read -r file user groups <<<"$entry"
    token=$(openssl rand -hex 32)
    echo "$token,$user,m365-test-$file,\"$groups\"" >>"$dir/tokens.csv"
    cat >"$dir/kubeconfig-$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: m365-test
  cluster:
    server: $url
    certificate-authority-data: $ca_data
users:
- name: $file
  user:
    token: $token
contexts:
- name: $file
  context:
    cluster: m365-test
    user: $file
current-context: $file
EOF
  done
  cp "$dir/kubeconfig-admin" "$dir/kubeconfig"
}

# setsid keeps a Ctrl-C in the calling terminal away from the servers; fd 9
# (the lock) must not outlive this script.
launch() {
  local name=$1 launcher=()
  shift
  command -v setsid >/dev/null && launcher=(setsid)
  "${launcher[@]}" "$bin/$name" "$@" </dev/null >"$dir/$name.log" 2>&1 9>&- &
  echo $! >"$dir/$name.pid"
}

show_log() {
  if [ -s "$dir/$1.log" ]; then
    echo "----- last lines of $dir/$1.log -----" >&2
    tail -n "$2" "$dir/$1.log" >&2
  fi
}

# On any failure from here on: show why, and leave no half-started servers.
started=false
on_exit() {
  local status=$?
  if [ "$status" -ne 0 ] && $started; then
    show_log etcd 15
    show_log kube-apiserver 40
    stop_all "$dir"
  fi
}
trap on_exit EXIT

# Polls until a check passes, the process dies or the time is up.
wait_for() {
  local what=$1 name=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout)) pid
  pid=$(cat "$dir/$name.pid")
  until "$@"; do
    if ! running "$pid"; then
      say "$name exited while waiting for $what"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "$what: not ready after ${timeout}s"
      return 1
    fi
    sleep 0.5
  done
}

make_pki
free_port
etcd_port=$REPLY
free_port
peer_port=$REPLY
free_port
api_port=$REPLY
url=https://127.0.0.1:$api_port
write_identities "$url"

etcd_url=http://127.0.0.1:$etcd_port
peer_url=http://127.0.0.1:$peer_port
started=true
launch etcd \
  --name=m365-test --data-dir="$dir/etcd" --unsafe-no-fsync \
  --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
  --listen-peer-urls="$peer_url" --initial-advertise-peer-urls="$peer_url" \
  --initial-cluster="m365-test=$peer_url"
wait_for "etcd /health" etcd 30 etcd_ready "$etcd_url"

begin=$(date +%s%N)
launch kube-apiserver \
  --etcd-servers="$etcd_url" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
  --client-ca-file="$dir/pki/ca.crt" --token-auth-file="$dir/tokens.csv" \
  --authorization-mode=RBAC \
  --service-account-issuer="$url/" \
  --service-account-key-file="$dir/pki/sa.pub" \
  --service-account-signing-key-file="$dir/pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --allow-privileged=true --disable-admission-plugins=ServiceAccount
wait_for "kube-apiserver /readyz" kube-apiserver "$ready_timeout" apiserver_ready "$url"
elapsed_ms=$((($(date +%s%N) - begin) / 1000000))

printf 'export KUBECONFIG=%q\nexport M365_TEST_CLUSTER_DIR=%q\n' \
  "$dir/kubeconfig" "$dir" >"$dir/env"
say "$(printf 'kube-apiserver at %s ready after %d.%03ds' \
  "$url" $((elapsed_ms / 1000)) $((elapsed_ms % 1000)))"
echo "$dir/env"
