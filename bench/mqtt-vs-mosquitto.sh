#!/usr/bin/env bash
# mqtt-vs-mosquitto.sh: airfleet's MQTT broker and Debian's mosquitto 2.0.11,
# side by side, driven by airfleet-sim on loopback.
#
#   bench/mqtt-vs-mosquitto.sh [--only mosquitto|airfleet] [--runs 3] [--duration 10] [--warmup 2]
#       [--clients 1000] [--payload 1024] [--scenarios "fan-in fan-out pairs"] [--qos "0 1"]
#       [--transport plain|tls] [--connections N] [--sim-threads 1] [--airfleet-threads 1]
#       [--sim PATH] [--airfleet PATH] [--results FILE] [--keep]
#
# Scenarios (each with --clients clients; 1 KiB payloads by default):
#   fan-in   1000 publishers -> 1 subscriber (bench/in/<i>, subscribed as bench/in/+)
#   fan-out  1 publisher -> 1000 subscribers (bench/out)
#   pairs    500 publishers, each to its own subscriber (bench/pair/<i>)
# at QoS 0 and QoS 1, --runs times each, the two brokers taking turns so that
# whatever else the machine does falls on both alike. Prints a table of
# medians: delivered messages per second, the broker's CPU (percent of one
# core, from /proc/PID/stat), and deliveries per second of broker CPU, which
# compares better than msg/s when the broker did not get a whole core. Every
# run's JSON line (airfleet-sim's output plus "broker" and "run") is kept in
# --results (default /tmp/mqtt-vs-mosquitto-DATE.jsonl).
#
# --connections N first opens N idle connections to each freshly started
# broker (airfleet-sim connections) and reports setup rate and memory per
# connection; fresh, because an allocator keeps what earlier runs used.
#
# The brokers:
#   mosquitto  /usr/sbin/mosquitto with a generated config: a plain listener
#              and a TLS listener (require_certificate, a CA made here with
#              openssl, ECDSA P-256), both on 127.0.0.1 and a free port.
#   airfleet   `airfleet serve` on port 0 everywhere; the plain-TCP MQTT
#              listener needs an IoT policy to judge its clients, so the
#              script starts the server once, creates policy "bench" (allow
#              iot:*) with the AWS CLI, and restarts it with --mqtt-plain.
#              For --transport tls it also creates a device certificate
#              (CreateKeysAndCertificate) and attaches the policy to it.
# Until airfleet has a broker (no --mqtt-plain flag) run with --only mosquitto.
#
# Every process the script starts is stopped when it exits (trap), and the
# temporary directory removed unless --keep.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
only=""
runs=3
duration=10
warmup=2
clients=1000
payload=1024
scenarios="fan-in fan-out pairs"
qos_levels="0 1"
transport=plain
connections=0
sim_threads=1
airfleet_threads=1
sim=""
airfleet="$repo/build/release/bin/airfleet"
aws=${AWS:-/usr/bin/aws}
results=""
keep=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --qos) qos_levels=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --sim-threads) sim_threads=$2; shift 2 ;;
    --airfleet-threads) airfleet_threads=$2; shift 2 ;;
    --sim) sim=$2; shift 2 ;;
    --airfleet) airfleet=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done

case "$only" in
  "") brokers="mosquitto airfleet" ;;
  mosquitto|airfleet) brokers=$only ;;
  *) echo "--only takes mosquitto or airfleet" >&2; exit 2 ;;
esac
[[ $transport == plain || $transport == tls ]] || { echo "--transport takes plain or tls" >&2; exit 2; }

if [[ -z $sim ]]; then
  for candidate in "$repo"/build/{release,sim,dev}/bin/airfleet-sim; do
    if [[ -x $candidate ]]; then sim=$candidate; break; fi
  done
fi
if [[ -z $sim || ! -x $sim ]]; then
  echo "airfleet-sim not found; build it (ninja -C build/release airfleet-sim) or pass --sim" >&2
  exit 2
fi
for tool in jq openssl python3 column; do
  command -v "$tool" >/dev/null || { echo "this script needs $tool" >&2; exit 2; }
