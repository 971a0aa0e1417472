#!/usr/bin/env bash
# `make bench-instructions`: instructions per operation of tether's core under Callgrind,
# against the floor of std::stop_source + std::stop_callback + request_stop, with the bounds
# of bench/instructions.py checked (exit 1 if one does not hold). Deterministic: instruction
# counts do not depend on the machine's load, so CI runs this as a regression check.
#   bench/instructions.sh                 prints the table, checks the bounds
#   bench/instructions.sh --update-doc    also rewrites the table in docs/performance.md
# Needs only Debian packages (scripts/setup.sh instructions installs valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."

update_doc=()
case "${1:-}" in
  --update-doc) update_doc=(--update-doc docs/performance.md) ;;
  "") ;;
  *) echo "usage: bench/instructions.sh [--update-doc]" >&2; exit 2 ;;
esac

bash scripts/setup.sh instructions
build=build-bench  # the Release build `make bench` uses
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON \
  -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF -DTETHER_BUILD_MODULES=OFF >/dev/null
cmake --build "$build" -j2 --target tether_instructions
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
mkdir -p "$build/results"
python3 bench/instructions.py --binary "$build/bench/tether_instructions" --compiler "$compiler" \
  --commit "$(python3 bench/compare.py --source-version)" \
  --json "$build/results/instructions.json" "${update_doc[@]}"
