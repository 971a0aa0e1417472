#!/usr/bin/env bash
# The HTTP family: tether::http next to Go's net/http on the same machine, in the same run.
#   bench/http/run.sh            full run (about 2 minutes)
#   bench/http/run.sh --quick    short run to check that everything works; rough numbers
# Measures, for Go (GOMAXPROCS=2) and tether (2 I/O threads; blocking handlers also get 2
# workers), with interleaved rounds so that both sides see the same load:
#   * hello-world requests/s and p99 latency: wrk -t2 -c64 on GET /hello (the handler reads
#     its request context), with coroutine and with blocking handlers;
#   * disconnect → request context done, p50/p90/p99: one client process
#     (tether_http_bench disconnect-client) closes its socket mid-request and times the UDP
#     datagram the handler sends when its context is done (the same hop on both sides).
# Targets (docs/performance.md): coroutine ≥ 1.2× Go's req/s, blocking ≥ 1.0×, p99 ≤ Go's, disconnect
# p50 ≤ Go's. Each figure is the median of the rounds (the spread is printed beside it).
# A verdict is given only when the machine was quiet: bench/quiet.py measures, round by
# round, the CPU other processes used (the 1-minute load average is recorded too, but it
# counts the benchmark's own threads) and how much the host slowed down against the run's
# calibration (bench/host_speed.cpp); above its OTHERS_CPU_LIMIT or HOST_SLOWDOWN_LIMIT in any
# round, the figures are printed with "no verdict".
# Writes $build/results/http.txt (the table) and http.json. Needs Debian's golang-go and wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bench/http/run.sh [--quick]" >&2; exit 2 ;;
esac
duration=5 rounds=3 disconnects=2000
[[ $quick -eq 1 ]] && duration=1 rounds=1 disconnects=200

bash scripts/setup.sh bench  # golang-go, wrk (Debian packages)
for tool in go wrk; do
  command -v "$tool" >/dev/null || {
    echo "bench/http/run.sh: $tool is missing (apt-get install golang-go wrk)" >&2
    exit 1
  }
done

build=${BUILD:-build-bench}
out="$build/results"
mkdir -p "$out" "$build/go"

echo "== build: $build (Release), target tether_http_bench"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON \
  -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_DEMO=OFF \
  -DTETHER_BUILD_MODULES=ON >/dev/null
cmake --build "$build" -j2 --target tether_http_bench
tether="$build/bench/http/tether_http_bench"

# Go's standard library only, GOPATH mode: nothing is downloaded.
export GOCACHE="$PWD/$build/go/cache" GOPATH="$PWD/$build/go/path" GOFLAGS="" \
  GOPROXY=off GOTOOLCHAIN=local GO111MODULE=off GOMAXPROCS=2
echo "== build: $(go env GOVERSION) go_http_bench"
go build -o "$build/go/go_http_bench" bench/http/go_http_bench.go
gobench="$build/go/go_http_bench"

# Starts a server (its command line in "$@"): sets $port and $server_pid; the server runs
# until fd 9 closes (stop_server).
start_server() {
  fifo=$(mktemp -u) && mkfifo "$fifo"
  "$@" <"$fifo" >"$fifo.out" &
  server_pid=$!
  exec 9>"$fifo"
  until grep -q '^listening' "$fifo.out" 2>/dev/null; do sleep 0.05; done
  port=$(sed -n 's/^listening //p' "$fifo.out")
}
stop_server() {
  exec 9>&-
  wait "$server_pid" || true
  rm -f "$fifo" "$fifo.out"
}

# Runs wrk against a server (its command line in "$@"); prints "<req/s> <p99 in ms>".
# Called in the foreground (not in a pipe or a process substitution), so that the script
# waits for wrk and the server and bench/quiet.py counts their CPU as the benchmark's own.
measure() {
  local line rps p99
  start_server "$@"
  line=$(wrk -t2 -c64 -d"${duration}s" --latency "http://127.0.0.1:$port/hello")
  stop_server
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$line")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$line")
  echo "$rps $p99"
}

# The disconnect client (one process) against a server (another): close() → context done.
disconnect() {
  start_server "$@"
  "$tether" disconnect-client --port "$port" --rounds "$disconnects"
  stop_server
}

declare -A rps p99 rps_all p99_all
configs=(go coroutine blocking)
source bench/quiet.sh
quiet_calibrate "$build"
median() { tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
spread() {  # half the range around the median, in percent
  tr ' ' '\n' | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.0f", (m>0)?(v[NR]-v[1])/m*50:0}'
}
tmp=$(mktemp)
command_of() {
  case "$1" in
    go) echo "$gobench serve" ;;
    coroutine) echo "$tether serve --handlers coroutine --io 2 --workers 2" ;;
    blocking) echo "$tether serve --handlers blocking --io 2 --workers 2" ;;
  esac
}
for ((r = 1; r <= rounds; r++)); do
  w=$(quiet_window)
  # Alternate the order, so that no side always runs first.
  order=("${configs[@]}")
  ((r % 2 == 0)) && order=(blocking coroutine go)
  for c in "${order[@]}"; do
    measure $(command_of "$c") >"$tmp"
    read -r q l <"$tmp"
    echo "round $r $c: $q req/s, p99 $l ms"
    rps_all[$c]="${rps_all[$c]:-} $q" p99_all[$c]="${p99_all[$c]:-} $l"
  done
  quiet_end_window "$w"
