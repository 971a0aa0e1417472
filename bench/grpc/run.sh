#!/usr/bin/env bash
# The gRPC family: tether::grpc next to raw gRPC (Debian's 1.51) on the same machine, in the
# same process, on loopback.
#   bench/grpc/run.sh            full run (about 1 minute)
#   bench/grpc/run.sh --quick    short run to check that everything works; rough numbers
# tether_grpc_bench (bench/grpc/grpc_bench.cpp) measures, in interleaved rounds so that every
# variant sees the same load, and reports medians:
#   * unary calls/s, 4 client threads: raw gRPC handing the work to a 4-thread pool (the
#     baseline) against tether::grpc (Dispatcher::unary + grpc::call under a context with a
#     deadline and a trace); raw gRPC finishing inline on gRPC's thread against
#     Dispatcher::unary_inline;
#   * cancel latency, p50 of 30 calls: raw TryCancel → OnCancel, and → the work woken by
#     OnCancel; tether ctx cancel() → the work waiting on the server's context woken, and →
#     an after_func on that context; a two-hop chain.
# Targets (docs/performance.md, "gRPC"): adapter calls/s within 3 % of the baseline; cancel →
# server context done p50 no slower than raw TryCancel → OnCancel (the context is done when
# the work waiting on it wakes; the after_func row runs later, after core has woken the
# context's waiters, and is shown for information). A verdict is given only when the
# machine was quiet: bench/quiet.py measures the CPU other processes used while the
# benchmark ran (at most quiet.OTHERS_CPU_LIMIT CPUs) and how much the host slowed down
# against the run's calibration (at most quiet.HOST_SLOWDOWN_LIMIT); otherwise "no verdict".
# Writes $build/results/grpc.txt (the table and the verdicts). Needs Debian's libgrpc++-dev,
# protobuf-compiler-grpc (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bench/grpc/run.sh [--quick]" >&2; exit 2 ;;
esac
seconds=1
[[ $quick -eq 1 ]] && seconds=0.1

build=${BUILD:-build-bench}
out="$build/results"
mkdir -p "$out"

echo "== build: $build (Release), target tether_grpc_bench"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON \
  -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_DEMO=OFF \
  -DTETHER_BUILD_MODULES=ON >/dev/null
cmake --build "$build" -j2 --target tether_grpc_bench
bench="$build/bench/grpc/tether_grpc_bench"
[[ -x "$bench" ]] || {
  echo "bench/grpc/run.sh: tether_grpc_bench was not built (is libgrpc++-dev installed?)" >&2
  exit 1
}

# The benchmark runs in the foreground, so the script waits for it and bench/quiet.py
# counts its CPU as the benchmark's own.
source bench/quiet.sh
quiet_calibrate "$build"
raw=$(mktemp)
token=$(quiet_window)
"$bench" "$seconds" >"$raw"
quiet_end_window "$token"
quiet_judge
value() { awk -v k="$1" '$1 == "result" && $2 == k {print $3}' "$raw"; }

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
  echo "gRPC family (bench/grpc/run.sh$([[ $quick -eq 1 ]] && echo ' --quick')), $(date -u +%FT%TZ)"
  quiet_summary
  grep -v '^result ' "$raw"
  ratio=$(value ratio_adapter_raw)
  verdict "adapter calls/s within 3 % of raw gRPC (per-round ratio median $ratio)" "$ratio >= 0.97"
  verdict "cancel -> server ctx done p50 ($(value cancel_p50_ms_tether_woken) ms, work woken) <= raw TryCancel -> OnCancel ($(value cancel_p50_ms_raw_oncancel) ms)" \
    "$(value cancel_p50_ms_tether_woken) <= $(value cancel_p50_ms_raw_oncancel)"
} | tee "$out/grpc.txt"
rm -f "$raw"
