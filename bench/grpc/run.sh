#!/usr/bin/env bash
# The gRPC family: tether::grpc next to raw gRPC (Debian's 1.51) on the same machine, in the
# same process, on loopback.
#   bench/grpc/run.sh            full run (about 1.5 minutes; up to 5 on a slow host)
#   bench/grpc/run.sh --quick    short run to check that everything works; rough numbers
# tether_grpc_bench (bench/grpc/grpc_bench.cpp) measures, in interleaved rounds so that every
# variant sees the same load, and reports medians:
#   * unary calls/s, 4 client threads: tether::grpc (Dispatcher::unary + grpc::call under a
#     context with a deadline and a trace) against raw gRPC doing the same job by hand (work
#     handed to a 4-thread pool, a deadline and a traceparent header: the same bytes on the
#     wire); raw gRPC without the trace header, and raw gRPC finishing inline on gRPC's
#     thread against Dispatcher::unary_inline, for reference;
#     The judged pair runs A B B A in each round (B A A B in the next), half a round each.
#   * cancel latency, p50 of 401 calls: raw TryCancel → OnCancel, and → the work woken by
#     OnCancel; tether ctx cancel() → the work waiting on the server's context woken, and →
#     an after_func on that context; a two-hop chain. Samples alternate which side goes first;
#     each call is held 1 ms, its work asleep, before the cancel, on new servers and channels
#     that got the same warm-up calls (bench/grpc/grpc_bench.cpp, kHeld and warm_up).
# Targets (docs/performance.md, "gRPC"): adapter calls/s within 3 % of raw gRPC doing the same
# job; cancel → the work waiting on the server's context woken p50 no slower than raw
# TryCancel → the work OnCancel wakes (both sides wake a sleeping thread; the raw OnCancel
# row, which wakes nothing, and tether's after_func row are shown for information): met when
# tether's p50 is at most raw's or when the run cannot tell them apart (the 95 % bootstrap
# interval of the median of the paired differences contains 0), MISSED when tether is
# measurably slower.
# A verdict is given only when the
# machine was quiet: bench/quiet.py measures the CPU other processes used while the
# benchmark ran (at most quiet.OTHERS_CPU_LIMIT CPUs) and how much the host slowed down
# against the run's calibration (at most quiet.HOST_SLOWDOWN_LIMIT); otherwise "no verdict".
# Writes $build/results/grpc.txt (the table and the verdicts); a full run that was quiet also
# rewrites the generated gRPC section of docs/performance.md (bench/publish.py). Needs
# Debian's libgrpc++-dev, protobuf-compiler-grpc (scripts/setup.sh).
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
# counts its CPU as the benchmark's own. A run that was not quiet is run again, up to twice
# (as `make bench` does for a family round); the last run is the one reported.
source bench/quiet.sh
quiet_calibrate "$build"
raw=$(mktemp)
attempts=3
[[ $quick -eq 1 ]] && attempts=1
for attempt in $(seq 1 "$attempts"); do
  quiet_windows=() quiet_others=() quiet_slowdowns=() quiet_loads=()
  token=$(quiet_window)
  "$bench" "$seconds" >"$raw"
  quiet_end_window "$token"
  quiet_judge
  [[ $quiet -eq 1 || $attempt -eq $attempts ]] && break
  echo "== not quiet (other processes $window_others CPUs, host ${window_slowdown}x slower" \
    "than calibrated): the gRPC family again"
done
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
  verdict "adapter calls/s within 3 % of raw gRPC doing the same job (per-round ratio median $ratio; without the trace header $(value ratio_adapter_raw_no_trace))" "$ratio >= 0.97"
  # "No slower": tether's p50 at most raw's, or the run cannot tell the two apart (the 95 %
  # interval of the paired differences' median contains 0); MISSED when tether is measurably
  # slower (the whole interval above 0). docs/design.md, "Benchmark verdicts", says why.
  verdict "cancel -> work waiting on the server ctx woken p50 ($(value cancel_p50_ms_tether_woken) ms) no slower than raw TryCancel -> work woken by OnCancel ($(value cancel_p50_ms_raw_woken) ms); paired difference $(value cancel_woken_diff_ms) ms, 95 % interval [$(value cancel_woken_diff_low_ms), $(value cancel_woken_diff_high_ms)]" \
    "$(value cancel_p50_ms_tether_woken) <= $(value cancel_p50_ms_raw_woken) || $(value cancel_woken_diff_low_ms) <= 0"
} | tee "$out/grpc.txt"
rm -f "$raw"

# A full, quiet run rewrites the generated gRPC section of docs/performance.md.
if [[ $quick -eq 0 && $quiet -eq 1 ]]; then
  python3 bench/publish.py grpc "$out/grpc.txt" docs/performance.md
else
  echo "not published (quick run or busy machine): docs/performance.md left as it was"
fi
