#!/usr/bin/env bash
# The project's test command. Runs, in order and stopping at the first
# failure: formatting, lints, then every test (unit and integration) against
# a real kube-apiserver and etcd started for the run in target/test-cluster
# and stopped when the run ends, however it ends.
#
# Extra arguments go to the test binaries, e.g. `./tests/run.sh control_plane`
# runs only the tests whose name matches. M365_KEEP_CLUSTER=1 leaves the
# control plane running afterwards for a look with
# `. target/test-cluster/env && kubectl get ...`; tests/control-plane/stop.sh
# target/test-cluster stops it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cluster_dir=target/test-cluster

run_start=$SECONDS
stage_name=
stage_start=$SECONDS

stage() {
  finish_stage
  stage_name=$1
  stage_start=$SECONDS
  printf '\n==> %s\n' "$stage_name"
}

finish_stage() {
  if [ -n "$stage_name" ]; then
    printf '==> %s: passed in %ss\n' "$stage_name" $((SECONDS - stage_start))
  fi
  stage_name=
}

on_exit() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -n "$stage_name" ]; then
    printf '\n==> %s: FAILED (exit %s)\n' "$stage_name" "$status" >&2
  fi
  if [ "${M365_KEEP_CLUSTER:-}" = 1 ]; then
    [ -f "$cluster_dir/env" ] && echo "==> control plane left running: . $cluster_dir/env" >&2
  else
    tests/control-plane/stop.sh "$cluster_dir"
  fi
}
trap on_exit EXIT
# Turn signals into a normal exit so the EXIT trap stops the control plane.
trap 'exit 130' INT
trap 'exit 143' TERM

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

stage "control plane (kube-apiserver + etcd)"
env_file=$(tests/control-plane/start.sh "$cluster_dir")
# shellcheck source=/dev/null
. "$env_file"
export KUBECONFIG M365_TEST_CLUSTER_DIR

stage "cargo test"
# Integration tests mostly wait on the API server and their operators, so a few run side by
# side even on two cores; each has its own namespace, simulator, Tenant and operator.
# M365_TEST_THREADS=1 runs them one at a time.
cargo test --workspace --no-fail-fast -- --include-ignored \
  --test-threads="${M365_TEST_THREADS:-3}" "$@"

stage "conformance (Graph simulator vs. Microsoft Graph SDK for Python)"
tests/conformance/run.sh

finish_stage
printf '\n==> all stages passed in %ss\n' $((SECONDS - run_start))
