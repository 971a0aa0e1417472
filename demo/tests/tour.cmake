# demo-tour's tests, included by demo/tests/CMakeLists.txt:
#   demo.tour                         the guided tour, run as a test        (labels demo;tour)
#   demo.browser                      headless Chromium on /debug/contexts  (labels demo;browser)
#   demo.load                         wrk + disconnecting clients, then no context left in the
#                                     registry and no thread growth        (labels demo;load)
# Each needs tether-demo (TARGET tether-demo); the browser test needs chromium and the load
# test wrk and python3 (demo/tests/packages.txt) — each is skipped with a message when its
# tool is missing. The tour and the load test seed their own SQLite files once and reuse them.
# They read wall-clock times (with wide margins): the lock keeps them from running at the
# same time as each other (scripts/test excludes the labels tour, browser and load from
# sanitizer builds).

# The tour: exits 0 only if every scenario behaved. The first run seeds 100 000 users.
if(TARGET tether-demo-activity)  # the gRPC scenario's activity service
  set(_tour_activity --activity $<TARGET_FILE:tether-demo-activity>)
endif()
add_test(NAME demo.tour
  COMMAND tether-demo-tour --demo $<TARGET_FILE:tether-demo> ${_tour_activity} --keep-going
          --data-dir ${CMAKE_BINARY_DIR}/demo/demo-data
          --service-log ${CMAKE_CURRENT_BINARY_DIR}/tour-service.log)
set_tests_properties(demo.tour PROPERTIES LABELS "demo;tour" TIMEOUT 600
                     RESOURCE_LOCK "tether_demo_data;tether_demo_wall_clock")

# The browser test.
find_program(TETHER_CHROMIUM NAMES chromium chromium-browser)
if(TETHER_CHROMIUM)
  add_executable(tether_demo_browser_tests ${CMAKE_CURRENT_SOURCE_DIR}/browser_debug_contexts_test.cpp)
  target_link_libraries(tether_demo_browser_tests PRIVATE tether_demo_tour_harness tether::testing
                        GTest::gtest GTest::gtest_main)
  target_compile_definitions(tether_demo_browser_tests PRIVATE
    TETHER_CHROMIUM="${TETHER_CHROMIUM}"
    TETHER_DEMO_EXECUTABLE="$<TARGET_FILE:tether-demo>"
    TETHER_DEMO_TEST_WORK_DIR="${CMAKE_CURRENT_BINARY_DIR}"
    TETHER_TEST_ARTIFACTS_DIR="${CMAKE_BINARY_DIR}/test-artifacts")
  tether_warnings(tether_demo_browser_tests)
  add_dependencies(tether_demo_browser_tests tether-demo)
  # One ctest test runs the binary's tests (each starts its own service and one Chromium):
  # gtest_discover_tests would drop the second label of "demo;browser" (its PROPERTIES split
  # list values). The lock keeps it apart from the tour and the load run.
  add_test(NAME demo.browser COMMAND tether_demo_browser_tests)
  set_tests_properties(demo.browser PROPERTIES LABELS "demo;browser" TIMEOUT 400
                       RESOURCE_LOCK tether_demo_wall_clock)
else()
  message(STATUS "demo/tests: the browser test is skipped (chromium not found; "
                 "scripts/setup.sh installs it)")
endif()

# The load test: ~5 s of wrk while a second process keeps hanging up mid-request.
find_program(TETHER_WRK NAMES wrk)
find_package(Python3 COMPONENTS Interpreter)
if(TETHER_WRK AND Python3_Interpreter_FOUND)
  add_test(NAME demo.load
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/demo/load/run.py check
            --demo $<TARGET_FILE:tether-demo> --wrk ${TETHER_WRK} --duration 5
            --data-dir ${CMAKE_CURRENT_BINARY_DIR}/load-data --users 1000
            --work-dir ${CMAKE_CURRENT_BINARY_DIR}/load)
  set_tests_properties(demo.load PROPERTIES LABELS "demo;load" TIMEOUT 180
                       RESOURCE_LOCK tether_demo_wall_clock)
else()
  message(STATUS "demo/tests: the load test is skipped (wrk or python3 not found; "
                 "scripts/setup.sh installs wrk)")
endif()
