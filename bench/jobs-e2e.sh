#!/usr/bin/env bash
# jobs-e2e.sh: a job to N connected devices, end to end over MQTT: how long
# from CreateJob until the job is COMPLETED, with every device doing its part
# (notify-next -> start-next -> update SUCCEEDED) as airfleet-sim jobs.
#
#   bench/jobs-e2e.sh [--devices 1000] [--tls-only | --transport tls|plain|both] [--prefix jobdev]
#       [--connect-parallel 200]
#       [--sim-threads 1] [--timeout 300] [--perf DIR] [--airfleet PATH] [--sim PATH] [--keep]
#
# What it does:
#   1. starts a fresh `airfleet serve` on loopback (every port 0, --ready-file,
#      --access-log false, --jobs-tick-ms 50, --mqtt-max-connections raised
#      to fit, a plain-TCP MQTT listener judged by the policy below unless
#      --tls-only) on a data directory under a mktemp directory, with the
#      open-file limit raised as far as the hard limit allows;
#   2. provisions with the AWS CLI one policy (iot:Connect on
#      client/<prefix>-*, iot:Publish and iot:Receive on
#      topic/$aws/things/<prefix>-*/jobs/*, iot:Subscribe on
#      topicfilter/$aws/things/<prefix>-*/jobs/*) and one certificate
#      (create-keys-and-certificate, the policy attached). Every simulated
#      device presents that one certificate: a gateway-style setup, one
#      credential for many things, which AWS IoT allows (the policy, not the
#      certificate, confines each client id to its own thing's jobs topics
#      here only by prefix; per-device certificates would change the TLS
#      handshake cost, not the job path this measures);
#   3. creates N things <prefix>-0 .. <prefix>-(N-1) in one thing group with
#      /usr/bin/python3 and boto3 (16 threads) and prints how long it took;
#   4. for each transport (TLS, then plain TCP unless --tls-only; --transport
#      picks one or both): starts
#      `airfleet-sim jobs` with N devices and waits for its ready line (every
#      device connected and subscribed; connection set-up is reported
#      separately), starts a boto3 poller (DescribeJob every 100 ms), notes
#      the time, runs `aws iot create-job` for the group (SNAPSHOT, no
#      rollout config: no rate cap), and waits until the poller sees
#      COMPLETED and the sim has counted N accepted updates;
#   5. prints one summary JSON line per transport on stdout:
#        devices, transport, provision_s, connect_s,
#        create_to_completed_s         from just before `aws iot create-job`
#                                      starts (its ~0.5 s of Python start-up
#                                      included) until DescribeJob said
#                                      COMPLETED (100 ms polling);
#        cli_return_to_completed_s     the same from the CLI's return;
#        server_created_to_completed_s the job's own createdAt..completedAt;
#        create_to_first_notify_s      before the CLI call .. the first
#                                      notify-next at a device;
#        sim_first_notify_to_last_ack_s, notify_spread_s (first .. last
#        device's first notify-next), notify_to_started p50/p99 ms,
#        notify_to_succeeded p50/p99 ms, counts, broker and sim CPU, ok
#        (every device's update accepted once and the job's
#        numberOfSucceededThings = N).
#      --perf DIR also records `perf record --call-graph dwarf` of the server
#      from CreateJob to COMPLETED into DIR/perf-<transport>.data and writes
#      reports beside it: .txt (call graphs), -flat.txt, -threads.txt.
#
# Every process the script starts is stopped when it exits (trap), and the
# temporary directory removed unless --keep.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
devices=1000
transports="tls plain"
prefix=jobdev
connect_parallel=200
sim_threads=1
timeout=300
perf_dir=""
airfleet="$repo/build/release/bin/airfleet"
sim=""
aws=${AWS:-/usr/bin/aws}
python=/usr/bin/python3
keep=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --devices) devices=$2; shift 2 ;;
    --tls-only) transports=tls; shift ;;
    --transport)
      case "$2" in tls|plain) transports=$2 ;; both) transports="tls plain" ;;
        *) echo "--transport takes tls, plain or both" >&2; exit 2 ;; esac
      shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --connect-parallel) connect_parallel=$2; shift 2 ;;
    --sim-threads) sim_threads=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --perf) perf_dir=$2; shift 2 ;;
    --airfleet) airfleet=$2; shift 2 ;;
    --sim) sim=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done

[[ $devices =~ ^[1-9][0-9]*$ ]] || { echo "--devices takes a positive number" >&2; exit 2; }
[[ $prefix =~ ^[A-Za-z0-9_-]+$ ]] || { echo "--prefix takes [A-Za-z0-9_-]" >&2; exit 2; }
if [[ -z $sim ]]; then
  for candidate in "$repo"/build/{release,sim,dev}/bin/airfleet-sim; do
    if [[ -x $candidate ]]; then sim=$candidate; break; fi
  done
