#!/usr/bin/env bash
# `make bench`: Go's own context benchmarks and tether's ports of them, plus the scale
# families of both (bench/go/scale, bench/scale.cpp), in the same run on the same machine,
# compared in one table (bench/compare.py).
#   bench/run.sh           full run: 3 rounds; in each, Go and tether alternate family by
#                          family (Go first in odd rounds, tether first in even ones).
#                          Writes bench/results/last-run.{json,png}; if every target got a
#                          verdict (the machine was quiet), publishes it as
#                          bench/results/latest.{json,png} and docs/performance.md
#   bench/run.sh --quick   one short round to check everything works; numbers are rough,
#                          so it writes build-bench/results/quick.{json,png} only
# Around each family (both sides of one round) bench/quiet.py measures the CPU that other
# processes used, records the 1-minute load average before and after, and probes the host's
# speed before and after (bench/host_speed.cpp) against a calibration taken at the start. A
# family round the host slowed down (slowdown above HOST_SLOWDOWN_LIMIT) is run again, up to
# twice; a family during which other processes used more than OTHERS_CPU_LIMIT CPUs on
# average, or still measured on a slow host, gets "no verdict" (bench/compare.py). The load
# average alone cannot judge: it counts the benchmark's own threads (see bench/quiet.py).
# Needs nothing but Debian packages (scripts/setup.sh bench installs golang-go, gnuplot).
# Works offline: Go's suite is part of Go's standard library, and bench/go/scale imports
# nothing else (GOPATH mode, no module is downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
esac

build=build-bench
raw="$build/results"
if [[ $quick -eq 1 ]]; then
  rounds=1 attempts=1  # a quick run checks that it all works: a slow host is not run again
  out_json="$raw/quick.json" out_png="$raw/quick.png"
  go_time=(-test.benchtime=2000x)
  go_scale_time=(-test.benchtime=3x -test.short)
  tether_time=(--benchmark_min_time=0.01)
  export TETHER_BENCH_QUICK=1  # scale families: n ≤ 10 000
else
  rounds=3 attempts=3  # a family round the host slowed down is run up to twice more
  out_json=bench/results/last-run.json out_png=bench/results/last-run.png
  go_time=(-test.benchtime=0.5s)
  go_scale_time=(-test.benchtime=0.3s)
  tether_time=(--benchmark_min_time=0.3)
fi

echo "== setup: Debian packages (golang-go, gnuplot-nox, libbenchmark-dev, ...)"
bash scripts/setup.sh bench

commit=$(python3 bench/compare.py --source-version)  # what the binary is built from
echo "== build: $build (Release), target tether_bench, sources at $commit"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON \
  -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_MODULES=OFF >/dev/null
cmake --build "$build" -j2 --target tether_bench
mkdir -p "$raw" bench/results

# Go's untouched suite from GOROOT, compiled once: exactly what
# `go test -run XXX -bench . -benchmem context` runs; and the Go halves of the scale
# families, in GOPATH mode from the standard library only. Caches live in the build dir so
# this works as any user on a fresh machine; GOPROXY=off and GOTOOLCHAIN=local: never touch
# the network.
export GOCACHE="$PWD/$build/go/cache" GOPATH="$PWD/$build/go/path" GOFLAGS="" \
  GOPROXY=off GOTOOLCHAIN=local GO111MODULE=off
echo "== Go $(go env GOVERSION): go test -c context (Go's own benchmark_test.go), bench/go/scale"
mkdir -p "$build/go"
go test -c -o "$build/go/context.test" context
go test -c -o "$build/go/scale.test" ./bench/go/scale
tether="$build/bench/tether_bench"
rm -f "$raw"/go-*.txt "$raw"/tether-*.json "$raw"/loads.tsv


# The million live timeouts first, in a fresh process of their own, so the resident-memory
# reading is not blurred by memory that other benchmarks freed.
echo "== tether: LiveTimeouts"
"$tether" --benchmark_filter='^LiveTimeouts' \
  --benchmark_out="$raw/tether-LiveTimeouts.json" --benchmark_out_format=json

