# tether_test_suite(<name> LABELS <labels...> SOURCES <files...> LIBS <targets...>)
# One GoogleTest executable per suite, defined in the tests/ folder of the target it tests;
# every TEST becomes a ctest test with the labels. tests/support/ (eventually(), bounded
# threads, the shared test helpers) is on every suite's include path, and tether_harness
# (harness/: child processes, raw HTTP, thread counts) is linked to every suite.
find_package(GTest REQUIRED)
include(GoogleTest)

add_library(tether_test_support INTERFACE)
target_include_directories(tether_test_support INTERFACE ${PROJECT_SOURCE_DIR}/tests/support)
target_link_libraries(tether_test_support INTERFACE tether_harness)

function(tether_test_suite name)
  cmake_parse_arguments(ARG "" "" "LABELS;SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} tether::testing tether_test_support
                        GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  tether_warnings(${name})
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