done
if [[ ! -x /usr/sbin/mosquitto && $only != airfleet ]]; then
  echo "/usr/sbin/mosquitto is missing (apt-get install mosquitto)" >&2
  exit 2
fi

bench_start mqtt-vs-mosquitto
[[ -n $results ]] || results="${TMPDIR:-/tmp}/mqtt-vs-mosquitto-$(date +%Y%m%d-%H%M%S).jsonl"
: >"$results"


free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for_port() {  # port pid
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

stop_pid() {  # pid: SIGTERM, wait for it to go
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

# --- Certificates for mosquitto's TLS listener (and the sim's client side) ---
make_certificates() {
  local d=$tmp/pki
  mkdir -p "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$d/ca.key" -sha256 -days 2 -subj "/CN=mqtt-vs-mosquitto CA" -out "$d/ca.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/server.key" 2>/dev/null
  openssl req -new -key "$d/server.key" -subj "/CN=127.0.0.1" -out "$d/server.csr" 2>/dev/null
  printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
    'keyUsage=digitalSignature' 'extendedKeyUsage=serverAuth' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 -sha256 \
    -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/client.key" 2>/dev/null
  openssl req -new -key "$d/client.key" -subj "/CN=airfleet-sim" -out "$d/client.csr" 2>/dev/null
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature' 'extendedKeyUsage=clientAuth' >"$d/client.ext"
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 -sha256 \
    -extfile "$d/client.ext" -out "$d/client.pem" 2>/dev/null
  # Run as root, mosquitto drops to user "mosquitto" before it reads the key.
  if [[ $(id -u) == 0 ]] && id mosquitto >/dev/null 2>&1; then
    chmod 0755 "$tmp" "$d"
    chown mosquitto "$d/server.key"
  fi
}

# --- mosquitto ---
mosquitto_pid=""
start_mosquitto() {
  local plain_port tls_port conf=$tmp/mosquitto.conf
  plain_port=$(free_port)
  tls_port=$(free_port)
  cat >"$conf" <<EOF
# Generated by mqtt-vs-mosquitto.sh.
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
connection_messages false
sys_interval 0
# airfleet-sim bounds what is on its way itself (--inflight per publisher,
# --window end to end), so the broker's own per-client limits only need to
# stay out of the way. max_inflight_messages 0 is "no limit": with a finite
# limit and thousands of messages queued for one client (fan-in), mosquitto
# 2.0.11 was seen to leave the queue unsent until further messages for that
# client arrived, which stalls any closed-loop load generator.
max_inflight_messages 0
max_queued_messages 100000
# Nagle off, as airfleet and the sim have it: latency figures then compare.
set_tcp_nodelay true

listener $plain_port 127.0.0.1

listener $tls_port 127.0.0.1
cafile $tmp/pki/ca.pem
certfile $tmp/pki/server.pem
keyfile $tmp/pki/server.key
require_certificate true
EOF
  /usr/sbin/mosquitto -c "$conf" >"$tmp/mosquitto.log" 2>&1 &
  mosquitto_pid=$!
  started_pids+=("$mosquitto_pid")
  if ! wait_for_port "$plain_port" "$mosquitto_pid" || ! wait_for_port "$tls_port" "$mosquitto_pid"; then
    cat "$tmp/mosquitto.log" >&2
    echo "mosquitto did not start" >&2
    exit 1
  fi
  mosquitto_plain_port=$plain_port
  mosquitto_tls_port=$tls_port
  local version
  version=$(/usr/sbin/mosquitto -h 2>/dev/null | head -1 | awk '{print $3}' || true)  # -h exits 3
  log "mosquitto $version pid $mosquitto_pid on 127.0.0.1:$plain_port (plain) and :$tls_port (TLS)"
}

# --- airfleet ---
airfleet_pid=""
airfleet_ready=$tmp/airfleet-ready.json
run_airfleet() {  # extra serve flags...
  rm -f "$airfleet_ready"
  "$airfleet" serve --data-dir "$tmp/airfleet-data" --http-listen 127.0.0.1:0 --https-listen 127.0.0.1:0 \
    --mqtt-listen 127.0.0.1:0 --ready-file "$airfleet_ready" --access-log false --log-level warn "$@" \
    >>"$tmp/airfleet.log" 2>&1 &
  airfleet_pid=$!
  started_pids+=("$airfleet_pid")
  for _ in $(seq 300); do
    [[ -s $airfleet_ready ]] && return 0
    kill -0 "$airfleet_pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$tmp/airfleet.log" >&2
  echo "airfleet did not start (log above)" >&2
  exit 1
}

airfleet_aws() {
  AWS_SHARED_CREDENTIALS_FILE=$(jq -r .credentials_file "$airfleet_ready") AWS_REGION=us-east-1 \
    AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" \
    "$aws" --endpoint-url "$(jq -r .http_endpoint "$airfleet_ready")" "$@"
}

start_airfleet() {
  [[ -x $airfleet ]] || { echo "$airfleet not found; build it or pass --airfleet" >&2; exit 2; }
  if ! "$airfleet" serve --help 2>/dev/null | grep -q -- '--mqtt-plain '; then
    echo "this airfleet has no MQTT broker yet (no --mqtt-plain flag); run with --only mosquitto" >&2
    exit 2
  fi
  # First start: create the policy the plain listener judges clients by.
  run_airfleet
  local allow_all='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'
  airfleet_aws iot create-policy --policy-name bench --policy-document "$allow_all" >/dev/null
  if [[ $transport == tls ]]; then
    airfleet_aws iot create-keys-and-certificate --set-as-active \
      --certificate-pem-outfile "$tmp/pki/airfleet-device.pem" \
      --private-key-outfile "$tmp/pki/airfleet-device.key" >"$tmp/airfleet-device.json"
    airfleet_aws iot attach-policy --policy-name bench \
      --target "$(jq -r .certificateArn "$tmp/airfleet-device.json")"
  fi
  stop_pid "$airfleet_pid"
  # Second start: with the plain listener, and per-client limits as far out
  # of the way as mosquitto's (see its config above): the sim keeps 16
  # messages per publisher on their way, 16,000 for fan-in's one subscriber,
  # more than the defaults (100 in flight, 1,000 queued) hold, and a broker
  # drops what does not fit.
  run_airfleet --mqtt-plain 127.0.0.1:0 --mqtt-plain-policy bench --threads "$airfleet_threads" \
    --mqtt-max-inflight 1000 --mqtt-max-queued-messages 100000
  airfleet_plain_port=$(jq -r '.mqtt_plain_port // empty' "$airfleet_ready")
  airfleet_tls_port=$(jq -r '.mqtt_port // empty' "$airfleet_ready")
  airfleet_pid=$(jq -r ".pid // $airfleet_pid" "$airfleet_ready")
  if [[ -z $airfleet_plain_port || ( $transport == tls && -z $airfleet_tls_port ) ]]; then
    echo "airfleet's ready file names no MQTT port ($(cat "$airfleet_ready")); run with --only mosquitto" >&2
    exit 2
  fi
  log "airfleet pid $airfleet_pid: MQTT on 127.0.0.1:$airfleet_plain_port (plain) and :$airfleet_tls_port (TLS)"
}

# The sim's flags that reach a broker: host, port, TLS material, its pid.
target_flags() {  # broker
  case "$1/$transport" in
    mosquitto/plain) echo "--port $mosquitto_plain_port --broker-pid $mosquitto_pid" ;;
    mosquitto/tls)
      echo "--port $mosquitto_tls_port --tls --ca $tmp/pki/ca.pem --cert $tmp/pki/client.pem" \
        "--key $tmp/pki/client.key --broker-pid $mosquitto_pid" ;;
    airfleet/plain) echo "--port $airfleet_plain_port --broker-pid $airfleet_pid" ;;
    airfleet/tls)
      echo "--port $airfleet_tls_port --tls --ca $(jq -r .root_ca "$airfleet_ready")" \
        "--cert $tmp/pki/airfleet-device.pem --key $tmp/pki/airfleet-device.key --broker-pid $airfleet_pid" ;;
  esac
}

