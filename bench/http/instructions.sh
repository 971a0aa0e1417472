#!/usr/bin/env bash
# User-space instructions per HTTP request, tether::http (coroutine and blocking handlers)
# and Go's net/http: a guide for optimising the request path that, unlike requests/s, does
# not depend on what else the machine is doing.
#   bench/http/instructions.sh [seconds]     (default 10 s of load per server)
# Each server (the same programs as bench/http/run.sh: 2 I/O threads, 2 workers for
# blocking handlers, Go with GOMAXPROCS=2) runs under Valgrind's Callgrind. After a 2 s
# warm-up the counters are zeroed (callgrind_control -z), wrk -t2 -c64 drives GET /hello
# for the given time, the counters are dumped, and the instructions of the whole process
# (every thread) are divided by the requests wrk completed. Kernel work (system calls,
# wake-ups) is not counted. Valgrind runs one thread at a time, so the figures are for a
# 2-thread server serialised; they move by a few per cent between runs.
# Go runs with GODEBUG=asyncpreemptoff=1: Callgrind asserts on Go's preemption signals.
# It measures; it asserts nothing. Needs valgrind, wrk and golang-go (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
for tool in valgrind callgrind_control wrk go; do
  command -v "$tool" >/dev/null || {
    echo "bench/http/instructions.sh: $tool is missing" >&2
    exit 1
  }
done

build=${BUILD:-build-bench}
mkdir -p "$build/go"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON \
  -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_DEMO=OFF \
  -DTETHER_BUILD_MODULES=ON >/dev/null
cmake --build "$build" -j2 --target tether_http_bench
export GOCACHE="$PWD/$build/go/cache" GOPATH="$PWD/$build/go/path" GOFLAGS="" \
  GOPROXY=off GOTOOLCHAIN=local GO111MODULE=off GOMAXPROCS=2 GODEBUG=asyncpreemptoff=1
go build -o "$build/go/go_http_bench" bench/http/go_http_bench.go

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "<name> <instructions per request> <requests>" for the server in "$@".
measure() {
  local name=$1 pid port requests total
  shift
  mkfifo "$work/in"
  valgrind --tool=callgrind --callgrind-out-file="$work/$name.%p" "$@" \
    <"$work/in" >"$work/out" 2>"$work/$name.log" &
  pid=$!
  exec 9>"$work/in"
  until grep -q '^listening' "$work/out" 2>/dev/null; do sleep 0.2; done
  port=$(sed -n 's/^listening //p' "$work/out")
  wrk -t1 -c8 -d2s "http://127.0.0.1:$port/hello" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  requests=$(wrk -t2 -c64 -d"${seconds}s" "http://127.0.0.1:$port/hello" |
    awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  exec 9>&-
  wait "$pid" || true
  total=$(callgrind_annotate "$work/$name".*.1 2>/dev/null |
    awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name $((total / requests)) $requests"
  rm -f "$work/in" "$work/out"
}

echo "# server instructions/request requests"
tether="$build/bench/http/tether_http_bench"
measure coroutine "$tether" serve --handlers coroutine --io 2
measure blocking "$tether" serve --handlers blocking --io 2 --workers 2
measure go "$build/go/go_http_bench" serve
