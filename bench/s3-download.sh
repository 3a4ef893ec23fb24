#!/usr/bin/env bash
# s3-download.sh: a fleet downloads the same firmware image at once. Aggregate
# GET throughput of airfleet's S3 API (an unencrypted and an SSE-S3 encrypted
# object) against nginx serving the same file with sendfile, in one run, and
# the server's memory while it happens; then the upload throughput of a 1 GiB
# multipart object.
#
#   bench/s3-download.sh [--connections 1000] [--duration 15] [--rounds 3] [--warmup 2]
#       [--range-fraction 0.5] [--object-mib 16] [--window-mib 1] [--wrk-threads 2]
#       [--upload-mib 1024] [--upload-buckets "plain enc" | none]
#       [--nice N] [--reread] [--perf DIR] [--airfleet PATH] [--keep]
#
# What it does:
#   1. starts a fresh `airfleet serve` on loopback (every port 0, --ready-file,
#      --access-log false, I/O threads one per core) on a data directory under
#      a mktemp directory, with the open-file limit raised to the hard limit;
#   2. with /usr/bin/aws and the server's admin credentials: creates bucket
#      `plain` (no encryption) and bucket `enc` (default encryption AES256),
#      puts the same random 16 MiB object `fw.bin` into each, and presigns a
#      GET URL for each (SigV4 query authentication, 1 hour), so the load tool
#      signs nothing;
#   3. starts Debian's nginx in the foreground (as `nobody` when run as root)
#      with its own config on a free loopback port: sendfile on, tcp_nopush on
#      (Debian's defaults), no access log, one worker per core (airfleet runs
#      one I/O thread per core), listen backlog 4096, serving a copy of the
#      same file from a temp directory;
#   4. checks that a whole and a ranged GET from each of the three return the
#      right bytes, warms each up, then runs rounds: in each, for nginx,
#      airfleet plain and airfleet encrypted in turn (the order reversed every
#      other round, so what else the machine does falls on all three alike),
#      `wrk` with 1,000 keep-alive connections, each always with a download in
#      flight, for 15 s. Each request is a whole-object GET, or (with
#      probability --range-fraction) a GET with `Range: bytes=<a>-<a+1MiB-1>`
#      at a random offset. Meanwhile every 0.25 s it samples the server's
#      VmRSS and VmHWM (/proc/<pid>/status; VmHWM reset via clear_refs before
#      each phase; nginx: master plus workers summed) and the kernel's TCP
#      buffer memory (/proc/net/sockstat);
#   5. uploads a random 1 GiB file with `aws s3 cp` (8 MiB parts, 10 at a
#      time: the CLI's defaults, so 128 parts) to each of --upload-buckets,
#      timing it and sampling the server's memory the same way;
#   6. prints one JSON line on stdout with every number. Per target: GB/s
#      (10^9 bytes of HTTP received by wrk per second, in-flight bodies
#      included) as the median round and min/max, requests, the ranged share,
#      errors, latency p50/p99 (the whole and ranged mix), CPU cores used by
#      the server, by wrk, in softirq (loopback TCP), by the whole machine
#      (nice excluded), by niced processes and by any other process (someone
#      else's build or tests on a shared machine; the three busiest named), server
#      RSS (idle before any load, at the first sample, the maximum, the last
#      sample, and at the end) and VmHWM, kernel TCP memory peak, and each
#      round's figures. ratio_plain and ratio_encrypted: airfleet/nginx, the
#      median of the rounds' ratios. Per upload: MB/s (10^6 bytes/s), the
#      server's VmHWM (and how far it rose above the RSS the downloads left)
#      and CPU, the CLI's CPU.
#
#   --reread drops the page cache of airfleet's blobs and nginx's copy and
#   reads them back from disk before the load (see the comment at that step):
#   the serving paths compared alone, without the page-cache layout that
#   airfleet's upload left behind.
#   --nice N runs everything the script starts at niceness N (root may go
#   negative), so builds and tests beside it on a shared machine take less
#   from the measurement. --perf DIR records `perf record -g` of the server
#   (nginx: its master and workers) for 10 s in the middle of each target's
#   first round and writes DIR/perf-<nginx|plain|enc>.txt (call graphs) and
#   -flat.txt beside it; perf's own cost falls on that round. --keep keeps the
#   temporary directory: wrk's output and the memory samples (rss hwm tcp
#   time) are there.
#
# The machine's cores are shared: wrk (and the CLI during uploads) runs on the
# same cores as the server, so these numbers are the server's throughput with
# a client beside it, not the server's alone. Every process the script starts
# is stopped when it exits (trap), and the temporary directory removed unless
# --keep.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
connections=1000
duration=15
rounds=3
warmup=2
nice_level=""
reread=false
range_fraction=0.5
object_mib=16
window_mib=1
wrk_threads=2
upload_mib=1024
upload_buckets="plain enc"
perf_dir=""
airfleet="$repo/build/release/bin/airfleet"
aws=${AWS:-/usr/bin/aws}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-/usr/bin/wrk}
keep=false

