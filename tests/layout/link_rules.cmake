# The architecture's dependency rules, checked against the link graph of the build (every target's
# libraries, followed transitively). Included at configure time by the top-level CMakeLists.txt
# (a violation stops the configure) and run again by the ctest entry Layout.LinkGraph on the
# graph the configure wrote (build/link-graph.txt), so the rules and the README's architecture
# table cannot drift apart unnoticed.
#
#   evosearch_layout_check(GRAPH_FILE) -> FATAL_ERROR naming every violation.
#
# ALLOWED: the project libraries a library may reach (directly or through others).
# FORBIDDEN: patterns of outside libraries it must never reach.
cmake_policy(SET CMP0057 NEW)
set(_evosearch_layout_libraries proto common cluster jobs media report search worker coordinator)
set(_allowed_proto "")
set(_allowed_common proto)
set(_allowed_cluster common proto)
set(_allowed_jobs common proto)
set(_allowed_media common proto)
set(_allowed_report common proto)
set(_allowed_search common proto)
set(_allowed_worker common proto cluster torch)
set(_allowed_coordinator common proto cluster jobs media report search worker torch)
# Outside libraries by pattern (matched against the full name or path of every dependency).
set(_no_torch "torch|c10")
set(_no_redis "hiredis")
set(_no_media "avcodec|avformat|swscale|avutil|imagequant|FFMPEG|IMAGEQUANT")
set(_no_mpi "MPI::|libmpi|nccl")
set(_forbidden_common "${_no_torch}|${_no_redis}|${_no_media}|${_no_mpi}")
set(_forbidden_cluster "${_no_torch}|${_no_redis}|${_no_media}")
set(_forbidden_jobs "${_no_torch}|${_no_media}|${_no_mpi}")
set(_forbidden_media "${_no_torch}|${_no_redis}|${_no_mpi}")
set(_forbidden_report "${_no_torch}|${_no_redis}|${_no_media}|${_no_mpi}")
set(_forbidden_search "${_no_torch}|${_no_redis}|${_no_media}|${_no_mpi}")
set(_forbidden_worker "${_no_redis}|${_no_media}")

function(evosearch_layout_check graph_file)
  file(STRINGS "${graph_file}" lines)
  set(errors "")
  set(seen "")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "^evosearch_([a-z]+): (.*)$" m "${line}")
    if(NOT m)
      continue()
    endif()
    set(lib ${CMAKE_MATCH_1})
    set(deps "${CMAKE_MATCH_2}")
    if(NOT lib IN_LIST _evosearch_layout_libraries)
      continue()
    endif()
    list(APPEND seen ${lib})
    foreach(dep IN LISTS deps)
      if(dep MATCHES "^evosearch_([a-z_]+)$")
        if(NOT CMAKE_MATCH_1 IN_LIST _allowed_${lib})
          string(APPEND errors "\n  evosearch_${lib} reaches ${dep} (allowed: ${_allowed_${lib}})")
        endif()
      elseif(DEFINED _forbidden_${lib} AND dep MATCHES "${_forbidden_${lib}}")
        string(APPEND errors "\n  evosearch_${lib} reaches ${dep}")
      endif()
    endforeach()
  endforeach()
  foreach(lib IN LISTS _evosearch_layout_libraries)
    if(NOT lib IN_LIST seen)
      string(APPEND errors "\n  evosearch_${lib} is missing from ${graph_file}")
    endif()
  endforeach()
  if(errors)
    message(FATAL_ERROR "The layout's dependency rules (tests/layout/link_rules.cmake) are broken:${errors}")
  endif()
endfunction()

# Run as a script (ctest): cmake -DGRAPH=build/link-graph.txt -P link_rules.cmake
if(CMAKE_SCRIPT_MODE_FILE AND GRAPH)
  evosearch_layout_check("${GRAPH}")
  message(STATUS "layout: every library keeps to its dependency rules (${GRAPH})")
endif()
