#!/usr/bin/env bash
# Builds the helm CLI from its Go module, once per version, into a cache
# outside the repository, and prints the path of the binary. Like the control
# plane (tests/control-plane/build.sh), it is compiled from the module proxy
# because release downloads are not reachable everywhere the tests run.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.21.4}

cache_root=${M365_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/m365-operator/tools}
bin="$cache_root/helm-$HELM_VERSION/helm"
mkdir -p "$(dirname "$bin")"

log() { echo "build-helm: $*" >&2; }

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

# Two test runs may ask at once: one builds, the other waits for it.
if command -v flock >/dev/null; then
  exec 9>"$cache_root/.helm.lock"
  if ! flock -n 9; then
    log "waiting for another build of helm to finish"
    flock 9
  fi
fi

if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null; then
    log "Go is needed to build helm $HELM_VERSION once; install it, or copy a helm"
    log "binary of that version to $bin"
    exit 1
  fi
  log "building helm $HELM_VERSION (first run only; a few minutes on 2 cores)"
  # A module of our own, so that helm's dependencies are resolved as its go.mod
  # pins them and nothing from a go.work further up joins in.
  export GOWORK=off
  mod="$cache_root/src/helm-$HELM_VERSION"
  mkdir -p "$mod"
  (
    cd "$mod"
    [ -f go.mod ] || go mod init m365-operator.local/helm >/dev/null 2>&1
    go get -tool "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      -o "$bin.tmp" helm.sh/helm/v3/cmd/helm
    mv "$bin.tmp" "$bin"
  )
fi
echo "$bin"
