# Fails when library code above the backend makes a CPU tensor itself or reads a device back
# to the host outside the edges where a read is the point (each such line says `host edge`).
# Devices come from an operand or an argument; `= Device::cpu()` as a default argument is fine.
#   cmake -DSOURCE_DIR=<repository> -P device_clean.cmake
cmake_minimum_required(VERSION 3.25)
set(folders include/cotangent/ops include/cotangent/nn include/cotangent/optim
            include/cotangent/autodiff include/cotangent/train include/cotangent/distributed
            src/ops src/nn src/optim src/autodiff src/train src/distributed)
# Files that define the edges themselves: scalars(), scalar(), at(), to(), printing, and the
# gradient checker, which compares on the host by design.
set(edges include/cotangent/ops/creation.hpp src/ops/print.cpp include/cotangent/autodiff/check.hpp)

set(findings "")
set(lines_checked 0)
foreach(folder IN LISTS folders)
  file(GLOB_RECURSE files RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/${folder}/*.hpp ${SOURCE_DIR}/${folder}/*.cpp)
  foreach(file IN LISTS files)
    if(file IN_LIST edges)
      continue()
    endif()
    # One list element per line: brackets and semicolons would confuse CMake's lists.
    file(READ ${SOURCE_DIR}/${file} text)
    string(REGEX REPLACE "[][;]" "_" text "${text}")
    string(REPLACE "\n" ";" lines "${text}")
    set(number 0)
    foreach(line IN LISTS lines)
      math(EXPR number "${number} + 1")
      math(EXPR lines_checked "${lines_checked} + 1")
      if(line MATCHES "host edge")
        continue()
      endif()
      if(line MATCHES "Device::cpu\\(\\)" AND NOT line MATCHES "= Device::cpu\\(\\)")
        list(APPEND findings "${file}:${number}: names Device::cpu(): ${line}")
      endif()
      if(line MATCHES "\\.scalars?\\(\\)|\\.read\\(|data_as<|\\.to_host\\(")
        list(APPEND findings "${file}:${number}: reads the host: ${line}")
      endif()
    endforeach()
  endforeach()
endforeach()
if(findings)
  list(JOIN findings "\n  " text)
  message(FATAL_ERROR "device-unclean library code:\n  ${text}")
endif()
message(STATUS "device-clean: ${lines_checked} lines checked")