fi
[[ -n $sim && -x $sim ]] || { echo "airfleet-sim not found; build it or pass --sim" >&2; exit 2; }
[[ -x $airfleet ]] || { echo "$airfleet not found; build it or pass --airfleet" >&2; exit 2; }
for tool in jq "$aws" "$python"; do
  command -v "$tool" >/dev/null || { echo "this script needs $tool" >&2; exit 2; }
done
"$python" -c 'import boto3' 2>/dev/null || { echo "$python has no boto3 (apt-get install python3-boto3)" >&2; exit 2; }
if [[ -n $perf_dir ]]; then
  command -v perf >/dev/null || { echo "--perf needs perf" >&2; exit 2; }
  mkdir -p "$perf_dir"
fi

# Both the server and the sim hold one descriptor per connection.
bench_need_files $(( devices + 200 )) "$devices devices"

bench_start jobs-e2e
elapsed() { jq -n --argjson a "$1" --argjson b "$2" '$b - $a | . * 1000 | round / 1000'; }

# --- The server ---
policy=$prefix-policy
group=$prefix-group
ready_file=$tmp/airfleet-ready.json
plain_flags=()
[[ $transports == *plain* ]] && plain_flags=(--mqtt-plain 127.0.0.1:0 --mqtt-plain-policy "$policy")
"$airfleet" serve --data-dir "$tmp/data" --http-listen 127.0.0.1:0 --https-listen 127.0.0.1:0 \
  --mqtt-listen 127.0.0.1:0 "${plain_flags[@]}" --ready-file "$ready_file" --access-log false --log-level warn \
  --mqtt-max-connections $((devices + 1000)) --jobs-tick-ms 50 >"$tmp/airfleet.log" 2>&1 &
server_pid=$!
started_pids+=("$server_pid")
for _ in $(seq 300); do
  [[ -s $ready_file ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -s $ready_file ]]; then
  tail -20 "$tmp/airfleet.log" >&2
  echo "airfleet did not start (log above)" >&2
  exit 1
fi
server_pid=$(jq -r ".pid // $server_pid" "$ready_file")
endpoint=$(jq -r .http_endpoint "$ready_file")
region=$(jq -r .region "$ready_file")
account=$(jq -r .account_id "$ready_file")
AWS_SHARED_CREDENTIALS_FILE=$(jq -r .credentials_file "$ready_file")
export AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE=/dev/null AWS_REGION=$region AWS_DEFAULT_REGION=$region AWS_PAGER=""
log "airfleet pid $server_pid: HTTP $endpoint, MQTT/TLS :$(jq -r .mqtt_port "$ready_file")," \
  "plain :$(jq -r '.mqtt_plain_port // "-"' "$ready_file"); open files $(ulimit -n)"

aws_iot() { "$aws" --endpoint-url "$endpoint" --output json iot "$@"; }

# --- Policy and the one certificate every device presents ---
arn=arn:aws:iot:$region:$account
policy_document=$(jq -cn --arg arn "$arn" --arg p "$prefix" '{Version: "2012-10-17", Statement: [
  {Effect: "Allow", Action: "iot:Connect", Resource: "\($arn):client/\($p)-*"},
  {Effect: "Allow", Action: ["iot:Publish", "iot:Receive"], Resource: "\($arn):topic/$aws/things/\($p)-*/jobs/*"},
  {Effect: "Allow", Action: "iot:Subscribe", Resource: "\($arn):topicfilter/$aws/things/\($p)-*/jobs/*"}]}')
aws_iot create-policy --policy-name "$policy" --policy-document "$policy_document" >/dev/null
aws_iot create-keys-and-certificate --set-as-active --certificate-pem-outfile "$tmp/device.pem" \
  --private-key-outfile "$tmp/device.key" >"$tmp/device.json"
aws_iot attach-policy --policy-name "$policy" --target "$(jq -r .certificateArn "$tmp/device.json")"

# --- Things, in one group ---
cat >"$tmp/provision.py" <<'EOF'
# Creates things PREFIX-0..N-1 and one thing group holding them, 16 at a time.
import concurrent.futures, json, sys, time
import boto3, botocore.config

endpoint, prefix, count, group, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
iot = boto3.session.Session().client("iot", endpoint_url=endpoint, config=botocore.config.Config(
    max_pool_connections=threads * 2, retries={"max_attempts": 5, "mode": "standard"}))
started = time.monotonic()
iot.create_thing_group(thingGroupName=group)

