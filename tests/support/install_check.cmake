# Installs the built library into a scratch prefix, then configures, builds and runs a separate
# project that uses it through find_package(cotangent).
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cmake --install failed")
endif()
# The exported targets name the libraries they need, never a path of the machine that built them.
file(GLOB exported ${WORK_DIR}/prefix/lib*/cmake/cotangent/cotangentTargets*.cmake)
foreach(f IN LISTS exported)
  file(STRINGS ${f} lines REGEX "INTERFACE_LINK_LIBRARIES|INTERFACE_INCLUDE_DIRECTORIES")
  foreach(line IN LISTS lines)
    if(line MATCHES "\"/(usr|lib|opt|home|root)")
      message(FATAL_ERROR "${f} carries an absolute path of the build machine: ${line}")
    endif()
  endforeach()
endforeach()
if(NOT exported)
  message(FATAL_ERROR "no cotangentTargets*.cmake under ${WORK_DIR}/prefix")
endif()
# The consumer builds with the library's own generator and compiler (a fresh machine has Ninja
# from setup, and no make).
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/support/consumer -B ${WORK_DIR}/build
                        -G ${GENERATOR} -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}
                        -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(rc OR NOT out MATCHES "gradient 12")
  message(FATAL_ERROR "the consumer printed '${out}' (exit ${rc})")
endif()
