#!/usr/bin/env bash
# Installs the Debian packages tether needs, if any are missing. Used by every entry script.
#   scripts/setup.sh            the packages for building everything (and the demo)
#   scripts/setup.sh test       + what only tests need (*/tests/packages.txt: chromium,
#                               chromium-driver and Selenium for the browser tests, wrk for
#                               the load run)
#   scripts/setup.sh bench      + golang-go, gnuplot and valgrind, for `make bench`
#   scripts/setup.sh instructions   + valgrind, for `make bench-instructions` (CI runs it)
# Needs root (or sudo) only when something is missing; never downloads anything but
# Debian packages.
set -euo pipefail

packages=(
  build-essential cmake ninja-build make git pkg-config python3
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 clang-format-14 libclang-rt-14-dev
)
test_packages=0
for extra in "$@"; do
  case "$extra" in
    test) test_packages=1 ;;
    bench) packages+=(golang-go gnuplot-nox valgrind wrk) ;;
    instructions) packages+=(valgrind) ;;
    *) echo "setup.sh: unknown profile '$extra'" >&2; exit 2 ;;
  esac
done
# Modules, tools, the demo and test suites add their own packages here (one file per part, one
# package per line).
shopt -s nullglob
root="$(dirname "$0")/.."
lists=("$root"/modules/*/packages.txt "$root"/tools/*/packages.txt "$root"/demo/packages.txt)
[[ $test_packages -eq 1 ]] && lists+=("$root"/tests/*/packages.txt "$root"/modules/*/tests/packages.txt \
  "$root"/demo/tests/packages.txt "$root"/debug/tests/packages.txt)
for f in "${lists[@]}"; do
  while read -r p; do [[ -n "$p" && "$p" != \#* ]] && packages+=("$p"); done <"$f"
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
