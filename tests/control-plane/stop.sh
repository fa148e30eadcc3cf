#!/usr/bin/env bash
# Stops the control plane that start.sh runs from DIR. Stopping one that is
# already gone, or was never started, is not an error. Logs and data stay in
# DIR for post-mortems (the next start.sh replaces them); `env` goes, since
# it would point at nothing.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
# shellcheck source=tests/control-plane/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir=$1
[ -d "$dir" ] || exit 0
stop_all "$dir"
rm -f "$dir/env"