record() {  # broker run json-line: adds broker and run, appends to the results
  local line=$3
  [[ -n $line ]] || line='{"ok":false,"first_error":"airfleet-sim printed nothing"}'
  jq -c --arg broker "$1" --argjson run "$2" --arg transport "$transport" \
    '. + {broker: $broker, run: $run, transport: $transport}' <<<"$line" >>"$results"
}

# --- Run ---
make_certificates
for broker in $brokers; do
  case $broker in
    mosquitto) start_mosquitto ;;
    airfleet) start_airfleet ;;
  esac
done

if [[ $connections -gt 0 ]]; then
  for broker in $brokers; do
    log "$broker: $connections idle $transport connections"
    # shellcheck disable=SC2046
    line=$("$sim" --log-level warn connections $(target_flags "$broker") --count "$connections" \
      --source-addresses 127.0.0.0/8 --hold 5 --client-prefix "conn-$broker" || true)
    echo "$line" | jq -c --arg broker "$broker" '{broker: $broker} + .' >&2 || true
    record "$broker" 0 "$line"
  done
fi

scenario_flags() {  # scenario
  case "$1" in
    fan-in) echo "--scenario fan-in --publishers $clients" ;;
    fan-out) echo "--scenario fan-out --subscribers $clients" ;;
    pairs) echo "--scenario pairs --pairs $((clients / 2))" ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

