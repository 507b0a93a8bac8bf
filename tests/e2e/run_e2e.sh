#!/bin/sh
# Builds `strata` and runs the end-to-end suites through CTest.
#   tests/e2e/run_e2e.sh [BUILD_DIR] [extra ctest args, e.g. -R echo_store]
# Artefacts (strata.log, configs, received files) land in BUILD_DIR/tests/e2e/out/.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake "$build" >/dev/null  # picks up new test_*.py files
ninja -C "$build" strata
exec ctest --test-dir "$build" -L e2e --output-on-failure -j "$(nproc)" "$@"
