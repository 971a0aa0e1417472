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
# Targets (issue 14): coroutine ≥ 1.2× Go's req/s, blocking ≥ 1.0×, p99 ≤ Go's, disconnect
# p50 ≤ Go's. A verdict is given only when the machine was quiet (1-minute load average
# below 0.5 at start and end); otherwise the figures are printed with "no verdict".
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
load_at_start=$(cut -d' ' -f1 /proc/loadavg)

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

declare -A rps p99
configs=(go coroutine blocking)
command_of() {
  case "$1" in
    go) echo "$gobench serve" ;;
    coroutine) echo "$tether serve --handlers coroutine --io 2 --workers 2" ;;
    blocking) echo "$tether serve --handlers blocking --io 2 --workers 2" ;;
  esac
}
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    read -r q l < <(measure $(command_of "$c"))
    echo "round $r $c: $q req/s, p99 $l ms"
    # Keep each side's best round: on a shared machine it is the least disturbed one.
    if [[ -z "${rps[$c]:-}" ]] || awk "BEGIN {exit !($q > ${rps[$c]})}"; then
      rps[$c]=$q p99[$c]=$l
    fi
  done
done

declare -A disc
for c in "${configs[@]}"; do
  disc[$c]=$(disconnect $(command_of "$c"))
  echo "disconnect $c: ${disc[$c]}"
done
p50_of() { sed -n 's/.*p50=\([0-9.]*\).*/\1/p' <<<"$1"; }
load_at_end=$(cut -d' ' -f1 /proc/loadavg)

quiet=$(awk "BEGIN {print ($load_at_start < 0.5 && $load_at_end < 0.5) ? 1 : 0}")
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
  echo "machine: $(nproc) CPUs, 1-minute load average $load_at_start at start, $load_at_end at end"
  echo "$(go env GOVERSION) GOMAXPROCS=2; tether 2 I/O threads (+2 workers for blocking)"
  printf '%-22s %12s %10s %16s\n' "server" "req/s" "p99 ms" "disconnect p50 µs"
  for c in go coroutine blocking; do
    printf '%-22s %12s %10s %16s\n' "$c" "${rps[$c]}" "${p99[$c]}" "$(p50_of "${disc[$c]}")"
  done
  cr=$(awk "BEGIN {printf \"%.2f\", ${rps[coroutine]} / ${rps[go]}}")
  br=$(awk "BEGIN {printf \"%.2f\", ${rps[blocking]} / ${rps[go]}}")
  echo "ratios to Go: coroutine ${cr}x, blocking ${br}x"
  verdict "coroutine req/s >= 1.2x Go" "$cr >= 1.2"
  verdict "blocking req/s >= 1.0x Go" "$br >= 1.0"
  verdict "coroutine p99 <= Go" "${p99[coroutine]} <= ${p99[go]}"
  verdict "blocking p99 <= Go" "${p99[blocking]} <= ${p99[go]}"
  verdict "disconnect p50 (coroutine) <= Go" "$(p50_of "${disc[coroutine]}") <= $(p50_of "${disc[go]}")"
  verdict "disconnect p50 (blocking) <= Go" "$(p50_of "${disc[blocking]}") <= $(p50_of "${disc[go]}")"
} | tee "$out/http.txt"

cat >"$out/http.json" <<EOF
{"quick": $([[ $quick -eq 1 ]] && echo true || echo false), "quiet": $([[ $quiet -eq 1 ]] && echo true || echo false),
 "load_average_1min": [$load_at_start, $load_at_end], "go": "$(go env GOVERSION)",
 "req_per_s": {"go": ${rps[go]}, "coroutine": ${rps[coroutine]}, "blocking": ${rps[blocking]}},
 "p99_ms": {"go": ${p99[go]}, "coroutine": ${p99[coroutine]}, "blocking": ${p99[blocking]}},
 "disconnect_p50_us": {"go": $(p50_of "${disc[go]}"), "coroutine": $(p50_of "${disc[coroutine]}"), "blocking": $(p50_of "${disc[blocking]}")}}
EOF
