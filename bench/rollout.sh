#!/usr/bin/env bash
# rollout.sh: the headline figure. A firmware job with no rate cap to N
# devices that are already connected over MQTT/TLS, each with its own
# certificate: how long from CreateJob until the job is COMPLETED, with and
# without each device downloading the image through its presigned link.
#
#   bench/rollout.sh [--devices "1000 5000 15000"] [--firmware-sizes "0 65536"] [--runs 1]
#       [--download-parallel 64] [--airfleet PATH] [--sim PATH] [--keep]
#
# For every (devices, firmware size) and run:
#   1. a fresh `airfleet serve` (release build) on loopback, every port 0,
#      --access-log false, --log-level warn, --mqtt-max-connections raised to
#      fit, the open-file limit raised to the hard limit;
#   2. `airfleet-sim rollout --devices N [--firmware-size S]`: provisions N
#      things with certificates through the API, uploads the image, connects
#      every device over MQTT/TLS (spread over 127.0.0.0/8), creates the job
#      (SNAPSHOT, the recipe's firmwareUpdate document, no rollout config)
#      and polls DescribeJob every 100 ms until it is COMPLETED;
#   3. one JSON line on stdout: devices, firmware_bytes, run, seconds
#      (CreateJob sent .. COMPLETED seen), server_seconds (the job's
#      createdAt .. completedAt), provision_s, connect_s, notify-next ..
#      start-next accepted p50/p99, notify-next .. outcome accepted p50/p99,
#      server CPU seconds during the job, server peak RSS (VmHWM, whole
#      run), sim CPU seconds, succeeded, ok.
#
# Server and simulator share this machine's 2 cores. Every process the
# script starts is stopped when it exits, and the scratch directory removed
# unless --keep.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
device_counts="1000 5000 15000"
firmware_sizes="0 65536"
runs=1
download_parallel=64
airfleet="$repo/build/release/bin/airfleet"
sim="$repo/build/release/bin/airfleet-sim"
keep=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --devices) device_counts=$2; shift 2 ;;
    --firmware-sizes) firmware_sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --download-parallel) download_parallel=$2; shift 2 ;;
    --airfleet) airfleet=$2; shift 2 ;;
    --sim) sim=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done
for n in $device_counts $firmware_sizes $runs; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "counts and sizes are whole numbers, not '$n'" >&2; exit 2; }
done
[[ -x $airfleet ]] || { echo "$airfleet not found; build it (cmake --preset release) or pass --airfleet" >&2; exit 2; }
[[ -x $sim ]] || { echo "$sim not found; build it or pass --sim" >&2; exit 2; }
command -v jq >/dev/null || { echo "this script needs jq" >&2; exit 2; }

largest=0
for n in $device_counts; do (( n > largest )) && largest=$n; done
bench_need_files $(( largest + download_parallel + 200 )) "$largest devices"
bench_start rollout

one_run() {  # devices firmware_size run
  local devices=$1 size=$2 run=$3 dir="$tmp/run-$1-$2-$3"
  mkdir -p "$dir"
  "$airfleet" serve --data-dir "$dir/data" --http-listen 127.0.0.1:0 --https-listen 127.0.0.1:0 \
    --mqtt-listen 127.0.0.1:0 --ready-file "$dir/ready.json" --access-log false --log-level warn \
    --mqtt-max-connections $(( devices + 1000 )) >"$dir/airfleet.log" 2>&1 &
  local server_pid=$!
  started_pids+=("$server_pid")
  for _ in $(seq 300); do
    [[ -s $dir/ready.json ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -s $dir/ready.json ]]; then
    tail -20 "$dir/airfleet.log" >&2
    echo "airfleet did not start (log above)" >&2
    return 1
  fi
  local ready=$dir/ready.json
  log "devices $devices, firmware $size bytes, run $run: server pid $server_pid"
  local size_flags=()
  (( size > 0 )) && size_flags=(--firmware-size "$size")
  local line
  line=$("$sim" rollout --endpoint "$(jq -r .http_endpoint "$ready")" --credentials "$(jq -r .credentials_file "$ready")" \
    --ca "$(jq -r .root_ca "$ready")" --mqtt "127.0.0.1:$(jq -r .mqtt_port "$ready")" --devices "$devices" \
    "${size_flags[@]}" --download-parallel "$download_parallel" --source-addresses 127.0.0.0/8 \
    --server-pid "$server_pid" --progress lines --timeout 600 2>"$dir/sim.log" || true)
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  if [[ -z $line ]]; then
    tail -20 "$dir/sim.log" >&2
    echo "airfleet-sim printed no result (log above)" >&2
    return 1
  fi
  jq -c --argjson run "$run" --argjson size "$size" '{devices, firmware_bytes: $size, run: $run, status, seconds,
      server_seconds, provision_s, connect_s, p50_notify_to_start_ms, p99_notify_to_start_ms,
      p50_notify_to_outcome_ms, p99_notify_to_outcome_ms, server_cpu_s, server_peak_rss_kib, sim_cpu_s,
      succeeded, downloads, error, ok} | with_entries(select(.value != null))' <<<"$line"
}

status=0
for devices in $device_counts; do
  for size in $firmware_sizes; do
    for run in $(seq "$runs"); do
      out=$(one_run "$devices" "$size" "$run") || { status=1; continue; }
      echo "$out"
      [[ $(jq .ok <<<"$out") == true ]] || status=1
    done
  done
done
exit $status
