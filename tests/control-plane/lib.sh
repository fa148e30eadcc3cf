# Helpers shared by start.sh and stop.sh. Sourced, not run.

# The processes we run, in the order they start. stop.sh goes backwards.
COMPONENTS=(etcd kube-apiserver)

say() { echo "control-plane: $*" >&2; }

# Prints the pid recorded for a component when that pid is still the
# component: a pid file left behind by a crash may name a recycled pid that
# now belongs to something else.
live_pid() {
  local dir=$1 name=$2 pid
  pid=$(cat "$dir/$name.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  echo "$pid"
}

# True while the process exists and is not a zombie waiting to be reaped.
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Waits up to $2 tenths of a second for a process to end.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    running "$1" || return 0
    sleep 0.1
  done
  ! running "$1"
}

# TERM first so etcd and the apiserver shut down cleanly; KILL after a grace
# period so a wedged process cannot hold the ports.
stop_component() {
  local dir=$1 name=$2 pid
  if pid=$(live_pid "$dir" "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 50; then
      say "$name (pid $pid) did not stop on TERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 20 || say "$name (pid $pid) is still there after KILL"
    fi
  fi
  rm -f "$dir/$name.pid"
}

# The apiserver goes first: it would only log etcd errors while etcd stops.
stop_all() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_component "$1" "${COMPONENTS[i]}"
  done
}
