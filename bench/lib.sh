# Sourced by the benchmark scripts: a scratch directory, the processes a
# script starts stopped when it exits (however it exits), and log lines.
#
#   bench_start NAME   makes $tmp (kept at exit when $keep is true) and
#                      installs the traps; append every started PID to
#                      started_pids
#   bench_need_files N WHAT   raises the open-file limit to the hard limit
#                      and exits 2 when N descriptors would not fit
#   usage [STATUS]     prints the script's header comment and exits

bench_cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  if $keep; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}

bench_start() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  started_pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_need_files() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if (( $1 > $(ulimit -n) )); then
    echo "$2 need more open files than this shell may have ($(ulimit -n))" >&2
    exit 2
  fi
}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-0}"; }
