#!/usr/bin/env bash
# The checks beyond the tests, each in its own build: formatting, unit tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (clang), unit tests under ThreadSanitizer, and
# every fuzz target for a bounded time. STRATA_FUZZ_SECONDS sets the time per target (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "check: clang-format"
files=$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.cc' 'bench/*.cc')
clang-format --dry-run --Werror $files

# unit_tests_under DIR BUILD_TYPE OPTION [NAME=value ...]: builds DIR with the CMake option
# OPTION on, then runs its unit tests with the environment given.
unit_tests_under() {
  local dir=$1 build_type=$2 option=$3
  shift 3
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -D"$option"=ON -DSTRATA_BUILD_BENCHMARKS=OFF >/dev/null
  ninja -C "$dir"
  (cd "$dir" && env "$@" ctest --output-on-failure -L unit -j 2)
}

echo "check: unit tests under ASan+UBSan"
unit_tests_under build-asan Debug STRATA_SANITIZE ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp"

echo "check: unit tests under TSan"
unit_tests_under build-tsan RelWithDebInfo STRATA_TSAN TSAN_OPTIONS=second_deadlock_stack=1

echo "check: fuzzing"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DSTRATA_FUZZ=ON -DSTRATA_BUILD_TESTS=OFF \
  -DSTRATA_BUILD_BENCHMARKS=OFF >/dev/null
fuzzers=(dicom_file_fuzz config_fuzz match_rule_fuzz multipart_fuzz model_card_fuzz kserve_v2_fuzz)
ninja -C build-fuzz "${fuzzers[@]}"
seconds=${STRATA_FUZZ_SECONDS:-30}
for target in "${fuzzers[@]}"; do
  corpus=tests/fuzz/corpus/${target%_fuzz}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "check: $target for ${seconds}s"
  build-fuzz/tests/fuzz/$target -max_total_time="$seconds" -max_len=65536 -print_final_stats=0 \
    "$work" 2>&1 | tail -n 3
  rm -rf "$work"
done
echo "check: ok"