while [[ $# -gt 0 ]]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --nice) nice_level=$2; shift 2 ;;
    --reread) reread=true; shift ;;
    --warmup) warmup=$2; shift 2 ;;
    --range-fraction) range_fraction=$2; shift 2 ;;
    --object-mib) object_mib=$2; shift 2 ;;
    --window-mib) window_mib=$2; shift 2 ;;
    --wrk-threads) wrk_threads=$2; shift 2 ;;
    --upload-mib) upload_mib=$2; shift 2 ;;
    --upload-buckets) upload_buckets=$2; [[ $upload_buckets == none ]] && upload_buckets=""; shift 2 ;;
    --perf) perf_dir=$2; shift 2 ;;
    --airfleet) airfleet=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option $1" >&2; usage 2 ;;
  esac
done

for n in "$connections" "$duration" "$rounds" "$object_mib" "$window_mib" "$wrk_threads" "$upload_mib"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "counts, sizes and durations are positive integers (got $n)" >&2; exit 2; }
done
[[ $warmup =~ ^[0-9]+$ ]] || { echo "--warmup takes seconds" >&2; exit 2; }
[[ $range_fraction =~ ^(0(\.[0-9]+)?|1(\.0*)?)$ ]] || { echo "--range-fraction takes 0..1" >&2; exit 2; }
(( window_mib <= object_mib )) || { echo "--window-mib must not exceed --object-mib" >&2; exit 2; }
for bucket in $upload_buckets; do
  [[ $bucket == plain || $bucket == enc ]] || { echo "--upload-buckets takes plain, enc or none" >&2; exit 2; }
done
[[ -x $airfleet ]] || { echo "$airfleet not found; build it (cmake --preset release) or pass --airfleet" >&2; exit 2; }
for tool in jq "$aws" "$nginx" "$wrk" curl cmp python3; do
  command -v "$tool" >/dev/null || { echo "this script needs $tool (scripts/install-deps)" >&2; exit 2; }
done
if [[ -n $perf_dir ]]; then
  command -v perf >/dev/null || { echo "--perf needs perf" >&2; exit 2; }
  mkdir -p "$perf_dir"
  perf_dir=$(cd "$perf_dir" && pwd)
fi

if [[ -n $nice_level ]]; then
  [[ $nice_level =~ ^-?[0-9]+$ ]] || { echo "--nice takes a niceness (-20..19)" >&2; exit 2; }
  renice -n "$nice_level" -p $$ >/dev/null || { echo "cannot renice to $nice_level (negative needs root)" >&2; exit 2; }
fi

# The server and wrk each hold one descriptor per connection.
bench_need_files $(( connections + 500 )) "$connections connections"

bench_start s3-download
clock_ticks=$(getconf CLK_TCK)
cores=$(nproc)
object_bytes=$((object_mib * 1024 * 1024))
window_bytes=$((window_mib * 1024 * 1024))

log "this machine has $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')):" \
  "wrk and the AWS CLI run on the same cores as the server they measure"

