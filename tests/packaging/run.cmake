# tests/packaging: consumers of an installed tether. One script, one ctest test per CASE:
#   install        install the already-built tree into WORK_DIR/prefix (the fixture)
#   core_only      find_package(tether) with Boost, PostgreSQL, SQLite, gRPC, libcurl invisible
#   components     find_package(tether COMPONENTS http sqlite OPTIONAL_COMPONENTS ...)
#   plugin         a dlopen()ed shared library linking tether::core (static libraries are PIC)
#   pkg_config     plain compiler commands with pkg-config's flags (tether-core; static http+sqlite)
#   shared         tether built with BUILD_SHARED_LIBS=ON: SONAME, consumer against it
#   subdirectory   add_subdirectory(tether) in a parent project with no build type
# Each fails loudly at its first failing step.
cmake_minimum_required(VERSION 3.25)

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "packaging step failed (${rc}): ${cmd}\n${out}")
  endif()
  message("${out}")
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(here ${SOURCE_DIR}/tests/packaging)
set(cmake_args -G Ninja -DCMAKE_CXX_COMPILER=${CXX})

# consumer(<case> <source dir> <program> [configure args...]): configure, build, run.
function(consumer name dir program)
  file(REMOVE_RECURSE ${WORK_DIR}/${name})
  step(${CMAKE_COMMAND} -S ${dir} -B ${WORK_DIR}/${name} ${cmake_args} -DCMAKE_BUILD_TYPE=Release
       ${ARGN})
  step(${CMAKE_COMMAND} --build ${WORK_DIR}/${name})
  step(${WORK_DIR}/${name}/${program})
endfunction()

if(CASE STREQUAL "install")
  file(REMOVE_RECURSE ${WORK_DIR})
  step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
elseif(CASE STREQUAL "core_only")
  set(invisible "")
  foreach(p Boost PostgreSQL SQLite3 gRPC CURL Protobuf GTest)
    list(APPEND invisible -DCMAKE_DISABLE_FIND_PACKAGE_${p}=ON)
  endforeach()
  consumer(core_only ${here}/core_only consumer -DCMAKE_PREFIX_PATH=${prefix} ${invisible})
elseif(CASE STREQUAL "components")
  consumer(components ${here}/components consumer -DCMAKE_PREFIX_PATH=${prefix})
elseif(CASE STREQUAL "plugin")
  consumer(plugin ${here}/plugin host -DCMAKE_PREFIX_PATH=${prefix})
elseif(CASE STREQUAL "pkg_config")
  set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
  file(MAKE_DIRECTORY ${WORK_DIR}/pkg_config)
  set(out ${WORK_DIR}/pkg_config)
  foreach(pc core sync propagation registry sql http sqlite pg grpc curl debug)
    step(pkg-config --validate tether-${pc})
  endforeach()
  step(sh -c "${CXX} -std=c++20 ${here}/core_only/consumer.cpp $(pkg-config --cflags --libs tether-core) -o ${out}/core")
  step(${out}/core)
  step(sh -c "${CXX} -std=c++20 ${here}/components/consumer.cpp $(pkg-config --static --cflags --libs tether-http tether-sqlite) -o ${out}/components")
  step(${out}/components)
elseif(CASE STREQUAL "shared")
  set(build ${WORK_DIR}/shared/build)
  file(REMOVE_RECURSE ${WORK_DIR}/shared)
  step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${build} ${cmake_args} -DCMAKE_BUILD_TYPE=Release
       -DBUILD_SHARED_LIBS=ON
       -DTETHER_BUILD_MODULES=OFF -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_EXAMPLES=OFF
       -DTETHER_BUILD_DEMO=OFF -DTETHER_BUILD_BENCH=OFF -DTETHER_BUILD_VET=OFF)
  step(${CMAKE_COMMAND} --build ${build})
  step(${CMAKE_COMMAND} --install ${build} --prefix ${WORK_DIR}/shared/prefix)
  set(lib ${WORK_DIR}/shared/prefix/lib/libtether_core.so)
  execute_process(COMMAND objdump -p ${lib} OUTPUT_VARIABLE dyn)
  if(NOT dyn MATCHES "SONAME +libtether_core\\.so\\.0\\.1\n")
    message(FATAL_ERROR "shared: expected SONAME libtether_core.so.0.1 in ${lib}:\n${dyn}")
  endif()
  message("shared: libtether_core.so has SONAME libtether_core.so.0.1")
  consumer(shared/consumer ${here}/core_only consumer -DCMAKE_PREFIX_PATH=${WORK_DIR}/shared/prefix)
elseif(CASE STREQUAL "subdirectory")
  # No build type on purpose: the parent sets none, and tether must not set one for it.
  file(REMOVE_RECURSE ${WORK_DIR}/subdirectory)
  step(${CMAKE_COMMAND} -S ${here}/subdirectory -B ${WORK_DIR}/subdirectory ${cmake_args}
       -DTETHER_SOURCE_DIR=${SOURCE_DIR} -DTETHER_BUILD_MODULES=OFF)
  step(${CMAKE_COMMAND} --build ${WORK_DIR}/subdirectory)
  step(${WORK_DIR}/subdirectory/consumer)
else()
  message(FATAL_ERROR "run.cmake: unknown CASE '${CASE}'")
endif()
