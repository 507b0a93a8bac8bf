# Build helpers shared by every module: warnings, sanitizers, strata_module(), strata_test().

set(STRATA_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND STRATA_WARNINGS -Wthread-safety)
endif()

# Fuzz builds instrument every library for coverage (and ASan/UBSan), not only the fuzz
# targets' own files, so libFuzzer sees inside the parsers it drives.
if(STRATA_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(STRATA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # For the few tests that UBSan's own workings rule out (see where it is used).
  add_compile_definitions(STRATA_UBSAN)
endif()

# ThreadSanitizer cannot share a build with AddressSanitizer.
if(STRATA_TSAN)
  if(STRATA_SANITIZE OR STRATA_FUZZ)
    message(FATAL_ERROR "STRATA_TSAN cannot be combined with STRATA_SANITIZE or STRATA_FUZZ")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# strata_module(NAME SOURCES a.cc b.cc DEPS strata_core ...)
# One static library per building block; DEPS is the module's allowed dependency list.
function(strata_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(strata_${name} STATIC ${ARG_SOURCES})
  target_include_directories(strata_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(strata_${name} PRIVATE ${STRATA_WARNINGS})
  target_link_libraries(strata_${name} PUBLIC ${ARG_DEPS})
endfunction()

# strata_test(NAME SOURCES a_test.cc DEPS strata_x [LABELS unit])
function(strata_test name)
  if(NOT STRATA_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
