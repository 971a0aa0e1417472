# demo-tour's tests, included by demo/tests/CMakeLists.txt:
#   demo.tour                         the guided tour, run as a test        (labels demo;tour)
#   demo.load                         wrk + disconnecting clients, then no context left in the
#                                     registry and no thread growth        (labels demo;load)
# Each needs tether-demo (TARGET tether-demo); the load test needs wrk and python3
# (demo/tests/packages.txt) and is skipped with a message when they are missing. The browser
# test of the /debug/contexts page is tether::debug's (debug/tests, debug.browser). The tour
# and the load test seed their own SQLite files once and reuse them.
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