# --- Measuring helpers ---
# CPU ticks (user + system) of the given processes, and of the whole machine.
proc_ticks() {
  local pid sum=0 stat fields
  for pid in "$@"; do
    stat=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a fields <<<"$stat"  # from field 3 (state): utime is field 14, stime 15
    sum=$((sum + fields[11] + fields[12]))
  done
  echo "$sum"
}
# The machine's CPU ticks: busy (user + system + irq + softirq, nice not
# included), softirq alone (loopback TCP's receive path mostly runs there), and
# niced (other people's background builds on a shared machine, at nice 10).
machine_ticks() { awk '/^cpu /{print $2+$4+$7+$8, $8, $3; exit}' /proc/stat; }
# machine_cores "BEFORE" "AFTER" SECONDS: the three as cores, a JSON object.
machine_cores() {
  local b a
  read -r -a b <<<"$1"
  read -r -a a <<<"$2"
  jq -nc --argjson hz "$clock_ticks" --argjson s "$3" --argjson busy "$((a[0] - b[0]))" \
    --argjson softirq "$((a[1] - b[1]))" --argjson niced "$((a[2] - b[2]))" '
    def cores(t): t / $hz / $s * 100 | round / 100;
    {machine_cpu_cores: cores($busy), softirq_cores: cores($softirq), niced_other_cores: cores($niced)}'
}
# Every process's CPU ticks ("pid comm ticks" lines), to see what else ran.
cpu_snapshot() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{  # processes come and go meanwhile
    lp = index($0, "("); rp = index($0, ") ")
    comm = substr($0, lp + 1, rp - lp - 1); gsub(/[^A-Za-z0-9_.+-]/, "_", comm)
    split(substr($0, rp + 2), f, " ")
    print $1, comm, f[12] + f[13] }'
}
# others_cores BEFORE_FILE AFTER_FILE SECONDS EXCLUDED_PIDS...: JSON with the
# cores used by processes other than those excluded (and other than those that
# ended meanwhile, wrk included), and the three busiest.
others_cores() {
  local before=$1 after=$2 seconds=$3
  shift 3
  awk -v hz="$clock_ticks" -v s="$seconds" -v excluded=" $* $$ $BASHPID " '
    FNR == NR { was[$1] = $3; next }
    index(excluded, " " $1 " ") == 0 { d = $3 - ($1 in was ? was[$1] : 0); if (d > 0) { used[$2] += d; total += d } }
    END {
      n = 0; for (c in used) names[++n] = c
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (used[names[j]] > used[names[i]]) { t = names[i]; names[i] = names[j]; names[j] = t }
      printf "{\"others_cores\":%.2f,\"others_top\":[", total / hz / s
      for (i = 1; i <= n && i <= 3; i++) printf "%s\"%s %.2f\"", (i > 1 ? "," : ""), names[i], used[names[i]] / hz / s
      print "]}" }' "$before" "$after"
}
# nginx is a master and its workers; airfleet is one process.
family() { echo "$1"; pgrep -P "$1" 2>/dev/null || true; }
reset_hwm() { local pid; for pid in $(family "$1"); do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done; }

