#!/usr/bin/env bash
# `make bench`: Go's own context benchmarks and tether's ports of them, in the same run on
# the same machine, compared in one table (bench/compare.py).
#   bench/run.sh           full run (a few minutes); writes bench/results/latest.{json,png}
#                          and the generated section of docs/performance.md
#   bench/run.sh --quick   short run to check everything works; numbers are rough, so it
#                          writes build-bench/results/quick.{json,png} instead
# Needs nothing but Debian packages (scripts/setup.sh bench installs golang-go, gnuplot).
# Works offline: Go's suite is part of Go's standard library, no module is downloaded.
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
  out_json="$raw/quick.json" out_png="$raw/quick.png"
  go_time=(-test.benchtime=2000x)
  tether_time=(--benchmark_min_time=0.01)
else
  out_json=bench/results/latest.json out_png=bench/results/latest.png
  # Three shorter runs of everything; compare.py keeps each side's fastest. On a shared
  # machine the minimum is the run least disturbed by other processes.
  go_time=(-test.benchtime=0.5s -test.count=3)
  tether_time=(--benchmark_min_time=0.3 --benchmark_repetitions=3
    --benchmark_display_aggregates_only=true)
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
# `go test -run XXX -bench . -benchmem context` runs. Caches live in the build dir so this
# works as any user on a fresh machine; GOPROXY=off and GOTOOLCHAIN=local: never touch the
# network.
export GOCACHE="$PWD/$build/go/cache" GOPATH="$PWD/$build/go/path" GOFLAGS="" \
  GOPROXY=off GOTOOLCHAIN=local GO111MODULE=""
echo "== Go $(go env GOVERSION): go test -c context (Go's own benchmark_test.go)"
mkdir -p "$build/go"
go test -c -o "$build/go/context.test" context
gosuite="$PWD/$build/go/context.test"
tether="$build/bench/tether_bench"
tether_out() { echo --benchmark_out="$raw/$1.json" --benchmark_out_format=json; }
rm -f "$raw"/go.txt "$raw"/tether*.json

# The million live timeouts first, in a fresh process of their own, so the resident-memory
# reading is not blurred by memory that other benchmarks freed.
echo "== tether: LiveTimeouts"
"$tether" --benchmark_filter='^LiveTimeouts' $(tether_out tether-LiveTimeouts)

# Then Go's benchmarks one family at a time, each followed at once by tether's port: on a
# shared machine the two halves of a ratio then see the same load.
families=$("$gosuite" -test.list '^Benchmark' | sed -n 's/^Benchmark//p')
for family in $families; do
  echo "== Go: Benchmark$family"
  (cd "$build/go" && "$gosuite" -test.run XXX -test.bench "^Benchmark$family\$" -test.benchmem \
    "${go_time[@]}") | tee -a "$raw/go.txt"
  echo "== tether: $family"
  "$tether" --benchmark_filter="^$family" "${tether_time[@]}" $(tether_out "tether-$family")
done

# Last, tether's own benchmarks: every name outside Go's families.
echo "== tether: its own benchmarks"
"$tether" --benchmark_filter="-^($(echo $families | tr ' ' '|')|LiveTimeouts)" \
  "${tether_time[@]}" $(tether_out tether-additions)

echo "== comparison"
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
args=(--go "$raw/go.txt" --compiler "$compiler" --commit "$commit" --json "$out_json" --chart "$out_png")
for f in "$raw"/tether-*.json; do args+=(--tether "$f"); done
if [[ $quick -eq 1 ]]; then
  args+=(--quick)
else
  args+=(--update-doc docs/performance.md)  # a full run refreshes the published numbers
fi
python3 bench/compare.py "${args[@]}"