run_go() {  # <test binary> <family> <round> <time flags...>: into $raw/go-pending.txt
  local binary=$1 family=$2 round=$3
  shift 3
  echo "== Go: Benchmark$family (round $round)"
  (cd "$build/go" && "$PWD/$(basename "$binary")" -test.run XXX \
    -test.bench "^Benchmark$family\$" -test.benchmem "$@") | tee "$raw/go-pending.txt"
}
run_tether() {  # <family> <round>
  echo "== tether: $1 (round $2)"
  "$tether" --benchmark_filter="^$1(/|\$)" "${tether_time[@]}" \
    --benchmark_out="$raw/tether-$1-r$2.json" --benchmark_out_format=json
}

go_families=$("$build/go/context.test" -test.list '^Benchmark' | sed -n 's/^Benchmark//p' | xargs)
scale_families=$("$build/go/scale.test" -test.list '^Benchmark' | sed -n 's/^Benchmark//p' | xargs)
# The host's speed: the calibration every window's probes are compared with.
source bench/quiet.sh
quiet_calibrate "$build"
echo "# family round others-cpu load-before load-after slowdown (bench/quiet.py)" >"$raw/loads.tsv"

run_family_round() {  # <family> <round>: both sides, in this round's order; sets window_*
  # (bench/quiet.sh; in this shell, not a subshell: quiet.py counts the CPU of $$ and children)
  local family=$1 round=$2 binary="$build/go/context.test" flags=("${go_time[@]}")
  if [[ " $scale_families " == *" $family "* ]]; then
    binary="$build/go/scale.test" flags=("${go_scale_time[@]}")
    # The floor is an operation like Go's own suite's, not a batch of n: timed like them.
    [[ $family == CommonParentCancelFloor ]] && flags=("${go_time[@]}")
  fi
  local window
  window=$(quiet_window)
  # Alternate who goes first, so that neither side always runs after the other.
  if ((round % 2 == 1)); then
    run_go "$binary" "$family" "$round" "${flags[@]}"
    run_tether "$family" "$round"
  else
    run_tether "$family" "$round"
    run_go "$binary" "$family" "$round" "${flags[@]}"
  fi
  quiet_end_window "$window"
}

# Go's families in Go's order, then the scale families; CommonParentCancel's floor right
# after CommonParentCancel, so that the two are measured on as nearly the same host as can be.
families=$(for f in $go_families; do
  echo "$f"
  if [[ $f == CommonParentCancel && " $scale_families " == *" CommonParentCancelFloor "* ]]; then
    echo CommonParentCancelFloor
  fi
done
for f in $scale_families; do
  if [[ $f != CommonParentCancelFloor ]]; then echo "$f"; fi
done)

for round in $(seq 1 "$rounds"); do
  for family in $families; do
    for attempt in 1 2 3; do
      run_family_round "$family" "$round"
      read -r host_ok _ < <(python3 bench/quiet.py judge "0:$window_slowdown")
      [[ $host_ok -eq 1 || $attempt -eq $attempts ]] && break
      echo "== the host ran ${window_slowdown}x slower than calibrated: $family round $round again"
    done
    cat "$raw/go-pending.txt" >>"$raw/go-r$round.txt"
    echo "$family $round $window_others $window_before $window_after $window_slowdown" \
      >>"$raw/loads.tsv"
  done
  # tether's own benchmarks: every name outside Go's families.
  echo "== tether: its own benchmarks (round $round)"
  "$tether" --benchmark_filter="-^($(echo $go_families $scale_families | tr ' ' '|')|LiveTimeouts)(/|\$)" \
    "${tether_time[@]}" --benchmark_out="$raw/tether-additions-r$round.json" \
    --benchmark_out_format=json
done

echo "== comparison"
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
args=(--loads "$raw/loads.tsv" --compiler "$compiler" --commit "$commit" --rounds "$rounds"
  --json "$out_json" --chart "$out_png")
for f in "$raw"/go-r*.txt; do args+=(--go "$f"); done
for f in "$raw"/tether-*.json; do args+=(--tether "$f"); done
if [[ $quick -eq 1 ]]; then
  args+=(--quick)
else
  # Published only if every target got a verdict; compare.py says which way it went.
  args+=(--publish bench/results/latest.json bench/results/latest.png docs/performance.md)
fi
python3 bench/compare.py "${args[@]}"