for run in $(seq "$runs"); do
  for scenario in $scenarios; do
    for qos in $qos_levels; do
      for broker in $brokers; do
        # shellcheck disable=SC2046
        line=$("$sim" --log-level warn bench $(target_flags "$broker") $(scenario_flags "$scenario") --qos "$qos" \
          --payload "$payload" --duration "$duration" --warmup "$warmup" --threads "$sim_threads" \
          --source-addresses 127.0.0.0/8 --client-prefix "$broker-$run" --topic-prefix "bench-$run" || true)
        record "$broker" "$run" "$line"
        summary=$(jq -r '"\(.delivered_per_s // "-") msg/s, broker CPU \(.broker_cpu_percent // "-")%,"
          + " lost \(.lost // "-"), ok \(.ok)"' <<<"$line" 2>/dev/null || echo "no result")
        log "run $run/$runs $scenario qos$qos $broker: $summary"
        sleep 1
      done
    done
  done
done

echo
echo "Medians of $runs runs; $transport; ${payload}-byte payloads; $clients clients per scenario;" \
  "$(nproc) CPUs; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
jq -s -r '
  def median: map(select(. != null)) | sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def shown: if . == null then "-" elif type == "number" then (. * 10 | round / 10 | tostring) else tostring end;
  map(select(.scenario != null))
  | group_by([.scenario, .qos, .broker])
  | (["scenario", "qos", "broker", "runs", "msg/s", "broker CPU %", "msg per broker CPU s", "p50 ms", "p99 ms",
      "lost (max)", "failed runs"] | @tsv),
    (.[] | [.[0].scenario, (.[0].qos | tostring), .[0].broker, (length | tostring),
            (map(.delivered_per_s) | median | if . == null then "-" else round | tostring end),
            (map(.broker_cpu_percent) | median | shown),
            (map(.delivered_per_broker_cpu_s) | median | if . == null then "-" else round | tostring end),
            (map(.latency_p50_ms) | median | shown),
            (map(.latency_p99_ms) | median | shown),
            (map(.lost) | max | shown),
            (map(select(.ok != true)) | length | tostring)] | @tsv)
' "$results" | column -t -s $'\t'

if [[ $connections -gt 0 ]]; then
  echo
  jq -r 'select(.count != null)
    | "\(.broker): \(.connected)/\(.count) \(if .tls then "TLS" else "plain" end) connections,"
      + " \(.connections_per_s) conn/s, broker RSS \(.broker_rss_bytes_per_connection // "-") B/conn,"
      + " kernel slab \(.slab_bytes_per_connection_both_ends // "-") B/conn (both ends"
      + (if .kernel_figures_undisturbed then "" else ", disturbed by other processes" end) + ")"' "$results"
fi
echo
echo "Every run: $results"
