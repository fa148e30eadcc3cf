#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the official Go modules, once per
# version pair, into a cache outside the repository. Prints the folder that
# holds the binaries. Release binaries cannot be downloaded everywhere we run,
# but the Go module proxy can be reached, so we compile the real thing.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
STAGING_VERSION=${STAGING_VERSION:-v0.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

cache_root=${M365_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/m365-operator/control-plane}
bin="$cache_root/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$bin"

log() { echo "control-plane: $*" >&2; }

# Two checkouts (or a test run and a manual start) may ask at once: one
# builds, the other waits and then finds the binaries.
if command -v flock >/dev/null; then
  exec 9>"$cache_root/.build.lock"
  if ! flock -n 9; then
    log "waiting for another build of the control plane to finish"
    flock 9
  fi
fi

need_go() {
  command -v go >/dev/null && return
  log "Go (1.26 or newer) is needed to build the control plane once; install it, or"
  log "copy kube-apiserver and etcd into $bin"
  exit 1
}

# Our small modules must not be pulled into a go.work found further up.
export GOWORK=off

build_apiserver() {
  local mod="$cache_root/src/apiserver-$K8S_VERSION"
  mkdir -p "$mod" && cd "$mod"
  [ -f go.mod ] || go mod init m365-operator.local/apiserver >/dev/null 2>&1
  local upstream
  upstream=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  # k8s.io/kubernetes points its staging modules at ./staging; map each one
  # to the published version instead.
  for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$upstream"); do
    go mod edit -replace="$m=$m@$STAGING_VERSION"
  done
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
}

build_etcd() {
  # A module of its own: etcd and the apiserver pin different grpc versions.
  local mod="$cache_root/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod" && cd "$mod"
  [ -f go.mod ] || go mod init m365-operator.local/etcd >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$bin/etcd.tmp" "$bin/etcd"
}

if [ ! -x "$bin/etcd" ] || [ ! -x "$bin/kube-apiserver" ]; then
  need_go
fi
if [ ! -x "$bin/etcd" ]; then
  log "building etcd $ETCD_VERSION (first run only)"
  (build_etcd)
fi
if [ ! -x "$bin/kube-apiserver" ]; then
  log "building kube-apiserver $K8S_VERSION (first run only; about 5 minutes on 2 cores)"
  (build_apiserver)
fi
echo "$bin"