def one(i):
    name = f"{prefix}-{i}"
    iot.create_thing(thingName=name)
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)

with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    for future in concurrent.futures.as_completed([pool.submit(one, i) for i in range(count)]):
        future.result()
seconds = time.monotonic() - started
print(json.dumps({"things": count, "api_calls": 2 * count + 1, "provision_s": round(seconds, 3),
                  "calls_per_s": round((2 * count + 1) / seconds)}))
EOF
log "creating $devices things in group $group"
provision=$("$python" "$tmp/provision.py" "$endpoint" "$prefix" "$devices" "$group" 16)
log "provisioned: $provision"
provision_s=$(jq .provision_s <<<"$provision")

# --- The DescribeJob poller ---
cat >"$tmp/poll.py" <<'EOF'
# Polls DescribeJob every 100 ms until the job is COMPLETED (or another
# final status, or the deadline); ResourceNotFound until it exists. Prints
# "polling" once boto3 is loaded, then one JSON line.
import json, sys, time
import boto3, botocore.config

endpoint, job_id, deadline = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
iot = boto3.session.Session().client("iot", endpoint_url=endpoint,
                                     config=botocore.config.Config(retries={"max_attempts": 1}))
print("polling", flush=True)
polls, job = 0, None
while time.monotonic() < deadline:
    polls += 1
    try:
        job = iot.describe_job(jobId=job_id)["job"]
    except iot.exceptions.ResourceNotFoundException:
        job = None
    if job and job["status"] in ("COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"):
        break
    time.sleep(0.1)
seen = time.time()
out = {"seen_epoch": seen, "polls": polls, "status": job["status"] if job else None}
if job:
    out["created_at"] = job["createdAt"].timestamp()
    if "completedAt" in job:
        out["completed_at"] = job["completedAt"].timestamp()
    out["process"] = job.get("jobProcessDetails", {})
print(json.dumps(out), flush=True)
EOF