# Samples every 0.25 s: summed VmRSS and VmHWM (KiB) of the process family,
# the kernel's TCP buffer memory (KiB) from /proc/net/sockstat, the time.
sampler() {
  local root=$1 out=$2 page_kib=$(( $(getconf PAGESIZE) / 1024 ))
  while kill -0 "$root" 2>/dev/null; do
    local rss=0 hwm=0 pid v
    for pid in $(family "$root"); do
      v=$(awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{print r+0, h+0}' "/proc/$pid/status" 2>/dev/null) || continue
      rss=$((rss + ${v% *})); hwm=$((hwm + ${v#* }))
    done
    echo "$rss $hwm $(awk -v p="$page_kib" '/^TCP:/{for(i=1;i<NF;i++) if($i=="mem") print $(i+1)*p}' /proc/net/sockstat) $(date +%s.%N)" >>"$out"
    sleep 0.25
  done
}
# Summed VmRSS (KiB) of the process family now.
rss_now() {
  local pid sum=0 v
  for pid in $(family "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
sampler_pid=""
start_sampler() {
  : >"$2"
  sampler "$1" "$2" &
  sampler_pid=$!
  started_pids+=("$sampler_pid")
}
stop_sampler() {
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
}
# {rss_kib_first, rss_kib_max, rss_kib_last, hwm_kib_max, tcp_mem_kib_max} of a sample file.
memory_summary() {
  awk 'NR==1{first=$1} {if($1>rmax)rmax=$1; if($2>hmax)hmax=$2; if($3>tmax)tmax=$3; last=$1}
       END{printf "{\"rss_kib_first\":%d,\"rss_kib_max\":%d,\"rss_kib_last\":%d,\"hwm_kib_max\":%d,\"tcp_mem_kib_max\":%d,\"samples\":%d}\n",
           first, rmax, last, hmax, tmax, NR}' "$1"
}

# --- The server ---
ready_file=$tmp/airfleet-ready.json
"$airfleet" serve --data-dir "$tmp/data" --http-listen 127.0.0.1:0 --https-listen 127.0.0.1:0 \
  --mqtt-listen 127.0.0.1:0 --ready-file "$ready_file" --access-log false --log-level warn \
  >"$tmp/airfleet.log" 2>&1 &
server_pid=$!
started_pids+=("$server_pid")
for _ in $(seq 300); do
  [[ -s $ready_file ]] && jq -e . "$ready_file" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if ! jq -e . "$ready_file" >/dev/null 2>&1; then
  tail -20 "$tmp/airfleet.log" >&2
  echo "airfleet did not start (log above)" >&2
  exit 1
fi
server_pid=$(jq -r ".pid // $server_pid" "$ready_file")
endpoint=$(jq -r .http_endpoint "$ready_file")
region=$(jq -r .region "$ready_file")
# SigV4 presigned URLs, as AWS hands out everywhere (the CLI would otherwise
# presign us-east-1 with SigV2).
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$tmp/aws-config"
AWS_SHARED_CREDENTIALS_FILE=$(jq -r .credentials_file "$ready_file")
export AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE=$tmp/aws-config AWS_REGION=$region AWS_DEFAULT_REGION=$region \
  AWS_PAGER="" AWS_MAX_ATTEMPTS=1
log "airfleet $airfleet pid $server_pid at $endpoint; open files $(ulimit -n)"
aws_() { "$aws" --endpoint-url "$endpoint" --output json "$@"; }

# --- Buckets, the object, presigned URLs ---
head -c "$object_bytes" /dev/urandom >"$tmp/fw.bin"
aws_ s3api create-bucket --bucket plain >/dev/null
aws_ s3api create-bucket --bucket enc >/dev/null
aws_ s3api put-bucket-encryption --bucket enc --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
declare -A url
for bucket in plain enc; do
  aws_ s3api put-object --bucket "$bucket" --key fw.bin --body "$tmp/fw.bin" >"$tmp/put-$bucket.json"
  url[$bucket]=$(aws_ s3 presign "s3://$bucket/fw.bin" --expires-in 3600)
done
sse=$(aws_ s3api head-object --bucket enc --key fw.bin | jq -r '.ServerSideEncryption // "none"')
[[ $sse == AES256 ]] || { echo "the object in bucket enc is not encrypted (ServerSideEncryption: $sse)" >&2; exit 1; }

# --- nginx ---
nginx_dir=$tmp/nginx
mkdir -p "$nginx_dir/www" "$nginx_dir/temp"
cp "$tmp/fw.bin" "$nginx_dir/www/fw.bin"
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$nginx_dir/nginx.conf" <<EOF
# written by bench/s3-download.sh
daemon off;
worker_processes $cores;
worker_rlimit_nofile $(( connections * 2 + 1000 ));
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections $(( connections * 2 + 100 )); }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path $nginx_dir/temp/body;
  proxy_temp_path $nginx_dir/temp/proxy;
  fastcgi_temp_path $nginx_dir/temp/fastcgi;
  uwsgi_temp_path $nginx_dir/temp/uwsgi;
  scgi_temp_path $nginx_dir/temp/scgi;
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    root $nginx_dir/www;
  }
}
EOF
nginx_cmd=("$nginx" -e "$nginx_dir/error.log" -p "$nginx_dir" -c "$nginx_dir/nginx.conf")
if [[ $(id -u) == 0 ]]; then
  # Unprivileged, as a developer would run it: nobody must reach the files.
  chmod 711 "$tmp"
  chown -R nobody:nogroup "$nginx_dir"
  nginx_cmd=(setpriv --reuid=nobody --regid=nogroup --clear-groups -- "${nginx_cmd[@]}")
fi
"${nginx_cmd[@]}" >"$nginx_dir/stdout.log" 2>&1 &
nginx_pid=$!
started_pids+=("$nginx_pid")
url[nginx]=http://127.0.0.1:$nginx_port/fw.bin
for _ in $(seq 100); do
  curl -sf -o /dev/null -r 0-0 "${url[nginx]}" && break
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.1
done
curl -sf -o /dev/null -r 0-0 "${url[nginx]}" || { cat "$nginx_dir/error.log" >&2; echo "nginx did not start" >&2; exit 1; }
log "nginx $("$nginx" -v 2>&1 | sed 's/.*: //') pid $nginx_pid at 127.0.0.1:$nginx_port ($cores workers, sendfile on)"

# --- Optionally: every served file read back from disk ---
# airfleet writes a blob piece by piece as the upload arrives, and the page
# cache keeps it in folios as small as those writes; `cp` and a read from disk
# (readahead) give large folios, which sendfile walks with less work per byte.
# --reread drops the pages of airfleet's blobs and of nginx's copy and reads
# them back, so both servers serve the same kind of page cache.
if $reread; then
  find "$tmp/data" -type f -size +$((object_bytes / 1024 - 1))k >"$tmp/reread.txt"
  echo "$nginx_dir/www/fw.bin" >>"$tmp/reread.txt"
  python3 - "$tmp/reread.txt" <<'PY'
import os, sys
for path in open(sys.argv[1]).read().split("\n"):
    if not path:
        continue
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)  # only clean pages can be dropped
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    while os.read(fd, 1 << 20):
        pass
    os.close(fd)
PY
  log "dropped and read back from disk: $(wc -l <"$tmp/reread.txt") files (airfleet's blobs, nginx's copy)"
fi

# --- Right bytes first: whole, and one unaligned window ---
check_offset=$(( (object_bytes - window_bytes) / 3 + 12345 ))
(( check_offset + window_bytes <= object_bytes )) || check_offset=0
dd if="$tmp/fw.bin" of="$tmp/window.bin" iflag=skip_bytes,count_bytes skip="$check_offset" count="$window_bytes" status=none
for target in nginx plain enc; do
  curl -sf -o "$tmp/got.bin" "${url[$target]}"
  cmp -s "$tmp/got.bin" "$tmp/fw.bin" || { echo "$target: the whole GET returned other bytes" >&2; exit 1; }
  code=$(curl -sf -o "$tmp/got.bin" -w '%{http_code}' -r "$check_offset-$((check_offset + window_bytes - 1))" "${url[$target]}")
  [[ $code == 206 ]] && cmp -s "$tmp/got.bin" "$tmp/window.bin" ||
    { echo "$target: the ranged GET returned other bytes (HTTP $code)" >&2; exit 1; }
done
rm -f "$tmp/got.bin" "$tmp/window.bin"
log "whole and ranged GETs return the right bytes from nginx, airfleet plain and airfleet encrypted"

# --- The load: wrk with a Lua script for the request mix ---
cat >"$tmp/mix.lua" <<'EOF'
-- A whole-object GET, or with probability `fraction` a GET of a random
-- `window`-byte range; the path (a presigned URL's path and query) comes
-- from the command line. No response() callback: wrk would then buffer bodies.
local threads, next_id = {}, 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  path, size, fraction, window = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  whole, ranged = 0, 0
  math.randomseed(os.time() * 100 + id)
end

function request()
  if math.random() < fraction then
    ranged = ranged + 1
    local first = math.random(0, size - window)
    return wrk.format("GET", path, { Range = string.format("bytes=%d-%d", first, first + window - 1) })
  end
  whole = whole + 1
  return wrk.format("GET", path, {})
end

function done(summary, latency, requests)
  local w, r = 0, 0
  for _, t in ipairs(threads) do
    w = w + t:get("whole")
    r = r + t:get("ranged")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"duration_s":%.3f,"requests":%d,"bytes":%d,"issued_whole":%d,"issued_ranged":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_ms":{"p50":%.1f,"p99":%.1f,"max":%.1f}}\n',
    summary.duration / 1e6, summary.requests, summary.bytes, w, r,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
EOF

# run_wrk NAME SECONDS URL: wrk's RESULT line plus wrk's own CPU, in $tmp/wrk-NAME.json.
run_wrk() {
  local name=$1 seconds=$2 target_url=$3
  local host_port=${target_url#http://}
  local path_query=/${host_port#*/}
  host_port=${host_port%%/*}
  local TIMEFORMAT='%U %S' status=0
  { time "$wrk" -t "$wrk_threads" -c "$connections" -d "${seconds}s" --timeout 60s -s "$tmp/mix.lua" \
      "http://$host_port/" -- "$path_query" "$object_bytes" "$range_fraction" "$window_bytes" \
      >"$tmp/wrk-$name.out" 2>&1 || status=$?; } 2>"$tmp/wrk-$name.time"
  (( status == 0 )) || { cat "$tmp/wrk-$name.out" >&2; echo "wrk failed against $name" >&2; exit 1; }
  local result user system
  result=$(sed -n 's/^RESULT //p' "$tmp/wrk-$name.out")
  [[ -n $result ]] || { cat "$tmp/wrk-$name.out" >&2; echo "wrk printed no result for $name" >&2; exit 1; }
  read -r user system < <(grep -E '^[0-9.]+ [0-9.]+$' "$tmp/wrk-$name.time" | tail -1)
  [[ -n $system ]] || { cat "$tmp/wrk-$name.time" >&2; echo "no CPU time for wrk against $name" >&2; exit 1; }
  jq -c --argjson cpu "$(jq -n --argjson u "$user" --argjson s "$system" '$u + $s')" '. + {wrk_cpu_s: $cpu}' \
    <<<"$result" >"$tmp/wrk-$name.json"
}

declare -A target_pid=([nginx]=$nginx_pid [plain]=$server_pid [enc]=$server_pid)
declare -A rss_idle=([nginx]=$(rss_now "$nginx_pid") [plain]=$(rss_now "$server_pid"))
rss_idle[enc]=${rss_idle[plain]}
for target in nginx plain enc; do
  : >"$tmp/memory-$target.txt"
  if (( warmup > 0 )); then run_wrk "$target-warmup" "$warmup" "${url[$target]}"; fi
done
sleep 1  # let the warm-up's connections close

# measure TARGET ROUND: one load phase, its numbers in $tmp/phase-TARGET-ROUND.json.
measure() {
  local target=$1 round=$2 pid=${target_pid[$1]}
  local server_before machine_before t0 t1 server_after machine_after perf_pid="" result pids
  mapfile -t pids < <(family "$pid")  # nginx: master and workers
  reset_hwm "$pid"
  start_sampler "$pid" "$tmp/memory-$target-$round.txt"
  cpu_snapshot >"$tmp/cpu-before"
  server_before=$(proc_ticks "${pids[@]}"); machine_before=$(machine_ticks); t0=$(now)
  if [[ -n $perf_dir && $round == 1 ]]; then
    ( sleep $(( duration > 14 ? (duration - 10) / 2 : 2 ))
      exec perf record -g -o "$perf_dir/perf-$target.data" -p "$(IFS=,; echo "${pids[*]}")" -- sleep 10
    ) >"$tmp/perf-$target.log" 2>&1 &
    perf_pid=$!
    started_pids+=("$perf_pid")
  fi
  run_wrk "$target-$round" "$duration" "${url[$target]}"
  t1=$(now); server_after=$(proc_ticks "${pids[@]}"); machine_after=$(machine_ticks)
  cpu_snapshot >"$tmp/cpu-after"
  stop_sampler
  cat "$tmp/memory-$target-$round.txt" >>"$tmp/memory-$target.txt"
  if [[ -n $perf_pid ]]; then
    wait "$perf_pid" || true
    perf report -i "$perf_dir/perf-$target.data" --stdio --no-children --percent-limit 0.5 \
      >"$perf_dir/perf-$target.txt" 2>/dev/null || true
    perf report -i "$perf_dir/perf-$target.data" --stdio --no-children --sort dso,sym -g none --percent-limit 0.3 \
      >"$perf_dir/perf-$target-flat.txt" 2>/dev/null || true
    log "perf report in $perf_dir/perf-$target.txt"
  fi
  result=$(jq -c --argjson mem "$(memory_summary "$tmp/memory-$target-$round.txt")" \
    --argjson wall "$(jq -n --argjson a "$t0" --argjson b "$t1" '$b - $a')" \
    --argjson st "$((server_after - server_before))" \
    --argjson machine "$(machine_cores "$machine_before" "$machine_after" "$(jq -n --argjson a "$t0" --argjson b "$t1" '$b - $a')")" \
    --argjson others "$(others_cores "$tmp/cpu-before" "$tmp/cpu-after" "$(jq -n --argjson a "$t0" --argjson b "$t1" '$b - $a')" \
        "${pids[@]}" ${sampler_pid:+"$sampler_pid"} ${perf_pid:+"$perf_pid"})" \
    --argjson hz "$clock_ticks" --argjson round "$round" '
    {round: $round} + . + {gb_per_s: (.bytes / .duration_s / 1e9 * 1000 | round / 1000),
         requests_per_s: (.requests / .duration_s * 10 | round / 10),
         server_cpu_cores: ($st / $hz / $wall * 100 | round / 100),
         wrk_cpu_cores: (.wrk_cpu_s / $wall * 100 | round / 100),
         memory: $mem} + $machine + $others' "$tmp/wrk-$target-$round.json")
  echo "$result" >"$tmp/phase-$target-$round.json"
  log "$target, round $round: $(jq -r '"\(.gb_per_s) GB/s, \(.requests) responses, errors \(.errors | [.[]] | add),
    server \(.server_cpu_cores) cores, wrk \(.wrk_cpu_cores), softirq \(.softirq_cores),
    machine \(.machine_cpu_cores) (+ \(.niced_other_cores) niced), other processes \(.others_cores)
    (\(.others_top | join(", ")));
    RSS \(.memory.rss_kib_first) -> max \(.memory.rss_kib_max) KiB, VmHWM \(.memory.hwm_kib_max) KiB,
    kernel TCP memory max \(.memory.tcp_mem_kib_max) KiB"' <<<"$result" | tr -s ' \n' ' ')"
}

# Rounds alternate the order (nginx plain enc, then enc plain nginx, ...) so
# that whatever else the machine does drifts onto all three alike.
log "$rounds rounds of $connections connections for ${duration}s per target" \
  "($range_fraction of requests ranged, ${window_mib} MiB windows)"
for round in $(seq "$rounds"); do
  order=(nginx plain enc)
  (( round % 2 == 0 )) && order=(enc plain nginx)
  for target in "${order[@]}"; do
    measure "$target" "$round"
    sleep 1  # wrk's connections close
  done
done

# Per target: the median round's GB/s and the range, sums of counts, mean CPU,
# memory over every round; the ratio to nginx is the median of the per-round
# ratios (each round's phases ran minutes apart at most).
results="{}"
for target in nginx plain enc; do
  pid=${target_pid[$target]}
  memory=$(memory_summary "$tmp/memory-$target.txt" |
    jq -c --argjson i "${rss_idle[$target]}" --argjson c "$(rss_now "$pid")" '{rss_kib_idle: $i} + . + {rss_kib_now: $c}')
  result=$(jq -sc --argjson mem "$memory" '
    def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def mean: add / length * 100 | round / 100;
    def r3: . * 1000 | round / 1000;
    {gb_per_s: (map(.gb_per_s) | median | r3), gb_per_s_min: (map(.gb_per_s) | min), gb_per_s_max: (map(.gb_per_s) | max),
     rounds: length, seconds: (map(.duration_s) | add * 10 | round / 10),
     requests: (map(.requests) | add), issued_whole: (map(.issued_whole) | add), issued_ranged: (map(.issued_ranged) | add),
     errors: (map(.errors | to_entries) | add | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
     latency_ms_p50: (map(.latency_ms.p50) | median | r3), latency_ms_p99: (map(.latency_ms.p99) | median | r3),
     server_cpu_cores: (map(.server_cpu_cores) | mean), wrk_cpu_cores: (map(.wrk_cpu_cores) | mean),
     softirq_cores: (map(.softirq_cores) | mean), machine_cpu_cores: (map(.machine_cpu_cores) | mean),
     niced_other_cores: (map(.niced_other_cores) | mean), others_cores: (map(.others_cores) | mean), memory: $mem,
     per_round: map({round, gb_per_s, requests, server_cpu_cores, wrk_cpu_cores, softirq_cores, niced_other_cores,
                     others_cores, others_top, rss_kib_max: .memory.rss_kib_max})}' "$tmp"/phase-"$target"-*.json)
  results=$(jq -c --arg k "$target" --argjson v "$result" '. + {($k): $v}' <<<"$results")
done
ratios=$(jq -c '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def per_round($t): [range(0; .nginx.per_round | length) as $i | .[$t].per_round[$i].gb_per_s / .nginx.per_round[$i].gb_per_s * 1000 | round / 1000];
  {ratio_plain: (per_round("plain") | median * 1000 | round / 1000),
   ratio_encrypted: (per_round("enc") | median * 1000 | round / 1000),
   ratio_plain_rounds: per_round("plain"), ratio_encrypted_rounds: per_round("enc")}' <<<"$results")
log "median GB/s: nginx $(jq .nginx.gb_per_s <<<"$results"), airfleet plain $(jq .plain.gb_per_s <<<"$results")," \
  "encrypted $(jq .enc.gb_per_s <<<"$results"); airfleet/nginx plain $(jq .ratio_plain <<<"$ratios")," \
  "encrypted $(jq .ratio_encrypted <<<"$ratios") (median of the rounds' ratios)"
log "airfleet RSS: idle ${rss_idle[plain]} KiB, max $(jq .plain.memory.rss_kib_max <<<"$results") (plain)" \
  "/ $(jq .enc.memory.rss_kib_max <<<"$results") (encrypted) KiB, now $(jq .enc.memory.rss_kib_now <<<"$results") KiB;" \
  "nginx max $(jq .nginx.memory.rss_kib_max <<<"$results") KiB"

# --- Upload: 1 GiB through the CLI's multipart upload ---
uploads="{}"
if [[ -n $upload_buckets ]]; then
  head -c $((upload_mib * 1024 * 1024)) /dev/urandom >"$tmp/big.bin"
  upload_bytes=$(stat -c %s "$tmp/big.bin")
  for bucket in $upload_buckets; do
    sync
    reset_hwm "$server_pid"
    start_sampler "$server_pid" "$tmp/memory-upload-$bucket.txt"
    server_before=$(proc_ticks "$server_pid"); machine_before=$(machine_ticks); t0=$(now)
    TIMEFORMAT='%U %S'
    { time aws_ s3 cp --only-show-errors "$tmp/big.bin" "s3://$bucket/big.bin"; } 2>"$tmp/cp-$bucket.time"
    read -r cli_user cli_system < <(grep -E '^[0-9.]+ [0-9.]+$' "$tmp/cp-$bucket.time" | tail -1)
    t1=$(now); server_after=$(proc_ticks "$server_pid"); machine_after=$(machine_ticks)
    stop_sampler
    etag=$(aws_ s3api head-object --bucket "$bucket" --key big.bin | jq -r .ETag)
    [[ $etag == *-* ]] || { echo "the 1 GiB upload to $bucket was not multipart (ETag $etag)" >&2; exit 1; }
    result=$(jq -nc --argjson bytes "$upload_bytes" --argjson a "$t0" --argjson b "$t1" --arg etag "$etag" \
      --argjson st "$((server_after - server_before))" \
      --argjson machine "$(machine_cores "$machine_before" "$machine_after" "$(jq -n --argjson a "$t0" --argjson b "$t1" '$b - $a')")" \
      --argjson hz "$clock_ticks" --argjson mem "$(memory_summary "$tmp/memory-upload-$bucket.txt")" \
      --argjson cli "$(jq -n --argjson u "$cli_user" --argjson s "$cli_system" '$u + $s')" '
      ($b - $a) as $s | {bytes: $bytes, seconds: ($s * 1000 | round / 1000),
        mb_per_s: ($bytes / $s / 1e6 | round), parts: ($etag | split("-")[1] | rtrimstr("\"") | tonumber),
        server_cpu_cores: ($st / $hz / $s * 100 | round / 100),
        cli_cpu_cores: ($cli / $s * 100 | round / 100),
        memory: ($mem + {hwm_growth_kib: ($mem.hwm_kib_max - $mem.rss_kib_first)})} + $machine')
    log "upload to $bucket: $(jq -r '"\(.mb_per_s) MB/s (\(.seconds) s, \(.parts) parts), server \(.server_cpu_cores) cores,
      CLI \(.cli_cpu_cores), machine \(.machine_cpu_cores) (+ \(.niced_other_cores) niced others),
      VmHWM \(.memory.hwm_kib_max) KiB (\(.memory.hwm_growth_kib) KiB above the RSS before it)"' <<<"$result" |
      tr -s ' \n' ' ')"
    uploads=$(jq -c --arg k "$bucket" --argjson v "$result" '. + {($k): $v}' <<<"$uploads")
    aws_ s3 rm --only-show-errors "s3://$bucket/big.bin"
  done
  rm -f "$tmp/big.bin"
fi

# --- One JSON line ---
jq -nc --argjson r "$results" --argjson u "$uploads" --argjson ratios "$ratios" --argjson rounds "$rounds" --argjson reread "$reread" --arg date "$(date -u +%FT%TZ)" --argjson cores "$cores" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  --argjson c "$connections" --argjson d "$duration" --argjson f "$range_fraction" \
  --argjson ob "$object_bytes" --argjson wb "$window_bytes" --argjson wt "$wrk_threads" '
  {date: $date, machine: {cores: $cores, cpu: $cpu,
     note: "wrk (\($wt) threads) and the AWS CLI share these cores with the server"},
   connections: $c, rounds: $rounds, duration_s: $d, reread: $reread, object_bytes: $ob, range_fraction: $f, range_bytes: $wb,
   nginx: $r.nginx, airfleet_plain: $r.plain, airfleet_encrypted: $r.enc,
   upload: $u} + $ratios'
