# tether_doc_examples(<markdown file>)
# Extracts every ```cpp fenced block of the file as a complete program, builds it against
# tether's core layers (core, sync, propagation, registry, testing; and a module or tether::debug,
# see below) and
# registers a ctest test that runs it (label "docs"). A block preceded by a
# line "<!-- expect: TEXT -->" must also print TEXT. Blocks fenced with ```c++ (not
# ```cpp) are fragments and are not extracted — use them only for signatures.
function(tether_doc_examples md)
  get_filename_component(stem ${md} NAME_WE)
  file(READ ${md} text)
  # CMake lists split on ';' — hide every semicolon (and list brackets) while matching.
  string(REPLACE ";" "<tether-semicolon>" text "${text}")
  string(REPLACE "[" "<tether-lbracket>" text "${text}")
  string(REPLACE "]" "<tether-rbracket>" text "${text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${md})
  string(REGEX MATCHALL "(<!-- expect: [^\n]*-->\n)?```cpp\n([^`]|`[^`]|``[^`])*```" blocks "${text}")
  set(i 0)
  foreach(block IN LISTS blocks)
    math(EXPR i "${i}+1")
    set(expect "")
    if(block MATCHES "^<!-- expect: ([^\n]*) -->\n")
      set(expect "${CMAKE_MATCH_1}")
    endif()
    string(REGEX REPLACE "^(<!-- expect: [^\n]*-->\n)?```cpp\n" "" code "${block}")
    string(REGEX REPLACE "```$" "" code "${code}")
    string(REPLACE "<tether-semicolon>" ";" code "${code}")
    string(REPLACE "<tether-lbracket>" "[" code "${code}")
    string(REPLACE "<tether-rbracket>" "]" code "${code}")
    string(REPLACE "<tether-semicolon>" ";" expect "${expect}")
    set(src ${CMAKE_CURRENT_BINARY_DIR}/doc_examples/${stem}_${i}.cpp)
    file(WRITE ${src}.new "${code}")
    # Rewrite only on change, so reconfiguring does not rebuild every example.
    file(COPY_FILE ${src}.new ${src} ONLY_IF_DIFFERENT)
    set(target doc_${stem}_${i})
    string(MAKE_C_IDENTIFIER ${target} target)
    # A block that includes a module's header (<tether/grpc.hpp>) links that module, and is
    # left out when the module is not built.
    set(module "")
    # (<tether/grpc.hpp> or <tether/asio/awaitable.hpp>: the first path segment names it).
    string(REGEX MATCHALL "#include <tether/[a-z]+[./]" includes "${code}")
    foreach(include IN LISTS includes)
      string(REGEX REPLACE "#include <tether/([a-z]+)[./]" "\\1" name "${include}")
      if(EXISTS ${PROJECT_SOURCE_DIR}/modules/${name} OR name STREQUAL "debug")
        list(APPEND module tether::${name})  # tether::debug: a folder of its own, built with http
      endif()
    endforeach()
    set(missing FALSE)
    foreach(m IN LISTS module)
      if(NOT TARGET ${m})
        set(missing TRUE)
      endif()
    endforeach()
    if(missing)
      continue()
    endif()
    # gRPC is not TSan-instrumented: its examples cannot run under TSan (modules/grpc/tests says why).
    if("tether::grpc" IN_LIST module AND TETHER_SANITIZE MATCHES "thread")
      continue()
    endif()
    # The tutorials' ContextManager is example code (examples/context_manager.hpp).
    if(code MATCHES "#include \"context_manager.hpp\"")
      if(NOT TARGET tether_example_context_manager)
        continue()
      endif()
      list(APPEND module tether_example_context_manager)
    endif()
    add_executable(${target} ${src})
    target_link_libraries(${target} PRIVATE tether::core tether::sync tether::propagation
                          tether::registry tether::testing ${module})
    tether_warnings(${target})
    add_test(NAME docs.${stem}.example_${i} COMMAND ${target})
    set_tests_properties(docs.${stem}.example_${i} PROPERTIES LABELS "docs" TIMEOUT 60)
    if(expect)
      set_tests_properties(docs.${stem}.example_${i} PROPERTIES PASS_REGULAR_EXPRESSION "${expect}")
    endif()
  endforeach()
endfunction()