done
for c in "${configs[@]}"; do
  rps[$c]=$(median <<<"${rps_all[$c]# }") p99[$c]=$(median <<<"${p99_all[$c]# }")
done

declare -A disc
w=$(quiet_window)
for c in "${configs[@]}"; do
  disconnect $(command_of "$c") >"$tmp"
  disc[$c]=$(cat "$tmp")
  echo "disconnect $c: ${disc[$c]}"
done
quiet_end_window "$w"
rm -f "$tmp"
p50_of() { sed -n 's/.*p50=\([0-9.]*\).*/\1/p' <<<"$1"; }

quiet_judge
verdict() {  # verdict <label> <condition>
  if [[ $quiet -eq 0 || $quick -eq 1 ]]; then
    echo "$1: no verdict (busy machine or quick run)"
  elif awk "BEGIN {exit !($2)}"; then
    echo "$1: met"
  else
    echo "$1: MISSED"
  fi
}
{
  echo "HTTP family (bench/http/run.sh$([[ $quick -eq 1 ]] && echo ' --quick')), $(date -u +%FT%TZ)"
  quiet_summary
  echo "figures: median of $rounds rounds (± half the range around it)"
  echo "$(go env GOVERSION) GOMAXPROCS=2; tether 2 I/O threads (+2 workers for blocking)"
  printf '%-22s %12s %6s %10s %6s %18s\n' "server" "req/s" "±" "p99 ms" "±" "disconnect p50 µs"
  for c in go coroutine blocking; do
    printf '%-22s %12s %6s %10s %6s %18s\n' "$c" "${rps[$c]}" "$(spread <<<"${rps_all[$c]# }")%" \
      "${p99[$c]}" "$(spread <<<"${p99_all[$c]# }")%" "$(p50_of "${disc[$c]}")"
  done
  cr=$(awk "BEGIN {printf \"%.3f\", ${rps[coroutine]} / ${rps[go]}}")
  br=$(awk "BEGIN {printf \"%.3f\", ${rps[blocking]} / ${rps[go]}}")
  echo "ratios to Go: coroutine ${cr}x, blocking ${br}x"
  # Judged on the unrounded figures (the printed ratios are rounded to 2 decimals).
  verdict "coroutine req/s >= 1.2x Go" "${rps[coroutine]} >= 1.2 * ${rps[go]}"
  verdict "blocking req/s >= 1.0x Go" "${rps[blocking]} >= 1.0 * ${rps[go]}"
  verdict "coroutine p99 <= Go" "${p99[coroutine]} <= ${p99[go]}"
  verdict "blocking p99 <= Go" "${p99[blocking]} <= ${p99[go]}"
  verdict "disconnect p50 (coroutine) <= Go" "$(p50_of "${disc[coroutine]}") <= $(p50_of "${disc[go]}")"
  verdict "disconnect p50 (blocking) <= Go" "$(p50_of "${disc[blocking]}") <= $(p50_of "${disc[go]}")"
} | tee "$out/http.txt"

cat >"$out/http.json" <<EOF
{"quick": $([[ $quick -eq 1 ]] && echo true || echo false), "quiet": $([[ $quiet -eq 1 ]] && echo true || echo false),
 "others_cpu": [$(IFS=,; echo "${quiet_others[*]}")], "others_cpu_limit": $others_limit,
 "host_slowdown": [$(IFS=,; echo "${quiet_slowdowns[*]}")], "host_slowdown_limit": $slowdown_limit,
 "rounds": $rounds, "load_average_1min": [$(IFS=,; echo "${quiet_loads[*]}")],
 "go": "$(go env GOVERSION)",
 "req_per_s": {"go": ${rps[go]}, "coroutine": ${rps[coroutine]}, "blocking": ${rps[blocking]}},
 "p99_ms": {"go": ${p99[go]}, "coroutine": ${p99[coroutine]}, "blocking": ${p99[blocking]}},
 "disconnect_p50_us": {"go": $(p50_of "${disc[go]}"), "coroutine": $(p50_of "${disc[coroutine]}"), "blocking": $(p50_of "${disc[blocking]}")}}
EOF

# A full, quiet run rewrites the generated HTTP section of docs/performance.md.
if [[ $quick -eq 0 && $quiet -eq 1 ]]; then
  python3 bench/publish.py http "$out/http.txt" docs/performance.md
else
  echo "not published (quick run or busy machine): docs/performance.md left as it was"
fi
