#!/usr/bin/env bash
# examples/run_all.sh BUILD_DIR — runs every built example (BUILD_DIR/examples/example_*),
# printing a header line per example and then its output. Exits non-zero if any example
# exits non-zero (their output is checked by ctest -L examples).
set -u
build_dir="${1:?usage: examples/run_all.sh BUILD_DIR}"
shopt -s nullglob
examples=("$build_dir"/examples/example_*)
if [ ${#examples[@]} -eq 0 ]; then
  echo "no examples built in $build_dir/examples (configure with -DTETHER_BUILD_EXAMPLES=ON)" >&2
  exit 1
fi
status=0
for exe in "${examples[@]}"; do
  [ -x "$exe" ] || continue
  name="${exe##*/example_}"
  echo "=== example ${name} ==="
  "$exe"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "=== example ${name} FAILED (exit status $rc) ==="
    status=1
  fi
  echo
done
exit $status
