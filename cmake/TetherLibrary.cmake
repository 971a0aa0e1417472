# How every tether library is defined, installed and found again (docs/design.md, "Where
# things live" and "The package").
#
# tether_library(<name> [SOURCES <files...>] [TETHER_DEPS <names...>]
#                [PUBLIC_DEPS <targets...>] [PRIVATE_DEPS <targets...>]
#                [FIND_DEPENDENCY "<cmake code>"] [PC_REQUIRES "<pkg-config names>"]
#                [PC_REQUIRES_PRIVATE "<pkg-config names>"] [PC_LIBS_PRIVATE "<-l flags>"])
# Called from <folder>/CMakeLists.txt. Defines tether_<name> (ALIAS tether::<name>) from the
# folder's include/ and SOURCES — an INTERFACE library when there are none — and installs:
#   include/tether/...                          the folder's public headers
#   lib/libtether_<name>.{a,so.X.Y}             (SONAME libtether_<name>.so.<major>.<minor>)
#   lib/cmake/tether/tether-<name>-targets.cmake  the component's imported target
#   lib/cmake/tether/tether-<name>-deps.cmake     what it needs: tether components, then
#                                                 FIND_DEPENDENCY (run only when asked for)
#   lib/pkgconfig/tether-<name>.pc
# TETHER_DEPS are other tether components, linked PUBLIC.
function(tether_library name)
  cmake_parse_arguments(ARG "" "FIND_DEPENDENCY;PC_REQUIRES;PC_REQUIRES_PRIVATE;PC_LIBS_PRIVATE"
                        "SOURCES;TETHER_DEPS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(t tether_${name})
  set(includes $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
               $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  list(TRANSFORM ARG_TETHER_DEPS PREPEND tether_ OUTPUT_VARIABLE tether_deps)
  if(ARG_SOURCES)
    add_library(${t} ${ARG_SOURCES})
    set_target_properties(${t} PROPERTIES VERSION ${PROJECT_VERSION}
                          SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
    target_include_directories(${t} PUBLIC ${includes} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${t} PUBLIC ${tether_deps} ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
    target_compile_features(${t} PUBLIC cxx_std_20)
    tether_warnings(${t})
    set(pc_libs "-L\${libdir} -l${t}")
  else()
    add_library(${t} INTERFACE)
    target_include_directories(${t} INTERFACE ${includes})
    target_link_libraries(${t} INTERFACE ${tether_deps} ${ARG_PUBLIC_DEPS})
    target_compile_features(${t} INTERFACE cxx_std_20)
    set(pc_libs "")
  endif()
  add_library(tether::${name} ALIAS ${t})
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${name})

  set(dest ${CMAKE_INSTALL_LIBDIR}/cmake/tether)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/tether DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(TARGETS ${t} EXPORT tether-${name}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT tether-${name}-targets NAMESPACE tether:: DESTINATION ${dest})
  set(deps_file ${PROJECT_BINARY_DIR}/package/tether-${name}-deps.cmake)
  file(WRITE ${deps_file} "set(tether_${name}_requires ${ARG_TETHER_DEPS})\n"
                          "macro(tether_${name}_find_dependencies)\n${ARG_FIND_DEPENDENCY}\nendmacro()\n")
  install(FILES ${deps_file} DESTINATION ${dest})

  list(TRANSFORM ARG_TETHER_DEPS PREPEND "tether-" OUTPUT_VARIABLE pc_tether)
  string(JOIN " " pc_requires ${pc_tether} ${ARG_PC_REQUIRES})
  set(pc ${PROJECT_BINARY_DIR}/package/tether-${name}.pc)
  # Relocatable: the prefix is found from the .pc file's own place (pkg-config's pcfiledir).
  file(RELATIVE_PATH up /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
  file(WRITE ${pc} "prefix=\${pcfiledir}/${up}\n"
    "libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}\nincludedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\n\n"
    "Name: tether-${name}\nDescription: ${PROJECT_DESCRIPTION}: tether::${name}\n"
    "Version: ${PROJECT_VERSION}\nRequires: ${pc_requires}\n"
    "Requires.private: ${ARG_PC_REQUIRES_PRIVATE}\n"
    "Cflags: -I\${includedir}\nLibs: ${pc_libs}\nLibs.private: ${ARG_PC_LIBS_PRIVATE}\n")
  install(FILES ${pc} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  set_property(GLOBAL APPEND PROPERTY TETHER_COMPONENTS ${name})
endfunction()

# The package config, after every tether_library call: find_package(tether CONFIG
# COMPONENTS ...) loads core plus the components asked for (and what they need).
function(tether_install_package)
  get_property(TETHER_COMPONENTS GLOBAL PROPERTY TETHER_COMPONENTS)
  set(dest ${CMAKE_INSTALL_LIBDIR}/cmake/tether)
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tetherConfig.cmake.in
    ${PROJECT_BINARY_DIR}/package/tetherConfig.cmake INSTALL_DESTINATION ${dest})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/tetherConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/package/tetherConfig.cmake
                ${PROJECT_BINARY_DIR}/package/tetherConfigVersion.cmake DESTINATION ${dest})
endfunction()
