# Build.Parts: the optional parts this build has. Without MPI, Redis, YAML or the video-file
# libraries, whole test executables are left out of the build (nothing skips: they are not there),
# so this says which; under CI (CI=true) a part left out is a failure, since cluster/test.sh
# installs every package they need. Run by ctest: cmake -DMPI=.. -DREDIS=.. -DYAML=.. -DVIDEO=.. -P
set(missing "")
foreach(part MPI REDIS YAML VIDEO)
  if(NOT ${part})
    list(APPEND missing ${part})
  endif()
endforeach()
list(JOIN missing ", " missing)
if(NOT missing)
  message("every optional part is built: MPI, REDIS, YAML, VIDEO")
elseif("$ENV{CI}" STREQUAL "true")
  message(FATAL_ERROR "CI=true and this build left out ${missing} (and their tests): cluster/test.sh installs their packages")
else()
  message("left out of this build, with their tests: ${missing}")
endif()
