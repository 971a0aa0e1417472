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
  go_time=(-benchtime=2000x)
  tether_time=(--benchmark_min_time=0.01)
else
  out_json=bench/results/latest.json out_png=bench/results/latest.png
  go_time=()
  tether_time=()
fi

echo "== setup: Debian packages (golang-go, gnuplot-nox, libbenchmark-dev, ...)"
bash scripts/setup.sh bench

commit=$(python3 bench/compare.py --source-version)  # what the binary is built from
echo "== build: $build (Release), target tether_bench, sources at $commit"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON \
  -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_MODULES=OFF >/dev/null
cmake --build "$build" -j2 --target tether_bench
mkdir -p "$raw" bench/results

echo "== Go $(go env GOVERSION): go test -run XXX -bench . -benchmem context"
# Go's untouched suite from GOROOT. Caches live in the build dir so this works as any user
# on a fresh machine; GOPROXY=off and GOTOOLCHAIN=local: never touch the network.
export GOCACHE="$PWD/$build/go/cache" GOPATH="$PWD/$build/go/path" GOFLAGS="" \
  GOPROXY=off GOTOOLCHAIN=local GO111MODULE=""
(cd "$build" && go test -run XXX -bench . -benchmem "${go_time[@]}" context) | tee "$raw/go.txt"

echo "== tether: $build/bench/tether_bench"
# The million live timeouts run first, in their own process, so the resident-memory
# reading is not blurred by memory that earlier benchmarks freed.
"$build/bench/tether_bench" --benchmark_filter='^LiveTimeouts' \
  --benchmark_out="$raw/tether-timeouts.json" --benchmark_out_format=json
"$build/bench/tether_bench" --benchmark_filter='-^LiveTimeouts' "${tether_time[@]}" \
  --benchmark_out="$raw/tether.json" --benchmark_out_format=json

echo "== comparison"
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
args=(--go "$raw/go.txt" --tether "$raw/tether.json" --tether "$raw/tether-timeouts.json"
  --compiler "$compiler" --commit "$commit" --json "$out_json" --chart "$out_png")
if [[ $quick -eq 1 ]]; then
  args+=(--quick)
else
  args+=(--update-doc docs/performance.md)  # a full run refreshes the published numbers
fi
python3 bench/compare.py "${args[@]}"
