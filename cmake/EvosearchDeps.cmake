# Finds every dependency once and turns the AUTO|ON|OFF options into EVOSEARCH_HAVE_* flags.

function(evosearch_resolve option found what)
  string(TOUPPER "${${option}}" mode)
  if(mode STREQUAL "OFF")
    set(EVOSEARCH_HAVE_${what} OFF PARENT_SCOPE)
  elseif(${found})
    set(EVOSEARCH_HAVE_${what} ON PARENT_SCOPE)
  elseif(mode STREQUAL "ON")
    message(FATAL_ERROR "${option}=ON but ${what} was not found")
  else()
    set(EVOSEARCH_HAVE_${what} OFF PARENT_SCOPE)
  endif()
endfunction()

find_package(Threads REQUIRED)
# Protobuf before Torch: the torch Python package's config otherwise defines an empty
# protobuf::libprotobuf (its own copy is linked into libtorch, hidden) and ours never links.
find_package(Protobuf REQUIRED)
find_package(Torch REQUIRED)
find_package(spdlog REQUIRED)

# Header-only libraries: Debian packages here (libcli11-dev, libstb-dev), EVOSEARCH_EXTRA_INCLUDE elsewhere.
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp HINTS ${EVOSEARCH_EXTRA_INCLUDE} REQUIRED)
find_path(STB_INCLUDE_DIR stb_image_write.h HINTS ${EVOSEARCH_EXTRA_INCLUDE}/stb /usr/include/stb REQUIRED)

# CUDA comes with LibTorch: a CUDA build of LibTorch lists its CUDA libraries.
if(TORCH_CUDA_LIBRARIES)
  set(_torch_cuda TRUE)
else()
  set(_torch_cuda FALSE)
endif()
evosearch_resolve(EVOSEARCH_CUDA _torch_cuda CUDA)

set(_nccl_found FALSE)
if(EVOSEARCH_HAVE_CUDA AND NOT EVOSEARCH_NCCL STREQUAL "OFF")
  # NCCL from the system or from the torch Python package (site-packages/nvidia/nccl).
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT}/include $ENV{NCCL_ROOT}/include)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${NCCL_ROOT}/lib $ENV{NCCL_ROOT}/lib)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(_nccl_found TRUE)
  endif()
endif()
evosearch_resolve(EVOSEARCH_NCCL _nccl_found NCCL)

set(_mpi_found FALSE)
if(NOT EVOSEARCH_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  set(_mpi_found ${MPI_CXX_FOUND})
endif()
evosearch_resolve(EVOSEARCH_MPI _mpi_found MPI)

set(_redis_found FALSE)
if(NOT EVOSEARCH_REDIS STREQUAL "OFF")
  find_path(HIREDIS_INCLUDE_DIR hiredis/hiredis.h)
  find_library(HIREDIS_LIBRARY hiredis)
  if(HIREDIS_INCLUDE_DIR AND HIREDIS_LIBRARY)
    set(_redis_found TRUE)
  endif()
endif()
evosearch_resolve(EVOSEARCH_REDIS _redis_found REDIS)

# LibTorch as a clean imported target: its headers are system headers (no warnings from them),
# and its flags (the C++ ABI) apply to every target that uses it.
add_library(evosearch_torch INTERFACE)
# The torch Python package ships its own protobuf and fmt headers in its include folder; shadow
# them with the headers of the protobuf and fmt (via spdlog) that we link, placed first.
find_path(EVOSEARCH_SYSTEM_FMT_DIR fmt/core.h NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
foreach(_dir ${TORCH_INCLUDE_DIRS})
  foreach(_pair "google/protobuf|${Protobuf_INCLUDE_DIR}|google" "fmt/core.h|${EVOSEARCH_SYSTEM_FMT_DIR}|fmt")
    string(REPLACE "|" ";" _pair "${_pair}")
    list(GET _pair 0 _probe)
    list(GET _pair 1 _system)
    list(GET _pair 2 _entry)
    set(_shadow ${CMAKE_BINARY_DIR}/shadow-include)
    if(EXISTS "${_dir}/${_probe}" AND _system)
      file(MAKE_DIRECTORY ${_shadow})
      if(NOT EXISTS "${_shadow}/${_entry}")
        file(CREATE_LINK ${_system}/${_entry} ${_shadow}/${_entry} SYMBOLIC)
      endif()
      target_include_directories(evosearch_torch SYSTEM BEFORE INTERFACE ${_shadow})
      message(STATUS "evosearch: torch bundles ${_entry} headers; using ${_system}/${_entry} instead")
    endif()
  endforeach()
endforeach()
target_link_libraries(evosearch_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(evosearch_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(evosearch_torch INTERFACE ${_torch_flags})
if(EVOSEARCH_HAVE_CUDA)
  target_compile_definitions(evosearch_torch INTERFACE EVOSEARCH_WITH_CUDA=1)
endif()
