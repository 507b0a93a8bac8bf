#!/usr/bin/env bash
# Sets up (packages + build) and runs every test: unit, integration and end-to-end.
#   tools/test.sh             everything
#   tools/test.sh -L unit     only the fast unit tests (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build_dir=${STRATA_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure --timeout 900 -j 2 "$@"