# One transport's run; its summary line goes to $tmp/summary-<transport>.json.
# (Not in a subshell: the processes it starts must reach started_pids.)
run_transport() {  # tls|plain
  local transport=$1 port sim_out=$tmp/sim-$1.out sim_log=$tmp/sim-$1.log job_id=$prefix-$1-$RANDOM
  local target_flags=()
  if [[ $transport == tls ]]; then
    port=$(jq -r .mqtt_port "$ready_file")
    target_flags=(--transport tls --ca "$(jq -r .root_ca "$ready_file")"
      --cert "$tmp/device.pem" --key "$tmp/device.key")
  else
    port=$(jq -r .mqtt_plain_port "$ready_file")
  fi
  log "$transport: connecting $devices devices"
  "$sim" --log-level info jobs "${target_flags[@]}" --port "$port" --connections "$devices" --client-prefix "$prefix" \
    --source-addresses 127.0.0.0/8 --connect-parallel "$connect_parallel" --threads "$sim_threads" \
    --timeout "$timeout" --broker-pid "$server_pid" >"$sim_out" 2>"$sim_log" &
  local sim_pid=$!
  started_pids+=("$sim_pid")
  until grep -q '"phase":"ready"' "$sim_out" 2>/dev/null; do
    if ! kill -0 "$sim_pid" 2>/dev/null; then
      tail -5 "$sim_log" >&2
      echo "airfleet-sim ended before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  local ready
  ready=$(grep '"phase":"ready"' "$sim_out")
  log "$transport: ready: $ready"
  if [[ $(jq .ok <<<"$ready") != true ]]; then
    echo "not every device connected" >&2
    return 1
  fi

  "$python" "$tmp/poll.py" "$endpoint" "$job_id" "$timeout" >"$tmp/poll-$transport.out" 2>"$tmp/poll-$transport.log" &
  local poll_pid=$!
  started_pids+=("$poll_pid")
  until grep -q polling "$tmp/poll-$transport.out" 2>/dev/null; do
    kill -0 "$poll_pid" 2>/dev/null || { cat "$tmp/poll-$transport.log" >&2; return 1; }
    sleep 0.05
  done
  local perf_pid=""
  if [[ -n $perf_dir ]]; then
    # DWARF unwinding: the release build keeps no frame pointers.
    perf record --call-graph dwarf -F 499 -p "$server_pid" -o "$perf_dir/perf-$transport.data" \
      >"$tmp/perf-$transport.log" 2>&1 &
    perf_pid=$!
    started_pids+=("$perf_pid")
    sleep 0.5  # perf attaches to every thread before the job starts
  fi

  local t_create t_returned
  t_create=$(now)
  aws_iot create-job --job-id "$job_id" --targets "$arn:thinggroup/$group" \
    --document '{"operation":"e2e","firmware":"1.0.1","step":"done"}' >"$tmp/job-$transport.json" ||
    { echo "aws iot create-job failed" >&2; return 1; }
  t_returned=$(now)
  log "$transport: created job $job_id ($(elapsed "$t_create" "$t_returned") s in the CLI); waiting for COMPLETED"
  wait "$poll_pid" || true
  local poll
  poll=$(tail -1 "$tmp/poll-$transport.out")
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  wait "$sim_pid" || true
  local done_line
  done_line=$(grep '"phase":"done"' "$sim_out" || echo '{"ok":false,"first_error":"airfleet-sim printed no result"}')
  log "$transport: poller: $poll"
  log "$transport: sim: $done_line"
  if [[ -n $perf_dir && -s $perf_dir/perf-$transport.data ]]; then
    perf report -i "$perf_dir/perf-$transport.data" --no-children --percent-limit 0.5 --stdio \
      >"$perf_dir/perf-$transport.txt" 2>/dev/null || true
    perf report -i "$perf_dir/perf-$transport.data" --no-children --sort dso,sym --percent-limit 0.3 --stdio -g none \
      >"$perf_dir/perf-$transport-flat.txt" 2>/dev/null || true
    perf report -i "$perf_dir/perf-$transport.data" --no-children --sort tid --stdio -g none \
      >"$perf_dir/perf-$transport-threads.txt" 2>/dev/null || true
    log "$transport: perf report in $perf_dir/perf-$transport.txt"
  fi

  jq -cn --argjson devices "$devices" --arg transport "$transport" --argjson provision_s "$provision_s" \
    --argjson ready "$ready" --argjson poll "$poll" --argjson sim "$done_line" \
    --argjson t_create "$t_create" --argjson t_returned "$t_returned" --arg job "$job_id" '
    def r3: if . == null then null else . * 1000 | round / 1000 end;
    {devices: $devices, transport: $transport, job: $job, provision_s: $provision_s, connect_s: $ready.connect_s,
     connections_per_s: $ready.connections_per_s,
     create_to_completed_s: (if $poll.status == "COMPLETED" then ($poll.seen_epoch - $t_create) | r3 else null end),
     cli_return_to_completed_s:
       (if $poll.status == "COMPLETED" then ($poll.seen_epoch - $t_returned) | r3 else null end),
     create_job_cli_s: ($t_returned - $t_create) | r3,
     server_created_to_completed_s:
       (if $poll.completed_at then ($poll.completed_at - $poll.created_at) | r3 else null end),
     create_to_first_notify_s:
       (if $sim.first_notify_epoch_ms then ($sim.first_notify_epoch_ms / 1000 - $t_create) | r3 else null end),
     server_created_to_first_notify_s: (if $sim.first_notify_epoch_ms and $poll.created_at
       then ($sim.first_notify_epoch_ms / 1000 - $poll.created_at) | r3 else null end),
     sim_first_notify_to_last_ack_s: $sim.first_notify_to_last_accepted_s, notify_spread_s: $sim.notify_spread_s,
     notify_to_started_p50_ms: $sim.notify_to_started_p50_ms, notify_to_started_p99_ms: $sim.notify_to_started_p99_ms,
     notify_to_succeeded_p50_ms: $sim.notify_to_succeeded_p50_ms,
     notify_to_succeeded_p99_ms: $sim.notify_to_succeeded_p99_ms,
     job_status: $poll.status, succeeded_things: $poll.process.numberOfSucceededThings,
     update_accepted: $sim.update_accepted, devices_succeeded_once: $sim.devices_succeeded_once,
     start_next_sent: $sim.start_next_sent, start_next_nothing: $sim.start_next_nothing,
     notify_next_execution: $sim.notify_next_execution, notify_next_stale: $sim.notify_next_stale,
     rejected: (($sim.start_next_rejected // 0) + ($sim.update_rejected // 0)),
     broker_cpu_s: $sim.broker_cpu_s, broker_cpu_s_since_ready: $sim.broker_cpu_s_since_ready,
     sim_cpu_s: $sim.sim_cpu_s,
     first_error: $sim.first_error, first_rejection: $sim.first_rejection,
     ok: ($sim.ok == true and $poll.status == "COMPLETED" and $poll.process.numberOfSucceededThings == $devices
          and $sim.devices_succeeded_once == $devices)}
    | with_entries(select(.value != null))' >"$tmp/summary-$transport.json"
}

status=0
for transport in $transports; do
  if ! run_transport "$transport"; then
    status=1
    continue
  fi
  cat "$tmp/summary-$transport.json"
  [[ $(jq .ok "$tmp/summary-$transport.json") == true ]] || status=1
done
exit $status
